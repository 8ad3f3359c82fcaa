
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_bedrock_fetch.h"


static void ngx_bedrock_fetch_write_handler(ngx_event_t *wev);
static void ngx_bedrock_fetch_read_handler(ngx_event_t *rev);
static void ngx_bedrock_fetch_timeout_handler(ngx_event_t *ev);
#if (NGX_SSL)
static void ngx_bedrock_fetch_ssl_handshake(ngx_connection_t *c);
#endif
static void ngx_bedrock_fetch_send(ngx_bedrock_fetch_t *f);
static ngx_int_t ngx_bedrock_fetch_parse(ngx_bedrock_fetch_t *f);
static void ngx_bedrock_fetch_header(u_char *p, u_char *eol, char *name,
    ngx_str_t *value);
static ngx_int_t ngx_bedrock_fetch_dechunk(ngx_str_t *body);
static void ngx_bedrock_fetch_done(ngx_bedrock_fetch_t *f, const char *error);
static void ngx_bedrock_fetch_close(ngx_bedrock_fetch_t *f);


/*
 * Starts the exchange; f->handler is called later, never from here.
 * Returns NGX_ERROR (with f->error) when it cannot start.
 */

ngx_int_t
ngx_bedrock_fetch(ngx_bedrock_fetch_t *f)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    f->buf = ngx_create_temp_buf(f->pool, f->max);
    if (f->buf == NULL) {
        f->error = "out of memory";
        return NGX_ERROR;
    }

    f->sent = f->request.data;
    f->done = 0;
    f->rc = NGX_ERROR;
    f->status = 0;
    f->too_large = 0;
    ngx_str_null(&f->body);
    ngx_str_null(&f->content_type);
    ngx_str_null(&f->content_encoding);
    ngx_str_null(&f->location);

    ngx_memzero(&f->peer, sizeof(ngx_peer_connection_t));

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, f->log, 0,
                   "bedrock fetch: connecting to %V for \"%V\"",
                   &f->addr->name, &f->host);

    f->peer.sockaddr = f->addr->sockaddr;
    f->peer.socklen = f->addr->socklen;
    f->peer.name = &f->addr->name;
    f->peer.get = ngx_event_get_peer;
    f->peer.log = f->log;
    f->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&f->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        f->error = "connect() failed";

        if (f->peer.connection) {
            ngx_close_connection(f->peer.connection);
            f->peer.connection = NULL;
        }

        return NGX_ERROR;
    }

    c = f->peer.connection;

    c->data = f;
    c->pool = f->pool;
    c->log = f->log;
    c->read->log = f->log;
    c->write->log = f->log;

    c->read->handler = ngx_bedrock_fetch_read_handler;
    c->write->handler = ngx_bedrock_fetch_write_handler;

    ngx_memzero(&f->timer, sizeof(ngx_event_t));

    f->timer.handler = ngx_bedrock_fetch_timeout_handler;
    f->timer.data = f;
    f->timer.log = f->log;
    f->timer.cancelable = 1;

    ngx_add_timer(&f->timer, f->timeout);

    if (rc == NGX_OK) {
        /* connected at once: carry on from the event loop */
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


void
ngx_bedrock_fetch_cancel(ngx_bedrock_fetch_t *f)
{
    if (!f->done) {
        f->done = 1;
        ngx_bedrock_fetch_close(f);
    }
}


static void
ngx_bedrock_fetch_write_handler(ngx_event_t *wev)
{
    ngx_connection_t     *c;
    ngx_bedrock_fetch_t  *f;

    c = wev->data;
    f = c->data;

    if (f->done) {
        return;
    }

#if (NGX_SSL)

    if (f->ssl && c->ssl == NULL) {

        if (ngx_ssl_create_connection(f->ssl, c,
                                      NGX_SSL_BUFFER|NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_bedrock_fetch_done(f, "TLS setup failed");
            return;
        }

#ifdef SSL_CTRL_SET_TLSEXT_HOSTNAME
        if (SSL_set_tlsext_host_name(c->ssl->connection,
                                     (char *) f->host.data)
            == 0)
        {
            ngx_bedrock_fetch_done(f, "TLS setup failed");
            return;
        }
#endif

        if (ngx_ssl_handshake(c) == NGX_AGAIN) {
            c->ssl->handler = ngx_bedrock_fetch_ssl_handshake;
            return;
        }

        ngx_bedrock_fetch_ssl_handshake(c);
        return;
    }

#endif

    ngx_bedrock_fetch_send(f);
}


#if (NGX_SSL)

static void
ngx_bedrock_fetch_ssl_handshake(ngx_connection_t *c)
{
    long                  rc;
    ngx_bedrock_fetch_t  *f;

    f = c->data;

    if (f->done) {
        return;
    }

    if (!c->ssl->handshaked) {
        ngx_bedrock_fetch_done(f, "TLS handshake failed");
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "bedrock: certificate verify error from \"%V\": "
                      "(%l:%s)", &f->host, rc,
                      X509_verify_cert_error_string(rc));
        ngx_bedrock_fetch_done(f, "certificate verify error");
        return;
    }

    if (ngx_ssl_check_host(c, &f->host) != NGX_OK) {
        ngx_bedrock_fetch_done(f, "certificate does not match the host");
        return;
    }

    c->read->handler = ngx_bedrock_fetch_read_handler;
    c->write->handler = ngx_bedrock_fetch_write_handler;

    ngx_bedrock_fetch_send(f);
}

#endif


static void
ngx_bedrock_fetch_send(ngx_bedrock_fetch_t *f)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = f->peer.connection;

    while (f->sent < f->request.data + f->request.len) {

        n = c->send(c, f->sent, f->request.data + f->request.len - f->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_bedrock_fetch_done(f, "send() failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_bedrock_fetch_done(f, "send() failed");
            return;
        }

        f->sent += n;
    }

    /* the request is out: the answer may be there already */

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, f->log, 0,
                   "bedrock fetch: request sent, %uz bytes", f->request.len);

    ngx_bedrock_fetch_read_handler(c->read);
}


