
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <zlib.h>

#include "ngx_http_bedrock_eventstream.h"


static ngx_int_t ngx_bedrock_es_prelude(ngx_bedrock_es_decoder_t *d);
static ngx_int_t ngx_bedrock_es_headers(ngx_bedrock_es_decoder_t *d,
    ngx_bedrock_es_message_t *msg);


#define ngx_bedrock_es_u32(p)                                                \
    ((uint32_t) (p)[0] << 24 | (uint32_t) (p)[1] << 16                       \
     | (uint32_t) (p)[2] << 8 | (uint32_t) (p)[3])


/*
 * Returns NGX_OK with *msg filled (pointing into the decoder's buffer,
 * valid until the next call) and *pos past the bytes used; NGX_AGAIN when
 * all input is used and a message is incomplete; NGX_ERROR with d->error
 * set when the stream is corrupt.
 */

ngx_int_t
ngx_bedrock_es_decode(ngx_bedrock_es_decoder_t *d, u_char **pos, u_char *last,
    ngx_bedrock_es_message_t *msg)
{
    size_t   n, want;
    u_char  *p;

    if (d->error) {
        return NGX_ERROR;
    }

    if (d->total && d->have == d->total) {

        /* the previous message was returned: start the next one */

        d->have = 0;
        d->total = 0;
    }

    if (d->buf == NULL) {
        d->size = 1024;

        d->buf = ngx_pnalloc(d->pool, d->size);
        if (d->buf == NULL) {
            d->error = "out of memory";
            return NGX_ERROR;
        }
    }

    for ( ;; ) {

        want = d->total ? d->total : NGX_BEDROCK_ES_PRELUDE_LEN;

        n = ngx_min((size_t) (last - *pos), want - d->have);

        ngx_memcpy(d->buf + d->have, *pos, n);
        d->have += n;
        *pos += n;

        if (d->have < want) {
            return NGX_AGAIN;
        }

        if (d->total == 0) {
            if (ngx_bedrock_es_prelude(d) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        break;
    }

    /*
     * The whole message: the checksum covers all but its own 4 bytes.
     * zlib's CRC-32 is the same one as nginx's, several bytes a step: a
     * stream's messages are checked at a fraction of the cost.
     */

    p = d->buf + d->total - 4;

    if ((uint32_t) crc32(0, d->buf, (uInt) (d->total - 4))
        != ngx_bedrock_es_u32(p))
    {
        d->error = "message checksum mismatch";
        return NGX_ERROR;
    }

    ngx_memzero(msg, sizeof(ngx_bedrock_es_message_t));

    if (ngx_bedrock_es_headers(d, msg) != NGX_OK) {
        return NGX_ERROR;
    }

    msg->payload.data = d->buf + NGX_BEDROCK_ES_PRELUDE_LEN + d->headers_len;
    msg->payload.len = p - msg->payload.data;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_es_prelude(ngx_bedrock_es_decoder_t *d)
{
    u_char    *p;
    size_t     size;
    uint32_t   total, headers;

    p = d->buf;

    /* the lengths are trusted only after their checksum */

    if (ngx_crc32_long(p, 8) != ngx_bedrock_es_u32(p + 8)) {
        d->error = "prelude checksum mismatch";
        return NGX_ERROR;
    }

    total = ngx_bedrock_es_u32(p);
    headers = ngx_bedrock_es_u32(p + 4);

    if (total < NGX_BEDROCK_ES_MIN_LEN
        || headers > total - NGX_BEDROCK_ES_MIN_LEN)
    {
        d->error = "invalid message length";
        return NGX_ERROR;
    }

    if (total > d->max) {
        d->error = "message too large";
        return NGX_ERROR;
    }

    if (total > d->size) {
        size = ngx_max(total, 2 * d->size);
        size = ngx_min(size, d->max);

        p = ngx_pnalloc(d->pool, size);
        if (p == NULL) {
            d->error = "out of memory";
            return NGX_ERROR;
        }

        ngx_memcpy(p, d->buf, NGX_BEDROCK_ES_PRELUDE_LEN);
        ngx_pfree(d->pool, d->buf);

        d->buf = p;
        d->size = size;
    }

    d->total = total;
    d->headers_len = headers;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_es_headers(ngx_bedrock_es_decoder_t *d,
    ngx_bedrock_es_message_t *msg)
{
    size_t      len;
    u_char     *p, *last, type;
    ngx_str_t   name, value, *dst;

    static size_t  fixed[] = { 0, 0, 1, 2, 4, 8, 0, 0, 8, 16 };

    p = d->buf + NGX_BEDROCK_ES_PRELUDE_LEN;
    last = p + d->headers_len;

    while (p < last) {

        name.len = *p++;
        name.data = p;

        if (name.len == 0 || (size_t) (last - p) < name.len + 1) {
            goto invalid;
        }

        p += name.len;
        type = *p++;

        if (type > 9) {
            goto invalid;
        }

        if (type == 6 || type == 7) {

            /* byte array, string: a 2-byte length */

            if (last - p < 2) {
                goto invalid;
            }

            len = (size_t) p[0] << 8 | p[1];
            p += 2;

        } else {
            len = fixed[type];
        }

        if ((size_t) (last - p) < len) {
            goto invalid;
        }

        value.data = p;
        value.len = len;
        p += len;

        if (type != 7) {
            continue;
        }

        dst = NULL;

#define ngx_bedrock_es_is(s)                                                 \
        (name.len == sizeof(s) - 1 && ngx_strncmp(name.data, s, name.len) == 0)

        if (ngx_bedrock_es_is(":message-type")) {
            dst = &msg->message_type;

        } else if (ngx_bedrock_es_is(":event-type")) {
            dst = &msg->event_type;

        } else if (ngx_bedrock_es_is(":exception-type")) {
            dst = &msg->exception_type;

        } else if (ngx_bedrock_es_is(":error-code")) {
            dst = &msg->error_code;

        } else if (ngx_bedrock_es_is(":error-message")) {
            dst = &msg->error_message;
        }

#undef ngx_bedrock_es_is

        if (dst) {
            *dst = value;
        }
    }

    return NGX_OK;

invalid:

    d->error = "invalid message headers";

    return NGX_ERROR;
}
