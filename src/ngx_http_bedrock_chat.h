
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_CHAT_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CHAT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"


/*
 * OpenAI Chat Completions <-> Bedrock Converse translation.  Everything
 * here is a function of its arguments and a pool: no HTTP request state.
 */


/* an OpenAI error: {"error":{"message","type","param","code"}} */
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


typedef struct {
    /* in */
    ngx_str_t                 guardrail_id;     /* empty: none */
    ngx_str_t                 guardrail_version;
    ngx_str_t                 guardrail_trace;  /* empty: not sent */
    ngx_str_t                 guardrail_stream_mode;

    /*
     * called with the model before any other work: NGX_OK, NGX_DECLINED
     * (not allowed: the call returns NGX_ABORT) or NGX_ERROR
     */
    ngx_int_t               (*model_check)(void *data, ngx_str_t *model);
    void                     *data;

    /* out */
    ngx_str_t                 model;
    ngx_uint_t                stream;
    ngx_uint_t                include_usage;
    ngx_str_t                 body;             /* Converse request JSON */
} ngx_bedrock_chat_request_t;


typedef struct {
    ngx_int_t                 input;
    ngx_int_t                 output;
    ngx_int_t                 cache_read;
    ngx_int_t                 cache_write;
} ngx_bedrock_usage_t;


typedef struct {
    /* in */
    ngx_str_t                 model;            /* as the client named it */
    ngx_str_t                 id;               /* chatcmpl-... */
    time_t                    created;

    /* out */
    ngx_str_t                 body;             /* chat.completion JSON */
    ngx_str_t                 stop_reason;      /* Bedrock's */
    ngx_bedrock_usage_t       usage;
} ngx_bedrock_chat_response_t;


ngx_int_t ngx_bedrock_chat_request(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_chat_request_t *req,
    ngx_bedrock_error_t *err);
ngx_int_t ngx_bedrock_chat_response(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_chat_response_t *resp);
ngx_int_t ngx_bedrock_sum(ngx_int_t a, ngx_int_t b);
char *ngx_bedrock_finish_reason(ngx_str_t *stop_reason);
void ngx_bedrock_usage(ngx_bedrock_json_t *usage, ngx_bedrock_usage_t *u);
void ngx_bedrock_usage_json(ngx_bedrock_jw_t *w, ngx_bedrock_usage_t *u);

ngx_int_t ngx_bedrock_upstream_error(ngx_pool_t *pool, ngx_pool_t *temp,
    ngx_uint_t status, ngx_str_t *aws_type, u_char *data, size_t len,
    ngx_bedrock_error_t *err);
void ngx_bedrock_error_set(ngx_bedrock_error_t *err, ngx_uint_t status,
    char *type, char *code, char *message);
ngx_int_t ngx_bedrock_error_json(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_str_t *out);
ngx_int_t ngx_bedrock_redact(ngx_pool_t *pool, ngx_str_t *text);
ngx_uint_t ngx_bedrock_name_valid(ngx_str_t *name);
ngx_int_t ngx_bedrock_log_escape(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_int_t ngx_bedrock_cleanup(ngx_pool_t *pool, ngx_pool_cleanup_pt handler,
    void *data);


#endif /* _NGX_HTTP_BEDROCK_CHAT_H_INCLUDED_ */
