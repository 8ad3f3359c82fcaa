
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_bedrock_image.h"
#include "ngx_http_bedrock_fetch.h"
#include "ngx_http_bedrock_media.h"
#include "ngx_http_bedrock_url.h"


/* the most redirects followed for one image */
#define NGX_BEDROCK_IMAGE_REDIRECTS  3

/* room for the status line and headers next to the largest body */
#define NGX_BEDROCK_IMAGE_HEADERS    16384

#define NGX_BEDROCK_IMAGE_REFUSED                                            \
    "the image URL's host is not one the gateway fetches from (a loopback, " \
    "private, link-local or reserved address)"


typedef struct {
    ngx_bedrock_images_t         *set;
    ngx_bedrock_image_url_t      *img;
    ngx_pool_t                   *pool;     /* its own; freed with the set */
    ngx_str_t                     url;      /* this hop's */
    ngx_bedrock_url_t             u;
    ngx_uint_t                    redirects;
    ngx_msec_t                    deadline;
    ngx_resolver_ctx_t           *resolving;
    ngx_bedrock_fetch_t           fetch;
    ngx_addr_t                    addr;
    ngx_sockaddr_t                sockaddr;
    u_char                        text[NGX_SOCKADDR_STRLEN];
    unsigned                      fetching:1;
} ngx_bedrock_image_fetch_t;


static void ngx_bedrock_image_go(ngx_bedrock_image_fetch_t *fe);
static void ngx_bedrock_image_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_bedrock_image_connect(ngx_bedrock_image_fetch_t *fe,
    struct sockaddr *sa, socklen_t socklen);
static void ngx_bedrock_image_fetched(ngx_bedrock_fetch_t *f);
static void ngx_bedrock_image_take(ngx_bedrock_image_fetch_t *fe,
    ngx_bedrock_fetch_t *f);
static ngx_msec_int_t ngx_bedrock_image_left(ngx_bedrock_image_fetch_t *fe);
static void ngx_bedrock_image_fail(ngx_bedrock_image_fetch_t *fe,
    ngx_int_t rc, char *error);
static void ngx_bedrock_image_ok(ngx_bedrock_image_fetch_t *fe);
static void ngx_bedrock_images_complete(ngx_bedrock_images_t *set);
static void ngx_bedrock_images_handler(ngx_event_t *ev);


ngx_int_t
ngx_bedrock_images_fetch(ngx_bedrock_images_t *set)
{
    ngx_uint_t                  i, n;
    ngx_bedrock_image_url_t    *img;
    ngx_bedrock_image_fetch_t  *fe;

    n = set->images->nelts;
    img = set->images->elts;

    fe = ngx_pcalloc(set->pool, n * sizeof(ngx_bedrock_image_fetch_t));
    if (fe == NULL) {
        return NGX_ERROR;
    }

    set->fetches = fe;
    set->rc = NGX_OK;
    set->pending = n;

    set->event.handler = ngx_bedrock_images_handler;
    set->event.data = set;
    set->event.log = set->log;

    for (i = 0; i < n; i++) {
        fe[i].pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, set->log);
        if (fe[i].pool == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n && !set->done; i++) {
        fe[i].set = set;
        fe[i].img = &img[i];
        fe[i].url = img[i].url;
        fe[i].deadline = ngx_current_msec + set->conf->timeout;

        ngx_bedrock_image_go(&fe[i]);
    }

    return NGX_OK;
}


void
ngx_bedrock_images_free(ngx_bedrock_images_t *set)
{
    ngx_uint_t                  i;
    ngx_bedrock_image_fetch_t  *fe;

    if (set->freed) {
        return;
    }

    set->freed = 1;
    set->done = 1;

    if (set->event.posted) {
        ngx_delete_posted_event(&set->event);
    }

    fe = set->fetches;

    if (fe == NULL) {
        return;
    }

    for (i = 0; i < set->images->nelts; i++) {

        if (fe[i].resolving) {
            ngx_resolve_name_done(fe[i].resolving);
            fe[i].resolving = NULL;
        }

        if (fe[i].fetching) {
            ngx_bedrock_fetch_cancel(&fe[i].fetch);
            fe[i].fetching = 0;
        }

        if (fe[i].pool) {
            ngx_destroy_pool(fe[i].pool);
            fe[i].pool = NULL;
        }
    }
}


/* one hop: the URL parsed, its host resolved unless it is an address */

