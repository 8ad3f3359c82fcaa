
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_FETCH_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_FETCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


/*
 * One HTTP/1.1 exchange on nginx's event loop (a peer connection, TLS when
 * asked, "Connection: close"), for fetching credentials (the metadata
 * services and STS) and the images clients link to.  It never blocks the
 * worker.
 */


typedef struct ngx_bedrock_fetch_s  ngx_bedrock_fetch_t;

typedef void (*ngx_bedrock_fetch_handler_pt)(ngx_bedrock_fetch_t *f);


struct ngx_bedrock_fetch_s {
    ngx_pool_t                   *pool;      /* the caller's, per fetch */
    ngx_log_t                    *log;

    /* in */
    ngx_addr_t                   *addr;
    ngx_str_t                     host;      /* SNI and certificate name */
    ngx_ssl_t                    *ssl;       /* NULL: plain HTTP */
    ngx_str_t                     request;
    ngx_msec_t                    timeout;   /* the whole exchange */
    size_t                        max;       /* the largest response */
    ngx_bedrock_fetch_handler_pt  handler;
    void                         *data;

    /* out */
    ngx_int_t                     rc;        /* NGX_OK or NGX_ERROR */
    const char                   *error;
    ngx_uint_t                    status;
    ngx_str_t                     body;
    ngx_str_t                     content_type;     /* empty: none */
    ngx_str_t                     content_encoding;
    ngx_str_t                     location;
    unsigned                      too_large:1;      /* over "max" */

    /* state */
    ngx_peer_connection_t         peer;
    ngx_event_t                   timer;
    ngx_buf_t                    *buf;
    u_char                       *sent;
    unsigned                      done:1;
};


ngx_int_t ngx_bedrock_fetch(ngx_bedrock_fetch_t *f);
void ngx_bedrock_fetch_cancel(ngx_bedrock_fetch_t *f);


#endif /* _NGX_HTTP_BEDROCK_FETCH_H_INCLUDED_ */
