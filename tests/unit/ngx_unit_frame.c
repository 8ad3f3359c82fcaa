
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"


/*
 * An event-stream encoder of our own, for synthetic cases and seeds:
 * total length, headers length, prelude CRC32, headers, payload, message
 * CRC32, all big-endian.
 */


#define ngx_unit_frame_u32(p, n)                                             \
    (p)[0] = (u_char) ((n) >> 24);                                           \
    (p)[1] = (u_char) ((n) >> 16);                                           \
    (p)[2] = (u_char) ((n) >> 8);                                            \
    (p)[3] = (u_char) (n)


/*
 * One header: a 1-byte name length, the name, the type, and for byte
 * arrays and strings (6, 7) a 2-byte length; the value bytes as given
 */

u_char *
ngx_unit_frame_header(u_char *p, char *name, ngx_uint_t type, u_char *value,
    size_t len)
{
    size_t  n;

    n = ngx_strlen(name);

    *p++ = (u_char) n;
    p = ngx_cpymem(p, name, n);
    *p++ = (u_char) type;

    if (type == 6 || type == 7) {
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;
    }

    if (len) {
        p = ngx_cpymem(p, value, len);
    }

    return p;
}


ngx_int_t
ngx_unit_frame(ngx_pool_t *pool, ngx_str_t *headers, ngx_str_t *payload,
    ngx_str_t *out)
{
    size_t     total;
    u_char    *p;
    uint32_t   crc;

    total = 12 + headers->len + payload->len + 4;

    out->data = ngx_pnalloc(pool, total);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    ngx_unit_frame_u32(p, total);
    ngx_unit_frame_u32(p + 4, headers->len);

    crc = ngx_crc32_long(p, 8);
    ngx_unit_frame_u32(p + 8, crc);

    p += 12;

    if (headers->len) {
        p = ngx_cpymem(p, headers->data, headers->len);
    }

    if (payload->len) {
        p = ngx_cpymem(p, payload->data, payload->len);
    }

    crc = ngx_crc32_long(out->data, p - out->data);
    ngx_unit_frame_u32(p, crc);

    out->len = total;

    return NGX_OK;
}


/*
 * ":message-type" and, unless NULL, type_header (":event-type",
 * ":exception-type", ":error-code") with type, and ":content-type"
 */

ngx_int_t
ngx_unit_frame_event(ngx_pool_t *pool, char *message_type, char *type_header,
    char *type, ngx_str_t *payload, ngx_str_t *out)
{
    u_char     *p;
    ngx_str_t   headers;
    u_char      buf[512];

    if (ngx_strlen(message_type) > 100
        || (type_header && ngx_strlen(type_header) + ngx_strlen(type) > 300))
    {
        return NGX_ERROR;
    }

    p = ngx_unit_frame_header(buf, ":message-type", 7,
                              (u_char *) message_type,
                              ngx_strlen(message_type));

    if (type_header) {
        p = ngx_unit_frame_header(p, type_header, 7, (u_char *) type,
                                  ngx_strlen(type));
    }

    p = ngx_unit_frame_header(p, ":content-type", 7,
                              (u_char *) "application/json", 16);

    headers.data = buf;
    headers.len = p - buf;

    return ngx_unit_frame(pool, &headers, payload, out);
}
