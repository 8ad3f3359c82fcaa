
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_ERROR_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_ERROR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"


/*
 * Errors: Bedrock's error answers read into one shape, the texts that may
 * reach a client or a log made safe for it, and the shape rendered for
 * the client.  No HTTP request state.
 */


/* the most of an upstream's error text that is kept, logged or passed */
#define NGX_BEDROCK_ERROR_TEXT_MAX  2048


/* the client's dialect, which decides the error's shape */
typedef enum {
    NGX_BEDROCK_DIALECT_OPENAI = 0,
    NGX_BEDROCK_DIALECT_ANTHROPIC
} ngx_bedrock_dialect_e;


/*
 * An error, in OpenAI's terms: {"error":{"message","type","param","code"}};
 * other dialects are rendered from it
 */
typedef struct {
    ngx_uint_t                status;
    ngx_str_t                 message;
    ngx_str_t                 type;
    ngx_str_t                 param;    /* data == NULL: null */
    ngx_str_t                 code;     /* data == NULL: null */
    ngx_str_t                 aws_type; /* Bedrock's error name, if any */
    ngx_str_t                 detail;   /* Bedrock's text: for the log */
    ngx_uint_t                auth:1;   /* AWS refused our credentials */
} ngx_bedrock_error_t;


ngx_int_t ngx_bedrock_upstream_error(ngx_pool_t *pool, ngx_pool_t *temp,
    ngx_uint_t status, ngx_str_t *aws_type, u_char *data, size_t len,
    ngx_bedrock_error_t *err);
void ngx_bedrock_error_set(ngx_bedrock_error_t *err, ngx_uint_t status,
    char *type, char *code, char *message);
ngx_int_t ngx_bedrock_error_json(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_str_t *out);
ngx_int_t ngx_bedrock_error_render(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_bedrock_dialect_e dialect, ngx_str_t *out);
char *ngx_bedrock_error_anthropic_type(ngx_uint_t status);
ngx_int_t ngx_bedrock_exception_error(ngx_pool_t *pool, ngx_str_t *type,
    ngx_str_t *detail, ngx_bedrock_error_t *err);
ngx_str_t *ngx_bedrock_error_param(ngx_pool_t *pool, const char *fmt,
    va_list args);
ngx_int_t ngx_bedrock_error_invalid(ngx_pool_t *pool,
    ngx_bedrock_error_t *err, ngx_str_t *param, const char *fmt,
    va_list args);
ngx_int_t ngx_bedrock_redact(ngx_pool_t *pool, ngx_str_t *text);
ngx_int_t ngx_bedrock_log_escape(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);


#endif /* _NGX_HTTP_BEDROCK_ERROR_H_INCLUDED_ */
