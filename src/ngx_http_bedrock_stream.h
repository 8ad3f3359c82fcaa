
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_STREAM_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_STREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_chat.h"
#include "ngx_http_bedrock_eventstream.h"


/*
 * ConverseStream events to OpenAI chat.completion.chunk server-sent
 * events.  The state is small and fixed; each event's work happens in a
 * scratch pool the caller resets afterwards.
 */


typedef struct {
    ngx_int_t                 block;    /* Bedrock's contentBlockIndex */
    ngx_int_t                 tool;     /* OpenAI's tool_calls index, -1 */
} ngx_bedrock_stream_block_t;


typedef struct {
    /* in */
    ngx_str_t                 model;
    ngx_str_t                 id;
    time_t                    created;
    ngx_uint_t                include_usage;

    /* state */
    ngx_array_t               blocks;   /* tool and hidden blocks */
    ngx_uint_t                tools;
    ngx_bedrock_usage_t       usage;
    ngx_str_t                 stop_reason;
    u_char                    stop_reason_data[32];

    unsigned                  started:1;  /* the role chunk was sent */
    unsigned                  stopped:1;  /* messageStop arrived */
    unsigned                  has_usage:1;
    unsigned                  content:1;  /* the last event sent content */
} ngx_bedrock_stream_t;


ngx_int_t ngx_bedrock_stream_init(ngx_bedrock_stream_t *st,
    ngx_pool_t *pool);
ngx_int_t ngx_bedrock_stream_event(ngx_bedrock_stream_t *st,
    ngx_pool_t *scratch, ngx_bedrock_es_message_t *msg, ngx_str_t *sse,
    ngx_bedrock_error_t *err);
ngx_int_t ngx_bedrock_stream_exception(ngx_pool_t *pool,
    ngx_bedrock_es_message_t *msg, ngx_bedrock_json_t *root,
    ngx_bedrock_error_t *err);
ngx_int_t ngx_bedrock_stream_error(ngx_pool_t *pool,
    ngx_bedrock_error_t *err, ngx_str_t *sse);

extern ngx_str_t  ngx_bedrock_stream_done;


#endif /* _NGX_HTTP_BEDROCK_STREAM_H_INCLUDED_ */