static void
ngx_bedrock_fetch_read_handler(ngx_event_t *rev)
{
    ssize_t               n;
    ngx_buf_t            *b;
    ngx_connection_t     *c;
    ngx_bedrock_fetch_t  *f;

    c = rev->data;
    f = c->data;

    if (f->done || f->sent < f->request.data + f->request.len) {
        return;
    }

    b = f->buf;

    for ( ;; ) {

        if (b->last == b->end) {
            f->too_large = 1;
            ngx_bedrock_fetch_done(f, "response too large");
            return;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_bedrock_fetch_done(f, "recv() failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_bedrock_fetch_done(f, "recv() failed");
            return;
        }

        if (n == 0) {
            break;
        }

        b->last += n;
    }

    if (ngx_bedrock_fetch_parse(f) != NGX_OK) {
        ngx_bedrock_fetch_done(f, "invalid HTTP response");
        return;
    }

    f->rc = NGX_OK;
    ngx_bedrock_fetch_done(f, NULL);
}


static void
ngx_bedrock_fetch_timeout_handler(ngx_event_t *ev)
{
    ngx_bedrock_fetch_done(ev->data, "timed out");
}


/* status line, headers (the framing and a few others), body */

static ngx_int_t
ngx_bedrock_fetch_parse(ngx_bedrock_fetch_t *f)
{
    u_char      *p, *last, *eol, *body;
    off_t        length;
    ngx_uint_t   chunked;

    p = f->buf->pos;
    last = f->buf->last;

    if (last - p < 12 || ngx_strncmp(p, "HTTP/1.", 7) != 0
        || p[9] < '1' || p[9] > '5')
    {
        return NGX_ERROR;
    }

    f->status = ngx_atoi(p + 9, 3);

    if (f->status == (ngx_uint_t) NGX_ERROR) {
        return NGX_ERROR;
    }

    body = ngx_strlcasestrn(p, last, (u_char *) "\r\n\r\n", 4 - 1);
    if (body == NULL) {
        return NGX_ERROR;
    }

    length = -1;
    chunked = 0;

    for (p = ngx_strlchr(p, body, LF); p && p < body; p = eol) {
        p++;
        eol = ngx_strlchr(p, body + 2, LF);

        if (eol == NULL) {
            break;
        }

        if (eol - p > 15
            && ngx_strncasecmp(p, (u_char *) "content-length:", 15) == 0)
        {
            for (p += 15; *p == ' '; p++) { /* void */ }

            length = ngx_atoof(p, eol - p - 1);

        } else if (eol - p > 18
                   && ngx_strncasecmp(p, (u_char *) "transfer-encoding:", 18)
                      == 0
                   && ngx_strlcasestrn(p, eol, (u_char *) "chunked", 7 - 1))
        {
            chunked = 1;

        } else {
            ngx_bedrock_fetch_header(p, eol, "content-type:",
                                     &f->content_type);
            ngx_bedrock_fetch_header(p, eol, "content-encoding:",
                                     &f->content_encoding);
            ngx_bedrock_fetch_header(p, eol, "location:", &f->location);
        }
    }

    body += 4;

    f->body.data = body;
    f->body.len = last - body;

    if (chunked) {
        return ngx_bedrock_fetch_dechunk(&f->body);
    }

    if (length >= 0) {
        if ((off_t) f->body.len < length) {
            return NGX_ERROR;
        }

        f->body.len = (size_t) length;
    }

    return NGX_OK;
}


/* "name:" at p, a line that ends at eol (its LF): the value, trimmed */

static void
ngx_bedrock_fetch_header(u_char *p, u_char *eol, char *name,
    ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if ((size_t) (eol - p) <= len
        || ngx_strncasecmp(p, (u_char *) name, len) != 0)
    {
        return;
    }

    for (p += len; p < eol && (*p == ' ' || *p == '\t'); p++) { /* void */ }

    while (eol > p && (eol[-1] == '\r' || eol[-1] == ' ' || eol[-1] == '\t'))
    {
        eol--;
    }

    value->data = p;
    value->len = eol - p;
}


/* a whole chunked body, decoded in place */

static ngx_int_t
ngx_bedrock_fetch_dechunk(ngx_str_t *body)
{
    u_char  *p, *last, *dst;
    size_t   size;

    p = body->data;
    last = body->data + body->len;
    dst = p;

    for ( ;; ) {
        size = 0;

        while (p < last && ((*p >= '0' && *p <= '9')
                            || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')))
        {
            if (size > 0xffffff) {
                return NGX_ERROR;
            }

            size = size * 16 + ((*p <= '9') ? (size_t) (*p - '0')
                                : (size_t) ((*p | 0x20) - 'a' + 10));
            p++;
        }

        p = ngx_strlchr(p, last, LF);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p++;

        if (size == 0) {
            break;
        }

        if ((size_t) (last - p) < size + 2) {
            return NGX_ERROR;
        }

        dst = ngx_movemem(dst, p, size);
        p += size + 2;
    }

    body->len = dst - body->data;

    return NGX_OK;
}


static void
ngx_bedrock_fetch_done(ngx_bedrock_fetch_t *f, const char *error)
{
    if (f->done) {
        return;
    }

    f->done = 1;
    f->error = error;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, f->log, 0,
                   "bedrock fetch: done, status %ui, %uz bytes, %s",
                   f->status, f->body.len, error ? error : "no error");

    ngx_bedrock_fetch_close(f);

    f->handler(f);
}


static void
ngx_bedrock_fetch_close(ngx_bedrock_fetch_t *f)
{
    ngx_connection_t  *c;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    c = f->peer.connection;

    if (c == NULL) {
        return;
    }

    f->peer.connection = NULL;

#if (NGX_SSL)
    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }
#endif

    ngx_close_connection(c);
}
