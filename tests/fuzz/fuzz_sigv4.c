
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_sigv4.h"


/*
 * SigV4 canonicalization and signing of a request built from the input:
 * byte 0 holds the flags (normalize, single_encode, sign_body,
 * omit_session_token, a session token), then lines: the method, the
 * target (path?query), "name:value" headers up to an empty line, and the
 * payload.  The canonical parts must be canonical, and canonicalizing
 * them again must change nothing.
 */


#define NGX_FUZZ_SIGV4_HEADERS  64

#define ngx_fuzz_sigv4_equal(a, b)                                           \
    ((a)->len == (b)->len                                                    \
     && ((a)->len == 0 || ngx_memcmp((a)->data, (b)->data, (a)->len) == 0))


static void ngx_fuzz_sigv4_check(ngx_pool_t *pool, ngx_bedrock_sigv4_t *s,
    ngx_bedrock_sigv4_request_t *req);
static ngx_uint_t ngx_fuzz_sigv4_encoded(ngx_str_t *s, char *also);
static u_char *ngx_fuzz_sigv4_line(u_char **pos, u_char *last, size_t *len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                        len;
    u_char                       *pos, *last, *line, *p, *copy;
    ngx_str_t                     auth;
    ngx_pool_t                   *pool;
    ngx_bedrock_sigv4_t           s;
    ngx_bedrock_sigv4_request_t   req;
    ngx_bedrock_sigv4_header_t    headers[NGX_FUZZ_SIGV4_HEADERS];

    if (size < 1) {
        return 0;
    }

    pool = ngx_fuzz_pool();

    /* the bytes in a buffer of their own size */

    copy = ngx_pnalloc(pool, size);
    if (copy == NULL) {
        ngx_fuzz_abort("ngx_pnalloc() failed");
    }

    ngx_memcpy(copy, data, size);

    ngx_memzero(&req, sizeof(ngx_bedrock_sigv4_request_t));

    req.normalize = (copy[0] & 1) ? 1 : 0;
    req.single_encode = (copy[0] & 2) ? 1 : 0;
    req.sign_body = (copy[0] & 4) ? 1 : 0;
    req.omit_session_token = (copy[0] & 8) ? 1 : 0;

    if (copy[0] & 16) {
        ngx_str_set(&req.session_token, "FwoGZXIvYXdzEB4aDA+/token==");
    }

    pos = copy + 1;
    last = copy + size;

    line = ngx_fuzz_sigv4_line(&pos, last, &len);

    if (line == NULL || len == 0) {
        ngx_str_set(&req.method, "GET");

    } else {
        req.method.data = line;
        req.method.len = len;
    }

    line = ngx_fuzz_sigv4_line(&pos, last, &len);
    p = line ? ngx_strlchr(line, line + len, '?') : NULL;

    req.path.data = line;
    req.path.len = p ? (size_t) (p - line) : len;

    if (p) {
        req.query.data = p + 1;
        req.query.len = line + len - (p + 1);
    }

    req.headers = headers;

    while (req.nheaders < NGX_FUZZ_SIGV4_HEADERS) {
        line = ngx_fuzz_sigv4_line(&pos, last, &len);

        if (line == NULL || len == 0) {
            break;
        }

        p = ngx_strlchr(line, line + len, ':');

        headers[req.nheaders].name.data = line;
        headers[req.nheaders].name.len = p ? (size_t) (p - line) : len;
        headers[req.nheaders].value.data = p ? p + 1 : line + len;
        headers[req.nheaders].value.len = p ? (size_t) (line + len - p - 1)
                                            : 0;
        req.nheaders++;
    }

    req.payload.data = pos;
    req.payload.len = last - pos;

    ngx_memzero(&s, sizeof(ngx_bedrock_sigv4_t));

    ngx_str_set(&s.region, "us-east-1");
    ngx_str_set(&s.service, "bedrock");
    ngx_str_set(&s.amz_date, "20150830T123600Z");
    ngx_str_set(&s.access_key, "AKIDEXAMPLE");
    ngx_str_set(&s.secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");

    if (ngx_bedrock_sigv4_canonicalize(pool, &req, &s) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_sigv4_canonicalize() failed");
    }

    if (ngx_bedrock_sigv4_sign(pool, &s, &auth) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_sigv4_sign() failed");
    }

    ngx_fuzz_sigv4_check(pool, &s, &req);

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_sigv4_check(ngx_pool_t *pool, ngx_bedrock_sigv4_t *s,
    ngx_bedrock_sigv4_request_t *req)
{
    size_t                        i, j;
    u_char                        c;
    ngx_str_t                    *v;
    ngx_bedrock_sigv4_t           again;
    ngx_bedrock_sigv4_request_t   r;

    /* a path is never empty, and starts with "/" once normalized */

    if (s->path.len == 0
        || (req->normalize && s->path.data[0] != '/')
        || (!req->single_encode && !ngx_fuzz_sigv4_encoded(&s->path, "/")))
    {
        ngx_fuzz_fail("the canonical path", &s->path);
    }

    if (!ngx_fuzz_sigv4_encoded(&s->query, "=&")) {
        ngx_fuzz_fail("the canonical query", &s->query);
    }

    for (i = 0; i < s->nheaders; i++) {

        if (i && ngx_memn2cmp(s->headers[i - 1].name.data,
                              s->headers[i].name.data,
                              s->headers[i - 1].name.len,
                              s->headers[i].name.len)
                 >= 0)
        {
            ngx_fuzz_fail("the header order", &s->headers[i].name);
        }

        for (j = 0; j < s->headers[i].name.len; j++) {
            c = s->headers[i].name.data[j];

            if (c >= 'A' && c <= 'Z') {
                ngx_fuzz_fail("a header name", &s->headers[i].name);
            }
        }

        v = &s->headers[i].value;

        for (j = 0; j < v->len; j++) {
            c = v->data[j];

            if (c == '\t' || c == '\r' || c == '\n'
                || (c == ' ' && (j == 0 || j == v->len - 1
                                 || v->data[j + 1] == ' ')))
            {
                ngx_fuzz_fail("a header value", v);
            }
        }
    }

    /* canonical parts are a fixed point */

    ngx_memzero(&r, sizeof(ngx_bedrock_sigv4_request_t));
    ngx_memzero(&again, sizeof(ngx_bedrock_sigv4_t));

    r.method = s->method;
    r.path = s->path;
    r.query = s->query;
    r.normalize = req->normalize;
    r.single_encode = 1;

    again.amz_date = s->amz_date;

    if (ngx_bedrock_sigv4_canonicalize(pool, &r, &again) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_sigv4_canonicalize() failed again");
    }

    if (!ngx_fuzz_sigv4_equal(&again.query, &s->query)) {
        ngx_fuzz_fail("the canonical query, canonicalized again",
                      &again.query);
    }

    if (req->normalize && !req->single_encode
        && !ngx_fuzz_sigv4_equal(&again.path, &s->path))
    {
        ngx_fuzz_fail("the canonical path, normalized again", &again.path);
    }
}


/* unreserved bytes, "%XX" with upper case hex, and the bytes in "also" */

static ngx_uint_t
ngx_fuzz_sigv4_encoded(ngx_str_t *s, char *also)
{
    size_t   i, j;
    u_char   c;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || (c != '\0' && ngx_strchr(also, c) != NULL))
        {
            continue;
        }

        if (c != '%' || s->len - i < 3) {
            return 0;
        }

        for (j = i + 1; j < i + 3; j++) {
            c = s->data[j];

            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
                return 0;
            }
        }

        i += 2;
    }

    return 1;
}


/* the next "\n"-ended line; NULL at the end */

static u_char *
ngx_fuzz_sigv4_line(u_char **pos, u_char *last, size_t *len)
{
    u_char  *p, *nl;

    p = *pos;

    if (p >= last) {
        *len = 0;
        return NULL;
    }

    nl = ngx_strlchr(p, last, '\n');

    *len = (nl ? nl : last) - p;
    *pos = nl ? nl + 1 : last;

    return p;
}
