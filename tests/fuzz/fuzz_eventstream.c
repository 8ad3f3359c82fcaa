
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"
#include "ngx_http_bedrock_stream.h"
#include "ngx_http_bedrock_messages.h"
#include "ngx_http_bedrock_responses.h"


/*
 * A ConverseStream body, split into random reads, through the event-stream
 * decoder, the Converse core's event decoder and every dialect's stream
 * writer (OpenAI chunks, Anthropic events and OpenAI Responses events,
 * each checked), the way
 * ngx_http_bedrock_stream_feed() and ngx_http_bedrock_stream_finish() use
 * them.
 *
 * Input: byte 0 picks the decoder's max, byte 1 bit 0 sets include_usage
 * and bit 1 keeps the checksums as they are (else they are made right, so
 * that mutations reach the translator), bytes 2-5 seed the read sizes
 * (0: one read), the rest is the body.
 */


#define NGX_FUZZ_ES_HEADER  6


static void ngx_fuzz_es_checksums(u_char *p, size_t size);
static uint32_t ngx_fuzz_es_next(uint32_t *state);
static void ngx_fuzz_es_error(ngx_pool_t *scratch, ngx_bedrock_error_t *err,
    ngx_bedrock_responses_stream_t *rs);
static void ngx_fuzz_es_anthropic(ngx_str_t *sse);


static size_t  ngx_fuzz_es_max[] = {
    32, 128, 512, 1500, 4096, 16384, 65536, 1024 * 1024
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     n;
    u_char                    *body, *piece, *pos, *last;
    uint32_t                   state;
    ngx_int_t                  rc;
    ngx_str_t                  sse;
    ngx_pool_t                *pool, *scratch;
    ngx_uint_t                 done;
    ngx_bedrock_event_t                ev;
    ngx_bedrock_error_t                err;
    ngx_bedrock_events_t               es;
    ngx_bedrock_stream_t               st;
    ngx_bedrock_es_decoder_t           d;
    ngx_bedrock_es_message_t           msg;
    ngx_bedrock_messages_stream_t      ms;
    ngx_bedrock_responses_stream_t     rs;

    if (size < NGX_FUZZ_ES_HEADER) {
        return 0;
    }

    pool = ngx_fuzz_pool();
    scratch = ngx_fuzz_pool();

    ngx_memzero(&d, sizeof(ngx_bedrock_es_decoder_t));
    d.pool = pool;
    d.max = ngx_fuzz_es_max[data[0] & 7];

    ngx_memzero(&st, sizeof(ngx_bedrock_stream_t));
    ngx_memzero(&ms, sizeof(ngx_bedrock_messages_stream_t));
    ngx_memzero(&rs, sizeof(ngx_bedrock_responses_stream_t));

    if (ngx_bedrock_events_init(&es, pool) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_events_init() failed");
    }

    ngx_str_set(&rs.model, "nova");
    ngx_str_set(&rs.id, "resp_fuzz");
    rs.created = 1700000000;

    if (ngx_bedrock_responses_init(&rs, pool) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_responses_init() failed");
    }

    ngx_str_set(&ms.model, "amazon.nova-lite-v1:0");
    ngx_str_set(&ms.id, "msg_fuzz");
    ms.block = -1;

    ngx_str_set(&st.model, "anthropic.claude-3-haiku-20240307-v1:0");
    ngx_str_set(&st.id, "chatcmpl-fuzz");
    st.created = 1700000000;
    st.include_usage = data[1] & 1;

    state = (uint32_t) data[2] | (uint32_t) data[3] << 8
            | (uint32_t) data[4] << 16 | (uint32_t) data[5] << 24;

    body = malloc(size - NGX_FUZZ_ES_HEADER + 1);
    if (body == NULL) {
        ngx_fuzz_abort("malloc() failed");
    }

    ngx_memcpy(body, data + NGX_FUZZ_ES_HEADER, size - NGX_FUZZ_ES_HEADER);

    if (!(data[1] & 2)) {
        ngx_fuzz_es_checksums(body, size - NGX_FUZZ_ES_HEADER);
    }

    data = body;
    size -= NGX_FUZZ_ES_HEADER;

    done = 0;

    while (size && !done) {

        /* one read, in a buffer of its own size */

        if (state == 0) {
            n = size;

        } else {
            n = ngx_fuzz_es_next(&state);
            n = (n & 0x300) ? 1 + (n >> 10) % 512 : 1 + n % 4;
            n = ngx_min(n, size);
        }

        piece = malloc(n);
        if (piece == NULL) {
            ngx_fuzz_abort("malloc() failed");
        }

        ngx_memcpy(piece, data, n);
        data += n;
        size -= n;

        pos = piece;
        last = piece + n;

        while (!done) {
            rc = ngx_bedrock_es_decode(&d, &pos, last, &msg);

            if (rc == NGX_AGAIN) {
                if (pos != last) {
                    ngx_fuzz_abort("NGX_AGAIN with input left");
                }

                break;
            }

            if (rc == NGX_ERROR) {
                if (d.error == NULL) {
                    ngx_fuzz_abort("NGX_ERROR without d->error");
                }

                ngx_bedrock_error_set(&err, 502,
                                      "server_error", "upstream_error",
                                      "Bedrock sent an invalid event "
                                      "stream.");
                ngx_fuzz_es_error(scratch, &err, &rs);
                done = 1;
                break;
            }

            rc = ngx_bedrock_events_next(&es, scratch, &msg, &ev, &err);

            if (rc == NGX_ERROR) {

                /* only a failed allocation may do this */

                ngx_fuzz_abort("ngx_bedrock_events_next() failed");
            }

            if (rc == NGX_DECLINED) {
                ngx_fuzz_es_error(scratch, &err, &rs);
                ngx_reset_pool(scratch);
                done = 1;
                break;
            }

            if (ngx_bedrock_stream_event(&st, &es, &ev, scratch, &sse)
                != NGX_OK)
            {
                ngx_fuzz_abort("ngx_bedrock_stream_event() failed");
            }

            if (sse.len) {
                ngx_fuzz_sse(&sse, "a chunk");
            }

            if (ngx_bedrock_messages_converse_event(&ms, &es, &ev, scratch,
                                                    &sse)
                != NGX_OK)
            {
                ngx_fuzz_abort("ngx_bedrock_messages_converse_event() "
                               "failed");
            }

            ngx_fuzz_es_anthropic(&sse);

            if (ngx_bedrock_responses_event(&rs, &es, &ev, scratch, &sse)
                != NGX_OK)
            {
                ngx_fuzz_abort("ngx_bedrock_responses_event() failed");
            }

            ngx_fuzz_es_anthropic(&sse);

            ngx_reset_pool(scratch);
        }

        free(piece);
    }

    if (!done && !es.stopped) {
        ngx_bedrock_error_set(&err, 502, "server_error",
                              "upstream_error", "The Bedrock stream ended "
                              "before the answer was complete.");
        ngx_fuzz_es_error(scratch, &err, &rs);

    } else if (!done) {
        if (ngx_bedrock_messages_end(&ms, &es, scratch, &sse) != NGX_OK) {
            ngx_fuzz_abort("ngx_bedrock_messages_end() failed");
        }

        ngx_fuzz_es_anthropic(&sse);

        if (ngx_bedrock_responses_end(&rs, &es, scratch, &sse) != NGX_OK) {
            ngx_fuzz_abort("ngx_bedrock_responses_end() failed");
        }

        ngx_fuzz_es_anthropic(&sse);
    }

    free(body);

    ngx_destroy_pool(scratch);
    ngx_destroy_pool(pool);

    return 0;
}


