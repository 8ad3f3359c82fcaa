
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_chat.h"


/*
 * An OpenAI chat completion request body through ngx_bedrock_chat_request(),
 * without and with a guardrail: the Converse body it writes, or the error
 * it answers with, must be valid JSON.
 */


/*
 * the allowlist: models that start with "x" are not in it; "c" is a
 * Claude model, "n" Amazon Nova, "g" gpt-oss, the others Llama
 */

static ngx_int_t
ngx_fuzz_model_check(void *data, ngx_str_t *model, ngx_str_t *id,
    ngx_uint_t *claude)
{
    u_char  c;

    c = model->len ? model->data[0] : '\0';

    if (c == 'x') {
        return NGX_DECLINED;
    }

    *claude = (c == 'c');

    if (c == 'c') {
        ngx_str_set(id, "us.anthropic.claude-sonnet-4-v1:0");

    } else if (c == 'n') {
        ngx_str_set(id, "amazon.nova-2-lite-v1:0");

    } else if (c == 'g') {
        ngx_str_set(id, "openai.gpt-oss-120b-1:0");

    } else {
        ngx_str_set(id, "meta.llama3-70b-instruct-v1:0");
    }

    return NGX_OK;
}


/* the images "fetched": the body with their bytes spliced in is JSON */

static void
ngx_fuzz_images(ngx_pool_t *pool, ngx_str_t *body, ngx_array_t *images)
{
    ngx_str_t                 out;
    ngx_uint_t                i;
    ngx_bedrock_image_url_t  *img;

    img = images->elts;

    for (i = 0; i < images->nelts; i++) {
        if (img[i].url.len == 0 || img[i].param.len == 0) {
            ngx_fuzz_abort("an image without its URL or parameter");
        }

        ngx_str_set(&img[i].format, "png");
        ngx_str_set(&img[i].data, "iVBORw0KGgo=");
    }

    if (ngx_bedrock_converse_splice(pool, body, images, &out) != NGX_OK) {
        ngx_fuzz_abort("the splice failed on a body written with images");
    }

    ngx_fuzz_json(&out, "the Converse request with the images");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                    rc;
    ngx_str_t                    json;
    ngx_pool_t                  *pool, *temp;
    ngx_uint_t                   guardrail;
    ngx_bedrock_error_t          err;
    ngx_bedrock_chat_request_t   req;

    for (guardrail = 0; guardrail < 2; guardrail++) {
        pool = ngx_fuzz_pool();

        ngx_memzero(&req, sizeof(ngx_bedrock_chat_request_t));
        ngx_memzero(&err, sizeof(ngx_bedrock_error_t));

        if (guardrail) {
            ngx_str_set(&req.guardrail.id, "gr-fuzz");
            ngx_str_set(&req.guardrail.version, "DRAFT");
            ngx_str_set(&req.guardrail.trace, "enabled");
            ngx_str_set(&req.guardrail.stream_mode, "async");

            /* and every cache point the location may add */

            req.conf.cache = NGX_BEDROCK_CACHE_SYSTEM
                             | NGX_BEDROCK_CACHE_TOOLS
                             | NGX_BEDROCK_CACHE_MESSAGES;
            req.conf.latency_optimized = 1;

            /* and image URLs taken, to be fetched */

            req.conf.image_fetch = 1;
        }

        req.model_check = ngx_fuzz_model_check;

        /*
         * the parse's pool is gone before the results are looked at, as
         * in the module: what outlives it must have been copied
         */

        temp = ngx_fuzz_pool();

        rc = ngx_bedrock_chat_request(pool, temp, (u_char *) data, size,
                                      &req, &err);

        ngx_destroy_pool(temp);

        if (rc == NGX_ABORT) {
            if (req.model.len == 0 || req.model.data[0] != 'x'
                || !ngx_fuzz_utf8(req.model.data, req.model.len))
            {
                ngx_fuzz_abort("NGX_ABORT without a refused model");
            }

        } else if (rc == NGX_OK) {
            if (req.model.len == 0) {
                ngx_fuzz_abort("NGX_OK without a model");
            }

            ngx_fuzz_json(&req.body, "the Converse request");

            if (req.images) {
                ngx_fuzz_images(pool, &req.body, req.images);
            }

        } else if (rc == NGX_DECLINED) {
            if (err.status < 400 || err.status > 599) {
                ngx_fuzz_abort("an error status out of 400-599");
            }

            if (ngx_bedrock_error_json(pool, &err, &json) != NGX_OK) {
                ngx_fuzz_abort("ngx_bedrock_error_json() failed");
            }

            ngx_fuzz_json(&json, "the error");

        } else {

            /* only a failed allocation may do this */

            ngx_fuzz_abort("ngx_bedrock_chat_request() failed");
        }

        ngx_destroy_pool(pool);
    }

    return 0;
}
