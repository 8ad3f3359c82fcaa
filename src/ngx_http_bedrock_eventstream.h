
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_EVENTSTREAM_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_EVENTSTREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A resumable decoder of application/vnd.amazon.eventstream: input may be
 * split at any byte and several messages may arrive at once.  The partial
 * message lives in a buffer the decoder owns, grown up to "max" and then
 * reused, so memory does not depend on the length of the stream.
 */


#define NGX_BEDROCK_ES_PRELUDE_LEN  12
#define NGX_BEDROCK_ES_MIN_LEN      16


typedef struct {
    ngx_str_t                 message_type;   /* :message-type */
    ngx_str_t                 event_type;     /* :event-type */
    ngx_str_t                 exception_type; /* :exception-type */
    ngx_str_t                 error_code;     /* :error-code */
    ngx_str_t                 error_message;  /* :error-message */
    ngx_str_t                 payload;
} ngx_bedrock_es_message_t;


typedef struct {
    ngx_pool_t               *pool;
    size_t                    max;      /* the largest message accepted */

    u_char                   *buf;      /* the message being assembled */
    size_t                    size;     /* allocated */
    size_t                    have;     /* bytes of the message so far */
    uint32_t                  total;    /* 0 until the prelude is checked */
    uint32_t                  headers_len;

    const char               *error;
} ngx_bedrock_es_decoder_t;


ngx_int_t ngx_bedrock_es_decode(ngx_bedrock_es_decoder_t *d, u_char **pos,
    u_char *last, ngx_bedrock_es_message_t *msg);


#endif /* _NGX_HTTP_BEDROCK_EVENTSTREAM_H_INCLUDED_ */
