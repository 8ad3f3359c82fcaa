
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_responses.h"


/*
 * The OpenAI Responses dialect.  Byte 0 picks what the rest is:
 *   0: a Responses request body (models starting with "c" are Claude's,
 *      with "n" Nova's, with "x" outside the allowlist),
 *   1: a Converse answer to write as a response object.
 * What is written must be valid JSON.
 */


static ngx_int_t
ngx_fuzz_model_check(void *data, ngx_str_t *model, ngx_str_t *id,
    ngx_uint_t *claude)
{
    if (model->len && model->data[0] == 'x') {
        return NGX_DECLINED;
    }

    *claude = (model->len && model->data[0] == 'c');

    if (model->len && model->data[0] == 'n') {
        ngx_str_set(id, "amazon.nova-lite-v1:0");

    } else {
        ngx_str_set(id, "us.anthropic.claude-sonnet-4-v1:0");
    }

    return NGX_OK;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                         rc;
    ngx_str_t                         json, stop;
    ngx_pool_t                       *pool, *temp;
    ngx_bedrock_usage_t               usage;
    ngx_bedrock_error_t               err;
    ngx_bedrock_responses_stream_t    st;
    ngx_bedrock_responses_request_t   req;

    if (size < 1) {
        return 0;
    }

    pool = ngx_fuzz_pool();
    temp = ngx_fuzz_pool();

    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));

    if (data[0] & 1) {
        ngx_memzero(&st, sizeof(ngx_bedrock_responses_stream_t));
        ngx_str_set(&st.model, "fuzz");
        ngx_str_set(&st.id, "resp_0123456789abcdef01234567");

        rc = ngx_bedrock_responses_answer(pool, temp, (u_char *) data + 1,
                                          size - 1, &st, &json, &stop,
                                          &usage);

        ngx_destroy_pool(temp);

        if (rc == NGX_OK) {
            ngx_fuzz_json(&json, "the response object");

        } else if (rc != NGX_DECLINED) {
            ngx_fuzz_abort("ngx_bedrock_responses_answer() failed");
        }

        ngx_destroy_pool(pool);

        return 0;
    }

    ngx_memzero(&req, sizeof(ngx_bedrock_responses_request_t));

    req.model_check = ngx_fuzz_model_check;
    ngx_str_set(&req.guardrail.id, "gr-fuzz");
    ngx_str_set(&req.guardrail.version, "1");

    rc = ngx_bedrock_responses_request(pool, temp, (u_char *) data + 1,
                                       size - 1, &req, &err);

    /* what is returned must not point into the parse */

    ngx_destroy_pool(temp);

    if (rc == NGX_OK) {
        ngx_fuzz_json(&req.body, "the Converse request");

    } else if (rc == NGX_DECLINED) {
        if (ngx_bedrock_error_render(pool, &err, NGX_BEDROCK_DIALECT_OPENAI,
                                     &json)
            != NGX_OK)
        {
            ngx_fuzz_abort("ngx_bedrock_error_render() failed");
        }

        ngx_fuzz_json(&json, "the error");

    } else if (rc != NGX_ABORT) {
        ngx_fuzz_abort("ngx_bedrock_responses_request() failed");
    }

    ngx_destroy_pool(pool);

    return 0;
}
