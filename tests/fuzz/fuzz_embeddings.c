
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_embeddings.h"


/*
 * An OpenAI embeddings request through ngx_bedrock_embeddings_request(),
 * then each of its InvokeModel bodies; or, after a first byte naming the
 * family and the encoding, one Bedrock answer through
 * ngx_bedrock_embeddings_answer() and the list written from it.  Every
 * body, error and list must be valid JSON.
 */


/* the model's first letter picks the family: t, c (4: v4), n; x: refused */

static ngx_int_t
ngx_fuzz_model_check(void *data, ngx_str_t *model, ngx_str_t *id)
{
    u_char  c;

    c = model->len ? model->data[0] : '\0';

    switch (c) {

    case 'x':
        return NGX_DECLINED;

    case 'c':
        if (model->len > 1 && model->data[1] == '4') {
            ngx_str_set(id, "cohere.embed-v4:0");

        } else {
            ngx_str_set(id, "cohere.embed-english-v3");
        }

        break;

    case 'n':
        ngx_str_set(id, "amazon.nova-2-multimodal-embeddings-v1:0");
        break;

    case 'l':
        ngx_str_set(id, "meta.llama3-70b-instruct-v1:0");
        break;

    default:
        ngx_str_set(id, "amazon.titan-embed-text-v2:0");
        break;
    }

    return NGX_OK;
}


static void
ngx_fuzz_answer(const uint8_t *data, size_t size)
{
    ngx_int_t                  rc;
    ngx_str_t                  json, *in;
    ngx_uint_t                 i, n;
    ngx_pool_t                *pool, *temp;
    ngx_bedrock_embeddings_t   e;

    pool = ngx_fuzz_pool();
    temp = ngx_fuzz_pool();

    ngx_memzero(&e, sizeof(ngx_bedrock_embeddings_t));

    e.family = (data[0] % 3) + 1;
    e.base64 = (data[0] >> 2) & 1;
    ngx_str_set(&e.model, "fuzz \"model\"");

    /* Cohere answers for a batch of 1 to 4 texts */

    n = (e.family == NGX_BEDROCK_EMBED_COHERE) ? ((data[0] >> 3) & 3) + 1 : 1;

    if (ngx_array_init(&e.inputs, pool, n, sizeof(ngx_str_t)) != NGX_OK) {
        ngx_fuzz_abort("ngx_array_init() failed");
    }

    for (i = 0; i < n; i++) {
        in = ngx_array_push(&e.inputs);
        if (in == NULL) {
            ngx_fuzz_abort("ngx_array_push() failed");
        }

        ngx_str_set(in, "text");
    }

    e.calls = 1;
    e.vectors = ngx_pcalloc(pool, n * sizeof(ngx_str_t));
    if (e.vectors == NULL) {
        ngx_fuzz_abort("ngx_pcalloc() failed");
    }

    rc = ngx_bedrock_embeddings_answer(pool, temp, &e, 0, (u_char *) data + 1,
                                       size - 1, (data[0] & 0x20) ? 7 : -1);

    ngx_destroy_pool(temp);

    if (rc == NGX_OK) {
        if (ngx_bedrock_embeddings_response(pool, &e, &json) != NGX_OK) {
            ngx_fuzz_abort("ngx_bedrock_embeddings_response() failed");
        }

        ngx_fuzz_json(&json, "the embeddings list");

    } else if (rc != NGX_DECLINED) {
        ngx_fuzz_abort("ngx_bedrock_embeddings_answer() failed");
    }

    ngx_destroy_pool(pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                  rc;
    ngx_str_t                  json;
    ngx_uint_t                 k;
    ngx_pool_t                *pool, *temp;
    ngx_bedrock_error_t        err;
    ngx_bedrock_embeddings_t   e;

    if (size < 1) {
        return 0;
    }

    if (data[0] & 0x80) {
        ngx_fuzz_answer(data, size);
        return 0;
    }

    pool = ngx_fuzz_pool();
    temp = ngx_fuzz_pool();

    ngx_memzero(&e, sizeof(ngx_bedrock_embeddings_t));
    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));

    e.model_check = ngx_fuzz_model_check;

    rc = ngx_bedrock_embeddings_request(pool, temp, (u_char *) data + 1,
                                        size - 1, &e, &err);

    /* what is kept must not point into the parse */

    ngx_destroy_pool(temp);

    if (rc == NGX_OK) {
        if (e.calls == 0 || e.inputs.nelts == 0) {
            ngx_fuzz_abort("a request without calls");
        }

        for (k = 0; k < e.calls; k++) {
            if (ngx_bedrock_embeddings_body(pool, &e, k, &json) != NGX_OK) {
                ngx_fuzz_abort("ngx_bedrock_embeddings_body() failed");
            }

            ngx_fuzz_json(&json, "an InvokeModel body");
        }

    } else if (rc == NGX_DECLINED) {
        if (ngx_bedrock_error_render(pool, &err, NGX_BEDROCK_DIALECT_OPENAI,
                                     &json)
            != NGX_OK)
        {
            ngx_fuzz_abort("ngx_bedrock_error_render() failed");
        }

        ngx_fuzz_json(&json, "the error");

    } else if (rc != NGX_ABORT) {
        ngx_fuzz_abort("ngx_bedrock_embeddings_request() failed");
    }

    ngx_destroy_pool(pool);

    return 0;
}
