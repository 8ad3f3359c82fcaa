
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_RESPONSES_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_RESPONSES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_error.h"
#include "ngx_http_bedrock_converse.h"


/*
 * The OpenAI Responses API over Converse, stateless: a request's input
 * items to a Converse request, a Converse answer to a response object,
 * and ConverseStream events to the Responses stream events.  No HTTP
 * request state.
 */


typedef struct {
    /* in */
    ngx_bedrock_guardrail_conf_t  guardrail;
    ngx_bedrock_converse_conf_t   conf;

    /*
     * called with the model before any other work: NGX_OK with the
     * Bedrock model id and whether it is a Claude model, NGX_DECLINED
     * (not allowed: the call returns NGX_ABORT) or NGX_ERROR
     */
    ngx_int_t               (*model_check)(void *data, ngx_str_t *model,
                                           ngx_str_t *id, ngx_uint_t *claude);
    void                     *data;

    /* out */
    ngx_str_t                 model;
    ngx_uint_t                stream;
    ngx_str_t                 body;     /* Converse request JSON */
    ngx_array_t              *images;   /* to fetch into the body, of
                                           ngx_bedrock_image_url_t; NULL:
                                           none */
} ngx_bedrock_responses_request_t;


typedef enum {
    NGX_BEDROCK_ITEM_NONE = 0,
    NGX_BEDROCK_ITEM_MESSAGE,
    NGX_BEDROCK_ITEM_CALL,
    NGX_BEDROCK_ITEM_REASONING
} ngx_bedrock_item_kind_e;


/* an output item */
typedef struct {
    ngx_bedrock_item_kind_e   kind;
    ngx_str_t                 id;       /* msg_, fc_, rs_ */
    ngx_str_t                 text;     /* text, arguments, summary */
    ngx_str_t                 call_id;
    ngx_str_t                 name;
    ngx_str_t                 encrypted;  /* a reasoning's signature */
} ngx_bedrock_item_t;


/* a response, in a plain answer or across a stream */
typedef struct {
    /* in */
    ngx_str_t                 model;
    ngx_str_t                 id;       /* resp_... */
    time_t                    created;
    ngx_pool_t               *pool;     /* what the stream keeps */

    /* state */
    ngx_array_t               items;    /* of ngx_bedrock_item_t, done */
    ngx_bedrock_item_t        item;     /* the open one */
    ngx_array_t               text;     /* of u_char: its text so far */
    ngx_array_t               signature;  /* of u_char */
    ngx_int_t                 block;    /* its contentBlockIndex */
    ngx_uint_t                seq;      /* the next sequence_number */
    ngx_uint_t                nitems;   /* items opened */

    unsigned                  started:1;  /* response.created sent */
    unsigned                  finished:1; /* the last event sent */
    unsigned                  content:1;  /* the last event had content */
} ngx_bedrock_responses_stream_t;


ngx_int_t ngx_bedrock_responses_request(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_responses_request_t *req,
    ngx_bedrock_error_t *err);

ngx_int_t ngx_bedrock_responses_init(ngx_bedrock_responses_stream_t *st,
    ngx_pool_t *pool);
ngx_int_t ngx_bedrock_responses_answer(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_responses_stream_t *st,
    ngx_str_t *out, ngx_str_t *stop_reason, ngx_bedrock_usage_t *usage);

ngx_int_t ngx_bedrock_responses_event(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_events_t *es, ngx_bedrock_event_t *ev, ngx_pool_t *scratch,
    ngx_str_t *sse);
ngx_int_t ngx_bedrock_responses_end(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_events_t *es, ngx_pool_t *scratch, ngx_str_t *sse);
ngx_int_t ngx_bedrock_responses_stream_error(
    ngx_bedrock_responses_stream_t *st, ngx_pool_t *scratch,
    ngx_bedrock_error_t *err, ngx_str_t *sse);


#endif /* _NGX_HTTP_BEDROCK_RESPONSES_H_INCLUDED_ */
