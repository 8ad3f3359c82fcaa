
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
#include <openssl/core_names.h>
#include <openssl/params.h>
#define NGX_BEDROCK_EVP_MAC  1
#endif

#include "ngx_http_bedrock_sigv4.h"
#include "ngx_http_bedrock_credentials.h"


#define NGX_BEDROCK_SHA256_LEN      32

#define ngx_bedrock_sigv4_space(c)                                           \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

#define ngx_bedrock_sigv4_is(s, lit)                                         \
    ((s)->len == sizeof(lit) - 1                                             \
     && ngx_strncmp((s)->data, lit, sizeof(lit) - 1) == 0)


/* a header or a query parameter of a request being canonicalized */
typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 value;
    ngx_uint_t                index;    /* the order it was sent in */
} ngx_bedrock_sigv4_entry_t;


static ngx_int_t ngx_bedrock_sigv4_normalize(ngx_pool_t *pool,
    ngx_str_t *path);
static ngx_int_t ngx_bedrock_sigv4_query(ngx_pool_t *pool, ngx_str_t *query,
    ngx_str_t *out);
static ngx_int_t ngx_bedrock_sigv4_headers(ngx_pool_t *pool,
    ngx_bedrock_sigv4_request_t *req, ngx_bedrock_sigv4_t *s);
static u_char *ngx_bedrock_sigv4_reencode(u_char *dst, u_char *src,
    size_t size);
static ngx_int_t ngx_bedrock_sigv4_hex(u_char c);
static int ngx_libc_cdecl ngx_bedrock_sigv4_param_cmp(const void *one,
    const void *two);
static int ngx_libc_cdecl ngx_bedrock_sigv4_header_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_bedrock_signing_key(ngx_bedrock_sigv4_t *s,
    ngx_str_t *date, u_char *out);
static ngx_int_t ngx_bedrock_sha256_hex(ngx_bedrock_sigv4_signer_t *signer,
    ngx_str_t *in, u_char *hex);
static ngx_int_t ngx_bedrock_hmac(ngx_bedrock_sigv4_signer_t *signer,
    u_char *key, size_t key_len, u_char *data, size_t len, u_char *out);
static u_char *ngx_bedrock_sigv4_value(u_char *p, ngx_str_t *v);


