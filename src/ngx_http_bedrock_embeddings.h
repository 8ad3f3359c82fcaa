
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_EMBEDDINGS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_EMBEDDINGS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_error.h"


/*
 * OpenAI embeddings (POST /v1/embeddings) over Bedrock's InvokeModel, one
 * body per embedding family: Amazon Titan Text Embeddings v2 and Amazon
 * Nova multimodal embeddings take one text per call, Cohere Embed v3 and
 * v4 up to 96.  A request becomes one or more calls; each answer's vectors
 * are written at once in the client's encoding, so that what is held is
 * the answer being built, not Bedrock's trees.  No HTTP request state.
 */


#define NGX_BEDROCK_EMBED_TITAN    1
#define NGX_BEDROCK_EMBED_COHERE   2
#define NGX_BEDROCK_EMBED_NOVA     3

/* OpenAI's limit on inputs; Cohere's per call */
#define NGX_BEDROCK_EMBED_INPUTS   2048
#define NGX_BEDROCK_EMBED_BATCH    96


typedef struct {
    /* in */

    /*
     * called with the model before any other work: NGX_OK with the
     * Bedrock model id, NGX_DECLINED (not allowed: the call returns
     * NGX_ABORT) or NGX_ERROR
     */
    ngx_int_t               (*model_check)(void *data, ngx_str_t *model,
                                           ngx_str_t *id);
    void                     *data;

    /* out */
    ngx_str_t                 model;
    ngx_uint_t                family;
    ngx_array_t               inputs;       /* of ngx_str_t */
    ngx_uint_t                dimensions;   /* 0: the model's default */
    ngx_uint_t                base64;       /* encoding_format */
    ngx_str_t                 input_type;   /* Cohere's */
    ngx_str_t                 truncate;     /* Cohere's; empty: none */
    ngx_int_t                 normalize;    /* Titan's; -1: not sent */
    ngx_uint_t                calls;

    /* each input's embedding, as the client gets it */
    ngx_str_t                *vectors;
    ngx_int_t                 tokens;
} ngx_bedrock_embeddings_t;


ngx_int_t ngx_bedrock_embeddings_request(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_embeddings_t *e,
    ngx_bedrock_error_t *err);
ngx_int_t ngx_bedrock_embeddings_body(ngx_pool_t *pool,
    ngx_bedrock_embeddings_t *e, ngx_uint_t call, ngx_str_t *body);
ngx_int_t ngx_bedrock_embeddings_answer(ngx_pool_t *pool, ngx_pool_t *temp,
    ngx_bedrock_embeddings_t *e, ngx_uint_t call, u_char *data, size_t len,
    ngx_int_t header_tokens);
ngx_int_t ngx_bedrock_embeddings_response(ngx_pool_t *pool,
    ngx_bedrock_embeddings_t *e, ngx_str_t *body);


#endif /* _NGX_HTTP_BEDROCK_EMBEDDINGS_H_INCLUDED_ */