/* the prelude and message checksums of each frame, as they should be */

static void
ngx_fuzz_es_checksums(u_char *p, size_t size)
{
    size_t    off;
    uint32_t  total, crc;

    for (off = 0; size - off >= NGX_BEDROCK_ES_PRELUDE_LEN; off += total) {

        crc = ngx_crc32_long(p + off, 8);
        p[off + 8] = (u_char) (crc >> 24);
        p[off + 9] = (u_char) (crc >> 16);
        p[off + 10] = (u_char) (crc >> 8);
        p[off + 11] = (u_char) crc;

        total = (uint32_t) p[off] << 24 | (uint32_t) p[off + 1] << 16
                | (uint32_t) p[off + 2] << 8 | (uint32_t) p[off + 3];

        if (total < NGX_BEDROCK_ES_MIN_LEN || total > size - off) {
            break;
        }

        crc = ngx_crc32_long(p + off, total - 4);
        p[off + total - 4] = (u_char) (crc >> 24);
        p[off + total - 3] = (u_char) (crc >> 16);
        p[off + total - 2] = (u_char) (crc >> 8);
        p[off + total - 1] = (u_char) crc;
    }
}


static void
ngx_fuzz_es_error(ngx_pool_t *scratch, ngx_bedrock_error_t *err,
    ngx_bedrock_responses_stream_t *rs)
{
    ngx_str_t  sse;

    if (ngx_bedrock_stream_error(scratch, err, &sse) != NGX_OK) {
        ngx_fuzz_abort("ngx_bedrock_stream_error() failed");
    }

    ngx_fuzz_sse(&sse, "an error event");

    if (ngx_bedrock_responses_stream_error(rs, scratch, err, &sse) != NGX_OK)
    {
        ngx_fuzz_abort("ngx_bedrock_responses_stream_error() failed");
    }

    ngx_fuzz_es_anthropic(&sse);
}


/*
 * Anthropic and Responses events: "event: <type>\ndata: <JSON object>\n\n",
 * repeated
 */

static void
ngx_fuzz_es_anthropic(ngx_str_t *sse)
{
    u_char     *p, *last, *nl, *end;
    ngx_str_t   data;

    if (sse->len == 0) {
        return;
    }

    p = sse->data;
    last = p + sse->len;

    while (p < last) {
        if (last - p < 8 || ngx_strncmp(p, "event: ", 7) != 0) {
            ngx_fuzz_fail("a named event", sse);
        }

        for (nl = p + 7;
             nl < last
             && ((*nl >= 'a' && *nl <= 'z') || *nl == '_' || *nl == '.');
             nl++)
        {
            /* void */
        }

        if (nl == p + 7 || nl == last || *nl != '\n') {
            ngx_fuzz_fail("a named event's name", sse);
        }

        for (end = nl + 1; end + 1 < last; end++) {
            if (end[0] == '\n' && end[1] == '\n') {
                break;
            }
        }

        if (end + 1 >= last) {
            ngx_fuzz_fail("a named event", sse);
        }

        data.data = nl + 1;
        data.len = end + 2 - data.data;

        ngx_fuzz_sse(&data, "a named event's data");

        p = end + 2;
    }
}


/* xorshift32 */

static uint32_t
ngx_fuzz_es_next(uint32_t *state)
{
    uint32_t  x;

    x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;

    return x;
}