void
ngx_bedrock_sigv4_date(time_t t, u_char *buf)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    (void) ngx_sprintf(buf, "%4d%02d%02dT%02d%02d%02dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


static ngx_inline ngx_uint_t
ngx_bedrock_unreserved(u_char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


size_t
ngx_bedrock_uri_escape_len(u_char *src, size_t size, ngx_uint_t keep_slash)
{
    size_t  len;

    for (len = size; size; size--, src++) {
        if (!ngx_bedrock_unreserved(*src) && !(keep_slash && *src == '/')) {
            len += 2;
        }
    }

    return len;
}


u_char *
ngx_bedrock_uri_escape(u_char *dst, u_char *src, size_t size,
    ngx_uint_t keep_slash)
{
    static u_char  hex[] = "0123456789ABCDEF";

    while (size) {
        if (ngx_bedrock_unreserved(*src) || (keep_slash && *src == '/')) {
            *dst++ = *src;

        } else {
            *dst++ = '%';
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];
        }

        src++;
        size--;
    }

    return dst;
}


ngx_int_t
ngx_bedrock_sigv4_sign(ngx_pool_t *pool, ngx_bedrock_sigv4_t *s,
    ngx_str_t *authorization)
{
    size_t       len, path_len, signed_len;
    u_char      *p, *signed_headers;
    ngx_str_t    date, cr, sts;
    ngx_uint_t   i;
    u_char       hash[2 * NGX_BEDROCK_SHA256_LEN];
    u_char       key[NGX_BEDROCK_SHA256_LEN];
    u_char       sig[NGX_BEDROCK_SHA256_LEN];

    if (s->amz_date.len != NGX_BEDROCK_SIGV4_DATE_LEN
        || s->secret_key.len > NGX_BEDROCK_CREDENTIALS_SECRET_MAX)
    {
        return NGX_ERROR;
    }

    date.data = s->amz_date.data;
    date.len = 8;

    /* signed headers: "a;b;c" */

    signed_len = 0;

    for (i = 0; i < s->nheaders; i++) {
        signed_len += s->headers[i].name.len + 1;
    }

    if (signed_len == 0) {
        return NGX_ERROR;
    }

    signed_headers = ngx_pnalloc(pool, signed_len);
    if (signed_headers == NULL) {
        return NGX_ERROR;
    }

    p = signed_headers;

    for (i = 0; i < s->nheaders; i++) {
        if (i) {
            *p++ = ';';
        }

        p = ngx_cpymem(p, s->headers[i].name.data, s->headers[i].name.len);
    }

    signed_len--;

    /* canonical request */

    if (s->canonical_path) {
        path_len = s->path.len;

    } else {
        path_len = ngx_bedrock_uri_escape_len(s->path.data, s->path.len, 1);
    }

    len = s->method.len + 1 + path_len + 1
          + s->query.len + 1
          + 1 + signed_len + 1 + 2 * NGX_BEDROCK_SHA256_LEN;

    for (i = 0; i < s->nheaders; i++) {
        len += s->headers[i].name.len + 1
               + s->headers[i].value.len + 1;
    }

    cr.data = ngx_pnalloc(pool, len);
    if (cr.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(cr.data, s->method.data, s->method.len);
    *p++ = '\n';

    if (s->canonical_path) {
        p = ngx_cpymem(p, s->path.data, s->path.len);

    } else {
        p = ngx_bedrock_uri_escape(p, s->path.data, s->path.len, 1);
    }

    *p++ = '\n';

    if (s->query.len) {
        p = ngx_cpymem(p, s->query.data, s->query.len);
    }

    *p++ = '\n';

    for (i = 0; i < s->nheaders; i++) {
        p = ngx_cpymem(p, s->headers[i].name.data, s->headers[i].name.len);
        *p++ = ':';
        p = ngx_bedrock_sigv4_value(p, &s->headers[i].value);
        *p++ = '\n';
    }

    *p++ = '\n';
    p = ngx_cpymem(p, signed_headers, signed_len);
    *p++ = '\n';

    if (ngx_bedrock_sha256_hex(s->signer, &s->payload, p) != NGX_OK) {
        return NGX_ERROR;
    }

    p += 2 * NGX_BEDROCK_SHA256_LEN;
    cr.len = p - cr.data;

    s->canonical_request = cr;

    /* string to sign */

    if (ngx_bedrock_sha256_hex(s->signer, &cr, hash) != NGX_OK) {
        return NGX_ERROR;
    }

    len = sizeof("AWS4-HMAC-SHA256\n") - 1 + s->amz_date.len + 1
          + date.len + 1 + s->region.len + 1 + s->service.len
          + sizeof("/aws4_request\n") - 1 + sizeof(hash);

    sts.data = ngx_pnalloc(pool, len);
    if (sts.data == NULL) {
        return NGX_ERROR;
    }

    sts.len = ngx_sprintf(sts.data, "AWS4-HMAC-SHA256\n%V\n%V/%V/%V"
                          "/aws4_request\n", &s->amz_date, &date, &s->region,
                          &s->service)
              - sts.data;
    sts.len = ngx_cpymem(sts.data + sts.len, hash, sizeof(hash)) - sts.data;

    s->string_to_sign = sts;

    /* signing key and signature */

    if (ngx_bedrock_signing_key(s, &date, key) != NGX_OK
        || ngx_bedrock_hmac(s->signer, key, NGX_BEDROCK_SHA256_LEN, sts.data,
                            sts.len, sig)
           != NGX_OK)
    {
        ngx_explicit_memzero(key, sizeof(key));
        return NGX_ERROR;
    }

    ngx_explicit_memzero(key, sizeof(key));

    /* the Authorization header value */

    len = sizeof("AWS4-HMAC-SHA256 Credential=") - 1 + s->access_key.len
          + 1 + date.len + 1 + s->region.len + 1 + s->service.len
          + sizeof("/aws4_request, SignedHeaders=") - 1 + signed_len
          + sizeof(", Signature=") - 1 + 2 * NGX_BEDROCK_SHA256_LEN;

    authorization->data = ngx_pnalloc(pool, len);
    if (authorization->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(authorization->data,
                    "AWS4-HMAC-SHA256 Credential=%V/%V/%V/%V/aws4_request, "
                    "SignedHeaders=", &s->access_key, &date, &s->region,
                    &s->service);
    p = ngx_cpymem(p, signed_headers, signed_len);
    p = ngx_cpymem(p, ", Signature=", sizeof(", Signature=") - 1);
    p = ngx_hex_dump(p, sig, sizeof(sig));

    authorization->len = p - authorization->data;

    return NGX_OK;
}


/*
 * The canonical parts of a request as it would be sent: the method, the
 * path (normalized if asked, then URI-encoded once more unless it is S3's),
 * the sorted and re-encoded query, and the headers: names in lower case,
 * values trimmed with inner white space folded, repeated headers joined
 * with ",", sorted by name, with x-amz-date (and, as asked, the session
 * token and the payload hash) added.  s->amz_date must be set.
 */

ngx_int_t
ngx_bedrock_sigv4_canonicalize(ngx_pool_t *pool,
    ngx_bedrock_sigv4_request_t *req, ngx_bedrock_sigv4_t *s)
{
    ngx_str_t  path;

    if (s->amz_date.len != NGX_BEDROCK_SIGV4_DATE_LEN) {
        return NGX_ERROR;
    }

    s->method = req->method;
    s->payload = req->payload;

    path = req->path;

    if (path.len == 0) {
        ngx_str_set(&path, "/");
    }

    if (req->normalize && ngx_bedrock_sigv4_normalize(pool, &path) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (req->single_encode) {
        s->path = path;

    } else {
        s->path.len = ngx_bedrock_uri_escape_len(path.data, path.len, 1);

        s->path.data = ngx_pnalloc(pool, s->path.len);
        if (s->path.data == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_bedrock_uri_escape(s->path.data, path.data, path.len, 1);
    }

    s->canonical_path = 1;

    if (ngx_bedrock_sigv4_query(pool, &req->query, &s->query) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_bedrock_sigv4_headers(pool, req, s);
}


/*
 * "." and empty segments go, ".." takes the segment before it away, and a
 * trailing slash stays: "//a/./b/../c/" is "/a/c/"
 */

static ngx_int_t
ngx_bedrock_sigv4_normalize(ngx_pool_t *pool, ngx_str_t *path)
{
    size_t   len;
    u_char  *p, *last, *seg, *start, *dst;

    start = ngx_pnalloc(pool, path->len + 2);
    if (start == NULL) {
        return NGX_ERROR;
    }

    dst = start;
    *dst++ = '/';

    p = path->data;
    last = p + path->len;

    while (p < last) {
        seg = p;

        while (p < last && *p != '/') {
            p++;
        }

        len = p - seg;

        if (p < last) {
            p++;
        }

        if (len == 0 || (len == 1 && seg[0] == '.')) {
            continue;
        }

        if (len == 2 && seg[0] == '.' && seg[1] == '.') {

            while (dst > start + 1 && dst[-1] != '/') {
                dst--;
            }

            if (dst > start + 1) {
                dst--;
            }

            continue;
        }

        if (dst > start + 1) {
            *dst++ = '/';
        }

        dst = ngx_cpymem(dst, seg, len);
    }

    if (dst > start + 1 && last[-1] == '/') {
        *dst++ = '/';
    }

    path->data = start;
    path->len = dst - start;

    return NGX_OK;
}


/* "b=2&a=x y&a" is "a=&a=x%20y&b=2" */

static ngx_int_t
ngx_bedrock_sigv4_query(ngx_pool_t *pool, ngx_str_t *query, ngx_str_t *out)
{
    size_t                      len;
    u_char                     *p, *last, *amp, *eq, *buf, *dst;
    ngx_uint_t                  i, n;
    ngx_bedrock_sigv4_entry_t  *params;

    out->len = 0;
    out->data = (u_char *) "";

    if (query->len == 0) {
        return NGX_OK;
    }

    last = query->data + query->len;

    n = 1;

    for (p = query->data; p < last; p++) {
        if (*p == '&') {
            n++;
        }
    }

    params = ngx_palloc(pool, n * sizeof(ngx_bedrock_sigv4_entry_t));
    if (params == NULL) {
        return NGX_ERROR;
    }

    /* each byte becomes "%XX" at most */

    buf = ngx_pnalloc(pool, 3 * query->len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    dst = buf;
    n = 0;

    for (p = query->data; p < last; p = amp) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            amp++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        params[n].name.data = dst;
        dst = ngx_bedrock_sigv4_reencode(dst, p, eq - p);
        params[n].name.len = dst - params[n].name.data;

        params[n].value.data = dst;

        if (eq < amp) {
            dst = ngx_bedrock_sigv4_reencode(dst, eq + 1, amp - eq - 1);
        }

        params[n].value.len = dst - params[n].value.data;
        params[n].index = n;

        n++;

        if (amp < last) {
            amp++;
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    ngx_qsort(params, n, sizeof(ngx_bedrock_sigv4_entry_t),
              ngx_bedrock_sigv4_param_cmp);

    len = n - 1;

    for (i = 0; i < n; i++) {
        len += params[i].name.len + 1 + params[i].value.len;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, params[i].name.data, params[i].name.len);
        *p++ = '=';
        p = ngx_cpymem(p, params[i].value.data, params[i].value.len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_sigv4_headers(ngx_pool_t *pool, ngx_bedrock_sigv4_request_t *req,
    ngx_bedrock_sigv4_t *s)
{
    size_t                       len;
    u_char                      *p;
    ngx_str_t                   *name, *value;
    ngx_uint_t                   i, j, k, n;
    ngx_bedrock_sigv4_entry_t   *e;
    ngx_bedrock_sigv4_header_t  *h;

    e = ngx_palloc(pool, (req->nheaders + 3)
                         * sizeof(ngx_bedrock_sigv4_entry_t));
    if (e == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < req->nheaders; i++) {
        name = &req->headers[i].name;
        value = &req->headers[i].value;

        if (name->len == 0) {
            continue;
        }

        p = ngx_pnalloc(pool, name->len + value->len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(p, name->data, name->len);

        e[n].name.data = p;
        e[n].name.len = name->len;

        /* these are the signer's own, or never signed */

        if (ngx_bedrock_sigv4_is(&e[n].name, "authorization")
            || ngx_bedrock_sigv4_is(&e[n].name, "x-amz-date")
            || (req->session_token.len
                && ngx_bedrock_sigv4_is(&e[n].name, "x-amz-security-token"))
            || (req->sign_body
                && ngx_bedrock_sigv4_is(&e[n].name, "x-amz-content-sha256")))
        {
            continue;
        }

        e[n].value.data = p + name->len;
        e[n].value.len = ngx_bedrock_sigv4_value(e[n].value.data, value)
                         - e[n].value.data;
        e[n].index = n;

        n++;
    }

    ngx_str_set(&e[n].name, "x-amz-date");
    e[n].value = s->amz_date;
    e[n].index = n;
    n++;

    if (req->session_token.len && !req->omit_session_token) {
        ngx_str_set(&e[n].name, "x-amz-security-token");
        e[n].value = req->session_token;
        e[n].index = n;
        n++;
    }

    if (req->sign_body) {
        p = ngx_pnalloc(pool, 2 * NGX_BEDROCK_SHA256_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_bedrock_sha256_hex(NULL, &req->payload, p) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_str_set(&e[n].name, "x-amz-content-sha256");
        e[n].value.data = p;
        e[n].value.len = 2 * NGX_BEDROCK_SHA256_LEN;
        e[n].index = n;
        n++;
    }

    /* stable: repeated headers keep the order they were sent in */

    ngx_qsort(e, n, sizeof(ngx_bedrock_sigv4_entry_t),
              ngx_bedrock_sigv4_header_cmp);

    h = ngx_palloc(pool, n * sizeof(ngx_bedrock_sigv4_header_t));
    if (h == NULL) {
        return NGX_ERROR;
    }

    k = 0;

    for (i = 0; i < n; i = j) {
        len = e[i].value.len;

        for (j = i + 1; j < n; j++) {
            if (e[j].name.len != e[i].name.len
                || ngx_strncmp(e[j].name.data, e[i].name.data,
                               e[i].name.len)
                   != 0)
            {
                break;
            }

            len += 1 + e[j].value.len;
        }

        h[k].name = e[i].name;
        h[k].value = e[i].value;

        if (j > i + 1) {
            p = ngx_pnalloc(pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            h[k].value.data = p;
            h[k].value.len = len;

            p = ngx_cpymem(p, e[i].value.data, e[i].value.len);

            for (i++; i < j; i++) {
                *p++ = ',';
                p = ngx_cpymem(p, e[i].value.data, e[i].value.len);
            }
        }

        k++;
    }

    s->headers = h;
    s->nheaders = k;

    return NGX_OK;
}


/* decodes "%XX" escapes, and encodes everything but unreserved bytes */

static u_char *
ngx_bedrock_sigv4_reencode(u_char *dst, u_char *src, size_t size)
{
    u_char     c, *last;
    ngx_int_t  hi, lo;

    last = src + size;

    while (src < last) {
        c = *src++;

        if (c == '%' && last - src >= 2) {
            hi = ngx_bedrock_sigv4_hex(src[0]);
            lo = ngx_bedrock_sigv4_hex(src[1]);

            if (hi != NGX_ERROR && lo != NGX_ERROR) {
                c = (u_char) (hi << 4 | lo);
                src += 2;
            }
        }

        dst = ngx_bedrock_uri_escape(dst, &c, 1, 0);
    }

    return dst;
}


static ngx_int_t
ngx_bedrock_sigv4_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return NGX_ERROR;
}


static int ngx_libc_cdecl
ngx_bedrock_sigv4_param_cmp(const void *one, const void *two)
{
    ngx_int_t                   rc;
    ngx_bedrock_sigv4_entry_t  *a, *b;

    a = (ngx_bedrock_sigv4_entry_t *) one;
    b = (ngx_bedrock_sigv4_entry_t *) two;

    rc = ngx_memn2cmp(a->name.data, b->name.data, a->name.len, b->name.len);

    if (rc == 0) {
        rc = ngx_memn2cmp(a->value.data, b->value.data, a->value.len,
                          b->value.len);
    }

    if (rc == 0) {
        return 0;
    }

    return (rc < 0) ? -1 : 1;
}


static int ngx_libc_cdecl
ngx_bedrock_sigv4_header_cmp(const void *one, const void *two)
{
    ngx_int_t                   rc;
    ngx_bedrock_sigv4_entry_t  *a, *b;

    a = (ngx_bedrock_sigv4_entry_t *) one;
    b = (ngx_bedrock_sigv4_entry_t *) two;

    rc = ngx_memn2cmp(a->name.data, b->name.data, a->name.len, b->name.len);

    if (rc == 0) {
        if (a->index == b->index) {
            return 0;
        }

        return (a->index < b->index) ? -1 : 1;
    }

    return (rc < 0) ? -1 : 1;
}


static u_char *
ngx_bedrock_sigv4_value(u_char *p, ngx_str_t *v)
{
    u_char      *s, *end;
    ngx_uint_t   space;

    /* trim, and fold runs of white space into one space */

    s = v->data;
    end = v->data + v->len;

    while (s < end && ngx_bedrock_sigv4_space(*s)) {
        s++;
    }

    while (end > s && ngx_bedrock_sigv4_space(end[-1])) {
        end--;
    }

    space = 0;

    for ( /* void */ ; s < end; s++) {
        if (ngx_bedrock_sigv4_space(*s)) {
            space = 1;
            continue;
        }

        if (space) {
            *p++ = ' ';
            space = 0;
        }

        *p++ = *s;
    }

    return p;
}


/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"), or the signer's copy of it when it was derived from the
 * same secret, date, region and service
 */

static ngx_int_t
ngx_bedrock_signing_key(ngx_bedrock_sigv4_t *s, ngx_str_t *date, u_char *out)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_bedrock_sigv4_signer_t   *sg;
    u_char                        key[4 + NGX_BEDROCK_CREDENTIALS_SECRET_MAX];
    u_char                        k1[NGX_BEDROCK_SHA256_LEN];
    u_char                        k2[NGX_BEDROCK_SHA256_LEN];

    sg = s->signer;

    if (sg && sg->valid
        && ngx_memcmp(sg->date, date->data, 8) == 0
        && sg->region_len == s->region.len
        && ngx_memcmp(sg->region, s->region.data, s->region.len) == 0
        && sg->service_len == s->service.len
        && ngx_memcmp(sg->service, s->service.data, s->service.len) == 0
        && sg->secret_len == s->secret_key.len
        && ngx_memcmp(sg->secret, s->secret_key.data, s->secret_key.len) == 0)
    {
        ngx_memcpy(out, sg->key, NGX_BEDROCK_SHA256_LEN);
        return NGX_OK;
    }

    p = ngx_cpymem(key, "AWS4", 4);
    p = ngx_cpymem(p, s->secret_key.data, s->secret_key.len);

    rc = NGX_ERROR;

    if (ngx_bedrock_hmac(sg, key, p - key, date->data, date->len, k1)
        == NGX_OK
        && ngx_bedrock_hmac(sg, k1, sizeof(k1), s->region.data,
                            s->region.len, k2)
           == NGX_OK
        && ngx_bedrock_hmac(sg, k2, sizeof(k2), s->service.data,
                            s->service.len, k1)
           == NGX_OK
        && ngx_bedrock_hmac(sg, k1, sizeof(k1), (u_char *) "aws4_request",
                            sizeof("aws4_request") - 1, out)
           == NGX_OK)
    {
        rc = NGX_OK;
    }

    ngx_explicit_memzero(key, sizeof(key));
    ngx_explicit_memzero(k1, sizeof(k1));
    ngx_explicit_memzero(k2, sizeof(k2));

    if (sg == NULL || rc != NGX_OK) {
        return rc;
    }

    /* kept for the next signature, if its scope fits */

    sg->valid = 0;
    sg->derived++;

    if (s->region.len > NGX_BEDROCK_SIGV4_SCOPE_MAX
        || s->service.len > NGX_BEDROCK_SIGV4_SCOPE_MAX
        || s->secret_key.len > sizeof(sg->secret))
    {
        return NGX_OK;
    }

    ngx_explicit_memzero(sg->secret, sizeof(sg->secret));

    ngx_memcpy(sg->date, date->data, 8);
    sg->region_len = s->region.len;
    ngx_memcpy(sg->region, s->region.data, s->region.len);
    sg->service_len = s->service.len;
    ngx_memcpy(sg->service, s->service.data, s->service.len);
    sg->secret_len = s->secret_key.len;
    ngx_memcpy(sg->secret, s->secret_key.data, s->secret_key.len);
    ngx_memcpy(sg->key, out, NGX_BEDROCK_SHA256_LEN);
    sg->valid = 1;

    return NGX_OK;
}


ngx_int_t
ngx_bedrock_sigv4_signer_init(ngx_bedrock_sigv4_signer_t *signer)
{
#if (NGX_BEDROCK_EVP_MAC)
    EVP_MAC     *mac;
    OSSL_PARAM   params[2];
#endif

    ngx_memzero(signer, sizeof(ngx_bedrock_sigv4_signer_t));

    signer->md = EVP_MD_CTX_new();
    if (signer->md == NULL) {
        return NGX_ERROR;
    }

#if (NGX_BEDROCK_EVP_MAC)

    signer->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (signer->sha256 == NULL) {
        ngx_bedrock_sigv4_signer_free(signer);
        return NGX_ERROR;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        ngx_bedrock_sigv4_signer_free(signer);
        return NGX_ERROR;
    }

    signer->mac = EVP_MAC_CTX_new(mac);

    /* the context holds its own reference */
    EVP_MAC_free(mac);

    if (signer->mac == NULL) {
        ngx_bedrock_sigv4_signer_free(signer);
        return NGX_ERROR;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_CTX_set_params(signer->mac, params) != 1) {
        ngx_bedrock_sigv4_signer_free(signer);
        return NGX_ERROR;
    }

#endif

    return NGX_OK;
}


void
ngx_bedrock_sigv4_signer_free(ngx_bedrock_sigv4_signer_t *signer)
{
    if (signer->md) {
        EVP_MD_CTX_free(signer->md);
    }

#if (NGX_BEDROCK_EVP_MAC)
    if (signer->sha256) {
        EVP_MD_free(signer->sha256);
    }

    if (signer->mac) {
        EVP_MAC_CTX_free(signer->mac);
    }
#endif

    ngx_explicit_memzero(signer, sizeof(ngx_bedrock_sigv4_signer_t));
}


static ngx_int_t
ngx_bedrock_sha256_hex(ngx_bedrock_sigv4_signer_t *signer, ngx_str_t *in,
    u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  len;

    if (signer == NULL) {
        if (EVP_Digest(in->data, in->len, md, &len, EVP_sha256(), NULL)
            != 1)
        {
            return NGX_ERROR;
        }

    } else if (EVP_DigestInit_ex(signer->md,
#if (NGX_BEDROCK_EVP_MAC)
                                 signer->sha256,
#else
                                 EVP_sha256(),
#endif
                                 NULL)
               != 1
               || EVP_DigestUpdate(signer->md, in->data, in->len) != 1
               || EVP_DigestFinal_ex(signer->md, md, &len) != 1)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, md, len);

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_hmac(ngx_bedrock_sigv4_signer_t *signer, u_char *key,
    size_t key_len, u_char *data, size_t len, u_char *out)
{
    unsigned int  out_len;
#if (NGX_BEDROCK_EVP_MAC)
    size_t        mac_len;

    if (signer) {
        if (EVP_MAC_init(signer->mac, key, key_len, NULL) != 1
            || EVP_MAC_update(signer->mac, data, len) != 1
            || EVP_MAC_final(signer->mac, out, &mac_len,
                             NGX_BEDROCK_SHA256_LEN)
               != 1)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }
#endif

    if (HMAC(EVP_sha256(), key, (int) key_len, data, len, out, &out_len)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