static void
ngx_bedrock_image_go(ngx_bedrock_image_fetch_t *fe)
{
    char                  *msg;
    ngx_int_t              rc;
    ngx_addr_t             addr;
    ngx_msec_int_t         left;
    ngx_resolver_ctx_t    *ctx;
    ngx_bedrock_images_t  *set;

    set = fe->set;

    if (set->done) {
        return;
    }

    msg = ngx_bedrock_url_parse(&fe->url, &fe->u);

    if (msg != NULL) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED, msg);
        return;
    }

    if (fe->u.https && set->conf->ssl == NULL) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "https: image URLs are not fetched here");
        return;
    }

    left = ngx_bedrock_image_left(fe);

    if (left <= 0) {
        return;
    }

    if (fe->u.literal) {
        rc = ngx_parse_addr(fe->pool, &addr, fe->u.host.data, fe->u.host.len);

        if (rc != NGX_OK) {
            ngx_bedrock_image_fail(fe, NGX_DECLINED,
                                   "the image URL's host is not a valid IP "
                                   "address");
            return;
        }

        ngx_bedrock_image_connect(fe, addr.sockaddr, addr.socklen);
        return;
    }

    ctx = ngx_resolve_start(set->conf->resolver, NULL);

    if (ctx == NULL) {
        ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
        return;
    }

    if (ctx == NGX_NO_RESOLVER) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image URL's host could not be resolved");
        return;
    }

    ctx->name = fe->u.host;
    ctx->handler = ngx_bedrock_image_resolved;
    ctx->data = fe;
    ctx->timeout = ngx_min((ngx_msec_t) left, set->conf->resolver_timeout);

    fe->resolving = ctx;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* the resolver freed ctx */
        fe->resolving = NULL;
        ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
    }

    /* the handler may have run already */
}


static void
ngx_bedrock_image_resolved(ngx_resolver_ctx_t *ctx)
{
    char                       *kind;
    u_char                      text[NGX_SOCKADDR_STRLEN];
    size_t                      len;
    ngx_int_t                   state;
    ngx_uint_t                  i;
    ngx_sockaddr_t              sa;
    socklen_t                   socklen;
    ngx_bedrock_image_fetch_t  *fe;

    fe = ctx->data;
    state = ctx->state;
    kind = NULL;
    socklen = 0;

    if (state == NGX_OK && ctx->naddrs == 0) {
        state = NGX_RESOLVE_NXDOMAIN;
    }

    if (state == NGX_OK) {

        /* every address the name has must be one to fetch from */

        for (i = 0; i < ctx->naddrs; i++) {
            kind = ngx_bedrock_addr_refused(ctx->addrs[i].sockaddr,
                                            fe->set->conf->allow);
            if (kind) {
                len = ngx_sock_ntop(ctx->addrs[i].sockaddr,
                                    ctx->addrs[i].socklen, text,
                                    NGX_SOCKADDR_STRLEN, 0);

                ngx_log_error(NGX_LOG_WARN, fe->set->log, 0,
                              "bedrock: image not fetched: \"%V\" resolves "
                              "to %*s, a %s address", &fe->u.host, len,
                              text, kind);
                break;
            }
        }

        if (kind == NULL) {
            socklen = ctx->addrs[0].socklen;
            ngx_memcpy(&sa, ctx->addrs[0].sockaddr, socklen);
        }
    }

    ngx_resolve_name_done(ctx);
    fe->resolving = NULL;

    if (fe->set->done) {
        return;
    }

    if (state == NGX_RESOLVE_TIMEDOUT) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image was not fetched in time");
        return;
    }

    if (state != NGX_OK) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image URL's host could not be resolved");
        return;
    }

    if (kind) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED, NGX_BEDROCK_IMAGE_REFUSED);
        return;
    }

    ngx_bedrock_image_connect(fe, &sa.sockaddr, socklen);
}


/* the address checked, then the request sent there */

