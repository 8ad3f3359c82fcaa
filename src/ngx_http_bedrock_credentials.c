
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_credentials.h"


static ngx_int_t ngx_bedrock_credentials_env_bearer(ngx_pool_t *pool,
    ngx_log_t *log, ngx_bedrock_credentials_t *creds);
static ngx_int_t ngx_bedrock_credentials_env_keys(ngx_pool_t *pool,
    ngx_log_t *log, ngx_bedrock_credentials_t *creds);
static ngx_int_t ngx_bedrock_credentials_getenv(ngx_pool_t *pool,
    char *name, ngx_str_t *value);


/*
 * The provider chain, in the order the AWS SDKs use for these sources:
 * a Bedrock API key wins over SigV4 keys, as in botocore.
 */

static ngx_bedrock_credentials_provider_pt  ngx_bedrock_credentials_chain[] = {
    ngx_bedrock_credentials_env_bearer,
    ngx_bedrock_credentials_env_keys,
    NULL
};


const char  *ngx_bedrock_credentials_chain_text =
    "AWS_BEARER_TOKEN_BEDROCK, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY "
    "(environment of the worker process: declare each with the \"env\" "
    "directive)";


ngx_int_t
ngx_bedrock_credentials_resolve(ngx_pool_t *pool, ngx_log_t *log,
    ngx_bedrock_credentials_t *creds)
{
    ngx_int_t                              rc;
    ngx_bedrock_credentials_provider_pt   *provider;

    ngx_memzero(creds, sizeof(ngx_bedrock_credentials_t));

    for (provider = ngx_bedrock_credentials_chain; *provider; provider++) {

        rc = (*provider)(pool, log, creds);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_bedrock_credentials_env_bearer(ngx_pool_t *pool, ngx_log_t *log,
    ngx_bedrock_credentials_t *creds)
{
    ngx_int_t  rc;

    rc = ngx_bedrock_credentials_getenv(pool, "AWS_BEARER_TOKEN_BEDROCK",
                                        &creds->bearer);
    if (rc != NGX_OK) {
        return rc;
    }

    creds->kind = NGX_BEDROCK_CREDENTIALS_BEARER;
    creds->source = "AWS_BEARER_TOKEN_BEDROCK";

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_credentials_env_keys(ngx_pool_t *pool, ngx_log_t *log,
    ngx_bedrock_credentials_t *creds)
{
    ngx_int_t  rc;

    rc = ngx_bedrock_credentials_getenv(pool, "AWS_ACCESS_KEY_ID",
                                        &creds->access_key);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_credentials_getenv(pool, "AWS_SECRET_ACCESS_KEY",
                                        &creds->secret_key);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "bedrock: AWS_ACCESS_KEY_ID is set but "
                      "AWS_SECRET_ACCESS_KEY is not, ignoring both");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (creds->secret_key.len > NGX_BEDROCK_CREDENTIALS_SECRET_MAX) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "bedrock: AWS_SECRET_ACCESS_KEY is longer than %d "
                      "bytes, ignoring the keys",
                      NGX_BEDROCK_CREDENTIALS_SECRET_MAX);
        return NGX_DECLINED;
    }

    rc = ngx_bedrock_credentials_getenv(pool, "AWS_SESSION_TOKEN",
                                        &creds->session_token);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    creds->kind = NGX_BEDROCK_CREDENTIALS_SIGV4;
    creds->source = "environment";

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_credentials_getenv(ngx_pool_t *pool, char *name,
    ngx_str_t *value)
{
    char    *v;
    size_t   len;
    u_char  *p;

    v = getenv(name);

    if (v == NULL || *v == '\0') {
        return NGX_DECLINED;
    }

    len = ngx_strlen(v);

    /* a value with CR or LF would split the upstream request's headers */

    for (p = (u_char *) v; *p; p++) {
        if (*p == CR || *p == LF) {
            return NGX_DECLINED;
        }
    }

    value->data = ngx_pnalloc(pool, len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, v, len);
    value->len = len;

    return NGX_OK;
}
