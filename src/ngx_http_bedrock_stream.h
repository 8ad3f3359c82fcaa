
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_STREAM_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_STREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_chat.h"
#include "ngx_http_bedrock_converse.h"


/*
 * ConverseStream events, decoded by the Converse core, as OpenAI
 * chat.completion.chunk server-sent events.  Each event's work happens in
 * a scratch pool the caller resets afterwards.
 */


typedef struct {
    /* in */
    ngx_str_t                 model;
    ngx_str_t                 id;
    time_t                    created;
    ngx_uint_t                include_usage;

    /* state */
    unsigned                  started:1;  /* the role chunk was sent */
    unsigned                  content:1;  /* the last event sent content */
} ngx_bedrock_stream_t;


ngx_int_t ngx_bedrock_stream_event(ngx_bedrock_stream_t *st,
    ngx_bedrock_events_t *es, ngx_bedrock_event_t *ev, ngx_pool_t *scratch,
    ngx_str_t *sse);
ngx_int_t ngx_bedrock_stream_error(ngx_pool_t *pool,
    ngx_bedrock_error_t *err, ngx_str_t *sse);

extern ngx_str_t  ngx_bedrock_stream_done;


#endif /* _NGX_HTTP_BEDROCK_STREAM_H_INCLUDED_ */