static void
ngx_bedrock_image_connect(ngx_bedrock_image_fetch_t *fe, struct sockaddr *sa,
    socklen_t socklen)
{
    char                  *kind;
    u_char                *p;
    size_t                 len;
    ngx_msec_int_t         left;
    ngx_bedrock_fetch_t   *f;
    ngx_bedrock_images_t  *set;

    set = fe->set;

    if (socklen > sizeof(ngx_sockaddr_t)) {
        ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
        return;
    }

    ngx_memcpy(&fe->sockaddr, sa, socklen);
    ngx_inet_set_port(&fe->sockaddr.sockaddr, fe->u.port);

    fe->addr.sockaddr = &fe->sockaddr.sockaddr;
    fe->addr.socklen = socklen;
    fe->addr.name.data = fe->text;
    fe->addr.name.len = ngx_sock_ntop(&fe->sockaddr.sockaddr, socklen,
                                      fe->text, NGX_SOCKADDR_STRLEN, 1);

    kind = ngx_bedrock_addr_refused(&fe->sockaddr.sockaddr, set->conf->allow);

    if (kind) {
        ngx_log_error(NGX_LOG_WARN, set->log, 0,
                      "bedrock: image not fetched from %V, a %s address",
                      &fe->addr.name, kind);
        ngx_bedrock_image_fail(fe, NGX_DECLINED, NGX_BEDROCK_IMAGE_REFUSED);
        return;
    }

    left = ngx_bedrock_image_left(fe);

    if (left <= 0) {
        return;
    }

    f = &fe->fetch;
    ngx_memzero(f, sizeof(ngx_bedrock_fetch_t));

    /* the host, NUL-terminated for SNI, and the request */

    f->host.len = fe->u.host.len;
    f->host.data = ngx_pnalloc(fe->pool, f->host.len + 1);

    len = sizeof("GET / HTTP/1.1" CRLF "Host: " CRLF
                 "Accept: image/png, image/jpeg, image/gif, image/webp" CRLF
                 "User-Agent: ngx_http_bedrock_module" CRLF
                 "Connection: close" CRLF CRLF) - 1
          + fe->u.target.len + fe->u.authority.len;

    f->request.data = ngx_pnalloc(fe->pool, len);

    if (f->host.data == NULL || f->request.data == NULL) {
        ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
        return;
    }

    *ngx_cpymem(f->host.data, fe->u.host.data, f->host.len) = '\0';

    p = ngx_cpymem(f->request.data, "GET ", 4);

    if (fe->u.target.len == 0 || fe->u.target.data[0] == '?') {
        *p++ = '/';
    }

    p = ngx_sprintf(p, "%V HTTP/1.1" CRLF "Host: %V" CRLF
                    "Accept: image/png, image/jpeg, image/gif, image/webp"
                    CRLF "User-Agent: ngx_http_bedrock_module" CRLF
                    "Connection: close" CRLF CRLF,
                    &fe->u.target, &fe->u.authority);

    f->request.len = p - f->request.data;

    f->pool = fe->pool;
    f->log = set->log;
    f->addr = &fe->addr;
    f->ssl = fe->u.https ? set->conf->ssl : NULL;
    f->timeout = (ngx_msec_t) left;
    f->max = set->conf->max + NGX_BEDROCK_IMAGE_HEADERS;
    f->handler = ngx_bedrock_image_fetched;
    f->data = fe;

    if (ngx_bedrock_fetch(f) != NGX_OK) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image could not be fetched: the "
                               "connection failed");
        return;
    }

    fe->fetching = 1;
}


static void
ngx_bedrock_image_fetched(ngx_bedrock_fetch_t *f)
{
    ngx_int_t                   rc;
    ngx_str_t                   url;
    ngx_bedrock_image_fetch_t  *fe;

    fe = f->data;
    fe->fetching = 0;

    if (fe->set->done) {
        return;
    }

    if (f->rc != NGX_OK) {

        if (f->too_large) {
            ngx_bedrock_image_fail(fe, NGX_DECLINED,
                                   "the image is larger than the gateway "
                                   "fetches");

        } else if (f->error && ngx_strcmp(f->error, "timed out") == 0) {
            ngx_bedrock_image_fail(fe, NGX_DECLINED,
                                   "the image was not fetched in time");

        } else {
            ngx_log_error(NGX_LOG_INFO, fe->set->log, 0,
                          "bedrock: image not fetched from %V: %s",
                          &fe->addr.name, f->error ? f->error : "error");
            ngx_bedrock_image_fail(fe, NGX_DECLINED,
                                   "the image could not be fetched: the "
                                   "connection or the TLS handshake failed, "
                                   "or the answer was not valid HTTP");
        }

        return;
    }

    switch (f->status) {

    case 301:
    case 302:
    case 303:
    case 307:
    case 308:
        if (fe->redirects == NGX_BEDROCK_IMAGE_REDIRECTS) {
            ngx_bedrock_image_fail(fe, NGX_DECLINED,
                                   "the image URL redirects too many times");
            return;
        }

        rc = ngx_bedrock_url_join(fe->pool, &fe->url, &fe->u, &f->location,
                                  &url);

        if (rc == NGX_ERROR) {
            ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
            return;
        }

        if (rc != NGX_OK) {
            ngx_bedrock_image_fail(fe, NGX_DECLINED,
                                   "the image URL redirects without a valid "
                                   "Location");
            return;
        }

        (void) ngx_pfree(fe->pool, f->buf->start);

        fe->redirects++;
        fe->url = url;

        ngx_bedrock_image_go(fe);
        return;

    case 200:
        ngx_bedrock_image_take(fe, f);
        return;

    default:
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image could not be fetched: its server "
                               "did not answer 200 OK");
        return;
    }
}


