
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* AWS secret keys are 40 characters; the signer's limit */
#define NGX_BEDROCK_CREDENTIALS_SECRET_MAX  256


typedef enum {
    NGX_BEDROCK_CREDENTIALS_NONE = 0,
    NGX_BEDROCK_CREDENTIALS_SIGV4,
    NGX_BEDROCK_CREDENTIALS_BEARER
} ngx_bedrock_credentials_kind_e;


typedef struct {
    ngx_bedrock_credentials_kind_e  kind;
    ngx_str_t                       access_key;
    ngx_str_t                       secret_key;
    ngx_str_t                       session_token;
    ngx_str_t                       bearer;
    const char                     *source;
} ngx_bedrock_credentials_t;


/*
 * One link of the provider chain: fills creds and returns NGX_OK, or
 * returns NGX_DECLINED when its source has nothing.
 */
typedef ngx_int_t (*ngx_bedrock_credentials_provider_pt)(ngx_pool_t *pool,
    ngx_log_t *log, ngx_bedrock_credentials_t *creds);


ngx_int_t ngx_bedrock_credentials_resolve(ngx_pool_t *pool, ngx_log_t *log,
    ngx_bedrock_credentials_t *creds);

extern const char  *ngx_bedrock_credentials_chain_text;


#endif /* _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_ */
