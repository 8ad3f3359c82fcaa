
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_CHAT_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CHAT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_error.h"
#include "ngx_http_bedrock_converse.h"


/*
 * OpenAI Chat Completions <-> Bedrock Converse translation.  Everything
 * here is a function of its arguments and a pool: no HTTP request state.
 */


typedef struct {
    /* in */
    ngx_bedrock_guardrail_conf_t  guardrail;
    ngx_bedrock_converse_conf_t   conf;

    /*
     * called with the model before any other work: NGX_OK with the
     * Bedrock model id and whether it is a Claude model, NGX_DECLINED
     * (not allowed: the call returns NGX_ABORT) or NGX_ERROR
     */
    ngx_int_t               (*model_check)(void *data, ngx_str_t *model,
                                           ngx_str_t *id, ngx_uint_t *claude);
    void                     *data;

    /* out */
    ngx_str_t                 model;
    ngx_uint_t                stream;
    ngx_uint_t                include_usage;
    ngx_str_t                 body;             /* Converse request JSON */
    ngx_array_t              *images;           /* to fetch into the body,
                                                   of ngx_bedrock_image_url_t;
                                                   NULL: none */
} ngx_bedrock_chat_request_t;


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
char *ngx_bedrock_finish_reason(ngx_str_t *stop_reason);
void ngx_bedrock_usage_json(ngx_bedrock_jw_t *w, ngx_bedrock_usage_t *u);



#endif /* _NGX_HTTP_BEDROCK_CHAT_H_INCLUDED_ */