/* a 200: an image of a type Bedrock takes, whose bytes are of that type */

static void
ngx_bedrock_image_take(ngx_bedrock_image_fetch_t *fe, ngx_bedrock_fetch_t *f)
{
    char       *msg;
    u_char     *p, *last;
    ngx_str_t   type, format, data;

    if (f->content_encoding.len
        && !(f->content_encoding.len == 8
             && ngx_strncasecmp(f->content_encoding.data,
                                (u_char *) "identity", 8) == 0))
    {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image was sent with a Content-Encoding, "
                               "which the gateway does not decode");
        return;
    }

    /* "image/png; charset=..." is image/png */

    p = f->content_type.data;
    last = p + f->content_type.len;

    while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
        p++;
    }

    type.data = f->content_type.data;
    type.len = p - type.data;

    if (type.len == 0 || ngx_bedrock_image_format(&type, &format) != NGX_OK) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the URL's Content-Type is not an image type "
                               "Bedrock takes (png, jpeg, gif or webp)");
        return;
    }

    if (f->body.len == 0) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED, "the image is empty");
        return;
    }

    if (f->body.len > fe->set->conf->max) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image is larger than the gateway "
                               "fetches");
        return;
    }

    data.len = ngx_base64_encoded_length(f->body.len);
    data.data = ngx_pnalloc(fe->pool, data.len);
    if (data.data == NULL) {
        ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
        return;
    }

    ngx_encode_base64(&data, &f->body);

    (void) ngx_pfree(fe->pool, f->buf->start);

    /* the bytes must be what the Content-Type says */

    if (ngx_bedrock_image_check(&format, data.data, data.len) != NULL) {
        msg = ngx_pnalloc(fe->set->pool, sizeof("the image is not a  image, "
                                                "as its Content-Type declares")
                                         + format.len);
        if (msg == NULL) {
            ngx_bedrock_image_fail(fe, NGX_ERROR, NULL);
            return;
        }

        *ngx_sprintf((u_char *) msg, "the image is not a %V image, as its "
                     "Content-Type declares", &format) = '\0';

        ngx_bedrock_image_fail(fe, NGX_DECLINED, msg);
        return;
    }

    fe->img->format = format;
    fe->img->data = data;

    ngx_bedrock_image_ok(fe);
}


/* the time left for this image; none, and the image has failed */

static ngx_msec_int_t
ngx_bedrock_image_left(ngx_bedrock_image_fetch_t *fe)
{
    ngx_msec_int_t  left;

    left = (ngx_msec_int_t) (fe->deadline - ngx_current_msec);

    if (left <= 0) {
        ngx_bedrock_image_fail(fe, NGX_DECLINED,
                               "the image was not fetched in time");
    }

    return left;
}


/*
 * The first image refused ends the set; the others' resolutions and
 * connections are stopped by ngx_bedrock_images_free(), never from here:
 * this may run inside the resolver's loop over waiting contexts
 */

static void
ngx_bedrock_image_fail(ngx_bedrock_image_fetch_t *fe, ngx_int_t rc,
    char *error)
{
    ngx_bedrock_images_t  *set;

    set = fe->set;

    if (set->done) {
        return;
    }

    set->rc = rc;
    set->failed = fe->img;
    set->error = error;

    ngx_bedrock_images_complete(set);
}


static void
ngx_bedrock_image_ok(ngx_bedrock_image_fetch_t *fe)
{
    ngx_bedrock_images_t  *set;

    set = fe->set;

    if (set->done) {
        return;
    }

    if (--set->pending == 0) {
        ngx_bedrock_images_complete(set);
    }
}


static void
ngx_bedrock_images_complete(ngx_bedrock_images_t *set)
{
    set->done = 1;

    ngx_post_event(&set->event, &ngx_posted_events);
}


static void
ngx_bedrock_images_handler(ngx_event_t *ev)
{
    ngx_bedrock_images_t  *set = ev->data;

    set->handler(set);
}
