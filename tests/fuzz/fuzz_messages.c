
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_messages.h"


/*
 * The Anthropic Messages dialect.  Byte 0 picks what the rest is:
 *   0: a Messages request body (models starting with "c" are Claude's,
 *      with "x" outside the allowlist), 1: the same as count_tokens,
 *   2: a Converse answer to write as an Anthropic message,
 *   3: the payload of one InvokeModelWithResponseStream "chunk" frame.
 * What is written must be valid JSON, or one "event:"/"data:" pair.
 */


static ngx_int_t
ngx_fuzz_model_check(void *data, ngx_str_t *model, ngx_uint_t *claude)
{
    if (model->len && model->data[0] == 'x') {
        return NGX_DECLINED;
    }

    *claude = (model->len && model->data[0] == 'c');

    return NGX_OK;
}


static void
ngx_fuzz_event(ngx_str_t *sse)
{
    u_char     *p, *last, *nl;
    ngx_str_t   json;

    p = sse->data;
    last = p + sse->len;

    if (sse->len < sizeof("event: x\ndata: {}\n\n") - 1
        || ngx_strncmp(p, "event: ", 7) != 0
        || last[-1] != '\n' || last[-2] != '\n')
    {
        ngx_fuzz_fail("an Anthropic event", sse);
    }

    nl = ngx_strlchr(p, last, '\n');

    if (nl == NULL || last - nl < 8 || ngx_strncmp(nl + 1, "data: ", 6) != 0)
    {
        ngx_fuzz_fail("an Anthropic event", sse);
    }

    json.data = nl + 7;
    json.len = last - 2 - json.data;

    if (ngx_strlchr(json.data, json.data + json.len, '\n') != NULL) {
        ngx_fuzz_fail("an event on one data line", sse);
    }

    ngx_fuzz_json(&json, "an event's data");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                        rc;
    ngx_str_t                        json, sse;
    ngx_pool_t                      *pool, *temp;
    ngx_bedrock_error_t              err;
    ngx_bedrock_es_message_t         msg;
    ngx_bedrock_messages_stream_t    st;
    ngx_bedrock_messages_request_t   req;

    if (size < 1) {
        return 0;
    }

    pool = ngx_fuzz_pool();
    temp = ngx_fuzz_pool();

    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));
    ngx_memzero(&st, sizeof(ngx_bedrock_messages_stream_t));
    ngx_str_set(&st.model, "fuzz");
    ngx_str_set(&st.id, "msg_fuzz");
    st.block = -1;

    switch (data[0] & 3) {

    case 0:
    case 1:
        ngx_memzero(&req, sizeof(ngx_bedrock_messages_request_t));

        req.count = data[0] & 1;
        req.model_check = ngx_fuzz_model_check;
        ngx_str_set(&req.betas, "interleaved-thinking-2025-05-14, nope,,");
        ngx_str_set(&req.guardrail.id, "gr-fuzz");
        ngx_str_set(&req.guardrail.version, "1");

        rc = ngx_bedrock_messages_request(pool, temp, (u_char *) data + 1,
                                          size - 1, &req, &err);

        ngx_destroy_pool(temp);
        temp = NULL;

        if (rc == NGX_OK) {
            ngx_fuzz_json(&req.body, "the Bedrock request");

        } else if (rc == NGX_DECLINED) {
            if (ngx_bedrock_error_render(pool, &err,
                                         NGX_BEDROCK_DIALECT_ANTHROPIC,
                                         &json)
                != NGX_OK)
            {
                ngx_fuzz_abort("ngx_bedrock_error_render() failed");
            }

            ngx_fuzz_json(&json, "the error");

        } else if (rc != NGX_ABORT) {
            ngx_fuzz_abort("ngx_bedrock_messages_request() failed");
        }

        break;

    case 2:
        rc = ngx_bedrock_messages_answer(pool, temp, (u_char *) data + 1,
                                         size - 1, &st, &json);

        if (rc == NGX_OK) {
            ngx_fuzz_json(&json, "the Anthropic message");

        } else if (rc != NGX_DECLINED) {
            ngx_fuzz_abort("ngx_bedrock_messages_answer() failed");
        }

        break;

    default:
        ngx_memzero(&msg, sizeof(ngx_bedrock_es_message_t));
        ngx_str_set(&msg.message_type, "event");
        ngx_str_set(&msg.event_type, "chunk");
        msg.payload.data = (u_char *) data + 1;
        msg.payload.len = size - 1;

        rc = ngx_bedrock_messages_chunk(&st, temp, &msg, &sse, &err);

        if (rc == NGX_OK && sse.len) {
            ngx_fuzz_event(&sse);

        } else if (rc == NGX_DECLINED) {
            if (ngx_bedrock_messages_stream_error(temp, &err, &sse)
                != NGX_OK)
            {
                ngx_fuzz_abort("ngx_bedrock_messages_stream_error() failed");
            }

            ngx_fuzz_event(&sse);

        } else if (rc == NGX_ERROR) {
            ngx_fuzz_abort("ngx_bedrock_messages_chunk() failed");
        }

        break;
    }

    if (temp) {
        ngx_destroy_pool(temp);
    }

    ngx_destroy_pool(pool);

    return 0;
}
