
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_bedrock_sigv4.h"
#include "ngx_http_bedrock_credentials.h"


#define NGX_BEDROCK_SHA256_LEN      32


static ngx_int_t ngx_bedrock_sha256_hex(ngx_str_t *in, u_char *hex);
static ngx_int_t ngx_bedrock_hmac(u_char *key, size_t key_len, u_char *data,
    size_t len, u_char *out);
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
    size_t       len, signed_len;
    u_char      *p, *signed_headers;
    ngx_str_t    date, cr, sts;
    ngx_uint_t   i;
    u_char       hash[2 * NGX_BEDROCK_SHA256_LEN];
    u_char       key[4 + NGX_BEDROCK_CREDENTIALS_SECRET_MAX];
    u_char       k1[NGX_BEDROCK_SHA256_LEN], k2[NGX_BEDROCK_SHA256_LEN];
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

    len = s->method.len + 1
          + ngx_bedrock_uri_escape_len(s->path.data, s->path.len, 1) + 1
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
    p = ngx_bedrock_uri_escape(p, s->path.data, s->path.len, 1);
    *p++ = '\n';
    p = ngx_cpymem(p, s->query.data, s->query.len);
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

    if (ngx_bedrock_sha256_hex(&s->payload, p) != NGX_OK) {
        return NGX_ERROR;
    }

    p += 2 * NGX_BEDROCK_SHA256_LEN;
    cr.len = p - cr.data;

    s->canonical_request = cr;

    /* string to sign */

    if (ngx_bedrock_sha256_hex(&cr, hash) != NGX_OK) {
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

    p = ngx_cpymem(key, "AWS4", 4);
    p = ngx_cpymem(p, s->secret_key.data, s->secret_key.len);

    if (ngx_bedrock_hmac(key, p - key, date.data, date.len, k1) != NGX_OK
        || ngx_bedrock_hmac(k1, sizeof(k1), s->region.data, s->region.len,
                            k2)
           != NGX_OK
        || ngx_bedrock_hmac(k2, sizeof(k2), s->service.data, s->service.len,
                            k1)
           != NGX_OK
        || ngx_bedrock_hmac(k1, sizeof(k1), (u_char *) "aws4_request",
                            sizeof("aws4_request") - 1, k2)
           != NGX_OK
        || ngx_bedrock_hmac(k2, sizeof(k2), sts.data, sts.len, sig)
           != NGX_OK)
    {
        ngx_explicit_memzero(key, sizeof(key));
        ngx_explicit_memzero(k1, sizeof(k1));
        ngx_explicit_memzero(k2, sizeof(k2));
        return NGX_ERROR;
    }

    ngx_explicit_memzero(key, sizeof(key));
    ngx_explicit_memzero(k1, sizeof(k1));
    ngx_explicit_memzero(k2, sizeof(k2));

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


static u_char *
ngx_bedrock_sigv4_value(u_char *p, ngx_str_t *v)
{
    u_char      *s, *end;
    ngx_uint_t   space;

    /* trim, and fold runs of white space into one space */

    s = v->data;
    end = v->data + v->len;

    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }

    while (end > s && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    space = 0;

    for ( /* void */ ; s < end; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
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


static ngx_int_t
ngx_bedrock_sha256_hex(ngx_str_t *in, u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  len;

    if (EVP_Digest(in->data, in->len, md, &len, EVP_sha256(), NULL) != 1) {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, md, len);

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_hmac(u_char *key, size_t key_len, u_char *data, size_t len,
    u_char *out)
{
    unsigned int  out_len;

    if (HMAC(EVP_sha256(), key, (int) key_len, data, len, out, &out_len)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
