
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_SIGV4_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_SIGV4_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * AWS Signature Version 4 (header signing).  Pure functions of their
 * arguments: no request state, no clock (the caller passes the time).
 */


#define NGX_BEDROCK_SIGV4_DATE_LEN  16   /* YYYYMMDD'T'HHMMSS'Z' */


typedef struct {
    ngx_str_t                 name;     /* lower case */
    ngx_str_t                 value;
} ngx_bedrock_sigv4_header_t;


/*
 * A worker's signing state, kept by the caller from one signature to the
 * next: SHA-256 and HMAC fetched once with their contexts (OpenSSL 3's
 * one-shot calls fetch them again each time, under a lock), and the last
 * signing key with what it was derived from, so that the four HMACs of
 * the derivation run once a day per secret, region and service.  The
 * secret is kept to tell when credentials change; the free wipes it.
 */

#define NGX_BEDROCK_SIGV4_SCOPE_MAX  64

typedef struct {
    void                     *md;       /* EVP_MD_CTX */
    void                     *sha256;   /* EVP_MD, fetched */
    void                     *mac;      /* EVP_MAC_CTX, HMAC-SHA256 */

    /* the cached signing key and what it is for */
    ngx_uint_t                valid;
    u_char                    date[8];
    size_t                    region_len;
    u_char                    region[NGX_BEDROCK_SIGV4_SCOPE_MAX];
    size_t                    service_len;
    u_char                    service[NGX_BEDROCK_SIGV4_SCOPE_MAX];
    size_t                    secret_len;
    u_char                    secret[256];  /* CREDENTIALS_SECRET_MAX */
    u_char                    key[32];

    ngx_uint_t                derived;  /* keys derived, for the tests */
} ngx_bedrock_sigv4_signer_t;


typedef struct {
    ngx_str_t                 method;
    ngx_str_t                 path;     /* as sent on the wire (encoded) */
    ngx_uint_t                canonical_path; /* path is signed as is */
    ngx_str_t                 query;    /* canonical query string */
    ngx_str_t                 payload;
    ngx_str_t                 region;
    ngx_str_t                 service;
    ngx_str_t                 amz_date; /* YYYYMMDD'T'HHMMSS'Z' */
    ngx_bedrock_sigv4_header_t *headers; /* sorted by name, unique */
    ngx_uint_t                nheaders;

    ngx_str_t                 access_key;
    ngx_str_t                 secret_key;

    ngx_bedrock_sigv4_signer_t *signer; /* NULL: nothing kept or reused */

    /* results, for tests and debugging */
    ngx_str_t                 canonical_request;
    ngx_str_t                 string_to_sign;
} ngx_bedrock_sigv4_t;


/*
 * A request as it would be sent: ngx_bedrock_sigv4_canonicalize() turns
 * it into the canonical parts of an ngx_bedrock_sigv4_t, adding the
 * x-amz-date, x-amz-security-token and x-amz-content-sha256 headers.
 */

typedef struct {
    ngx_str_t                 method;
    ngx_str_t                 path;     /* the request target's path */
    ngx_str_t                 query;    /* after "?", as sent */
    ngx_bedrock_sigv4_header_t *headers; /* as sent: any case and order */
    ngx_uint_t                nheaders;
    ngx_str_t                 payload;
    ngx_str_t                 session_token;  /* empty: none */

    unsigned                  normalize:1;    /* remove dot segments */
    unsigned                  single_encode:1; /* S3: the path as sent */
    unsigned                  sign_body:1;    /* add x-amz-content-sha256 */
    unsigned                  omit_session_token:1; /* added after signing */
} ngx_bedrock_sigv4_request_t;


ngx_int_t ngx_bedrock_sigv4_signer_init(ngx_bedrock_sigv4_signer_t *signer);
void ngx_bedrock_sigv4_signer_free(ngx_bedrock_sigv4_signer_t *signer);
void ngx_bedrock_sigv4_date(time_t t, u_char *buf);
ngx_int_t ngx_bedrock_sigv4_canonicalize(ngx_pool_t *pool,
    ngx_bedrock_sigv4_request_t *req, ngx_bedrock_sigv4_t *s);
ngx_int_t ngx_bedrock_sigv4_sign(ngx_pool_t *pool, ngx_bedrock_sigv4_t *s,
    ngx_str_t *authorization);
u_char *ngx_bedrock_uri_escape(u_char *dst, u_char *src, size_t size,
    ngx_uint_t keep_slash);
size_t ngx_bedrock_uri_escape_len(u_char *src, size_t size,
    ngx_uint_t keep_slash);


#endif /* _NGX_HTTP_BEDROCK_SIGV4_H_INCLUDED_ */
