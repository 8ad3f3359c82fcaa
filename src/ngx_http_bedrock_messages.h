
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_MESSAGES_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_MESSAGES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_error.h"
#include "ngx_http_bedrock_converse.h"
#include "ngx_http_bedrock_eventstream.h"


/*
 * The Anthropic Messages API: for Claude models, the body Bedrock's
 * InvokeModel takes and the unwrapping of its stream; for the others, a
 * translation to Converse and back.  No HTTP request state.
 */


typedef struct {
    /* in */
    ngx_bedrock_guardrail_conf_t  guardrail;
    ngx_bedrock_converse_conf_t   conf;
    ngx_str_t                 betas;    /* the anthropic-beta header */
    ngx_array_t              *extra_betas;  /* of ngx_str_t, or NULL */
    ngx_uint_t                count;    /* a count_tokens body */

    /*
     * called with the model before any other work: NGX_OK (with claude
     * set when the model takes Anthropic's own body), NGX_DECLINED (not
     * allowed: the call returns NGX_ABORT) or NGX_ERROR
     */
    ngx_int_t               (*model_check)(void *data, ngx_str_t *model,
                                           ngx_uint_t *claude);
    void                     *data;

    /* out */
    ngx_str_t                 model;
    ngx_uint_t                claude;
    ngx_uint_t                stream;
    ngx_str_t                 body;     /* InvokeModel, Converse or
                                           CountTokens JSON */
    ngx_str_t                 dropped;  /* betas Bedrock would refuse */
} ngx_bedrock_messages_request_t;


/* the state of one stream, in either direction */
typedef struct {
    /* in */
    ngx_str_t                 model;
    ngx_str_t                 id;       /* msg_... (Converse only) */

    /* state */
    ngx_bedrock_usage_t       usage;
    ngx_str_t                 stop_reason;
    u_char                    stop_reason_data[32];
    ngx_int_t                 block;    /* Converse: the open block, -1 */
    ngx_int_t                 index;    /* Converse: its Anthropic index */
    ngx_uint_t                kind;     /* Converse: the open block's */
    unsigned                  started:1;
    unsigned                  stopped:1;  /* message_stop passed */
    unsigned                  has_usage:1;
    unsigned                  content:1;  /* the last event had content */
    unsigned                  delta_sent:1;
} ngx_bedrock_messages_stream_t;


ngx_int_t ngx_bedrock_messages_request(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_messages_request_t *req,
    ngx_bedrock_error_t *err);

ngx_int_t ngx_bedrock_messages_claude_answer(ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_usage_t *usage, ngx_str_t *stop_reason);
ngx_int_t ngx_bedrock_messages_native_usage(ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_usage_t *usage, ngx_str_t *stop_reason);
ngx_int_t ngx_bedrock_messages_count_answer(ngx_pool_t *pool,
    ngx_pool_t *temp, u_char *data, size_t len, ngx_str_t *out,
    ngx_bedrock_usage_t *usage);
ngx_int_t ngx_bedrock_messages_answer(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_messages_stream_t *st,
    ngx_str_t *out);

ngx_int_t ngx_bedrock_messages_chunk(ngx_bedrock_messages_stream_t *st,
    ngx_pool_t *scratch, ngx_bedrock_es_message_t *msg, ngx_str_t *sse,
    ngx_bedrock_error_t *err);
ngx_int_t ngx_bedrock_messages_converse_event(
    ngx_bedrock_messages_stream_t *st, ngx_bedrock_events_t *es,
    ngx_bedrock_event_t *ev, ngx_pool_t *scratch, ngx_str_t *sse);
ngx_int_t ngx_bedrock_messages_end(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_events_t *es, ngx_pool_t *scratch, ngx_str_t *sse);
ngx_int_t ngx_bedrock_messages_stream_error(ngx_pool_t *pool,
    ngx_bedrock_error_t *err, ngx_str_t *sse);

ngx_uint_t ngx_bedrock_messages_is_claude(ngx_str_t *id);
void ngx_bedrock_messages_count_model(ngx_str_t *id);


#endif /* _NGX_HTTP_BEDROCK_MESSAGES_H_INCLUDED_ */
