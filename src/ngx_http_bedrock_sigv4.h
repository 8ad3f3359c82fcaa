
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


typedef struct {
    ngx_str_t                 method;
    ngx_str_t                 path;     /* as sent on the wire (encoded) */
    ngx_str_t                 query;    /* canonical query string */
    ngx_str_t                 payload;
    ngx_str_t                 region;
    ngx_str_t                 service;
    ngx_str_t                 amz_date; /* YYYYMMDD'T'HHMMSS'Z' */
    ngx_bedrock_sigv4_header_t *headers; /* sorted by name, unique */
    ngx_uint_t                nheaders;

    ngx_str_t                 access_key;
    ngx_str_t                 secret_key;

    /* results, for tests and debugging */
    ngx_str_t                 canonical_request;
    ngx_str_t                 string_to_sign;
} ngx_bedrock_sigv4_t;


void ngx_bedrock_sigv4_date(time_t t, u_char *buf);
ngx_int_t ngx_bedrock_sigv4_sign(ngx_pool_t *pool, ngx_bedrock_sigv4_t *s,
    ngx_str_t *authorization);
u_char *ngx_bedrock_uri_escape(u_char *dst, u_char *src, size_t size,
    ngx_uint_t keep_slash);
size_t ngx_bedrock_uri_escape_len(u_char *src, size_t size,
    ngx_uint_t keep_slash);


#endif /* _NGX_HTTP_BEDROCK_SIGV4_H_INCLUDED_ */
