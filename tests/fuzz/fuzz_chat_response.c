
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_chat.h"


/*
 * A Converse answer body through ngx_bedrock_chat_response() (a 200) and
 * ngx_bedrock_upstream_error() (any other status): the chat.completion or
 * the error written must be valid JSON.  The status and the
 * x-amzn-ErrorType value are picked from the input's length.
 */


static ngx_uint_t  ngx_fuzz_statuses[] = {
    400, 401, 403, 404, 408, 429, 500, 503, 504, 302
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                     rc;
    ngx_str_t                     json, type;
    ngx_pool_t                   *pool, *temp;
    ngx_uint_t                    status;
    ngx_bedrock_error_t           err;
    ngx_bedrock_chat_response_t   resp;

    pool = ngx_fuzz_pool();

    ngx_memzero(&resp, sizeof(ngx_bedrock_chat_response_t));

    ngx_str_set(&resp.model, "anthropic.claude-3-haiku-20240307-v1:0");
    ngx_str_set(&resp.id, "chatcmpl-fuzz");
    resp.created = 1700000000;

    temp = ngx_fuzz_pool();

    rc = ngx_bedrock_chat_response(pool, temp, (u_char *) data, size, &resp);

    ngx_destroy_pool(temp);

    if (rc == NGX_OK) {
        ngx_fuzz_json(&resp.body, "the chat.completion");

    } else if (rc != NGX_DECLINED) {

        /* only a failed allocation may do this */

        ngx_fuzz_abort("ngx_bedrock_chat_response() failed");
    }

    ngx_destroy_pool(pool);

    pool = ngx_fuzz_pool();

    status = ngx_fuzz_statuses[size % 10];

    switch (size % 3) {

    case 0:
        ngx_str_null(&type);
        break;

    case 1:
        ngx_str_set(&type, "ThrottlingException:http://internal.amazon.com/"
                    "coral/com.amazon.bedrock/");
        break;

    default:

        /* a header value: any bytes but CR, LF and NUL */

        type.len = ngx_min(size, 40);
        type.data = ngx_pnalloc(pool, type.len ? type.len : 1);
        if (type.data == NULL) {
            ngx_fuzz_abort("ngx_pnalloc() failed");
        }

        for (rc = 0; (size_t) rc < type.len; rc++) {
            type.data[rc] = (data[rc] == '\r' || data[rc] == '\n'
                             || data[rc] == '\0') ? 'x' : data[rc];
        }
    }

    temp = ngx_fuzz_pool();

    if (ngx_bedrock_upstream_error(pool, temp, status, &type, (u_char *) data,
                                   size, &err)
        != NGX_OK)
    {
        ngx_fuzz_abort("ngx_bedrock_upstream_error() failed");
    }

    ngx_destroy_pool(temp);

    if (err.status < 400 || err.status > 599) {
        ngx_fuzz_abort("an error status out of 400-599");
    }

    if (ngx_bedrock_error_json(pool, &err, &json) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_error_json() failed");
    }

    ngx_fuzz_json(&json, "the error");

    ngx_destroy_pool(pool);

    return 0;
}
