
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_media.h"


/*
 * ngx_bedrock_image_check(): strict base64 and the signature of the
 * declared format.  A case gives either raw bytes, base64-encoded here
 * with nginx's own encoder, or base64 text as a client would send it.
 */


typedef struct {
    char                *name;
    char                *format;
    ngx_str_t            raw;        /* base64-encoded here, if no text */
    ngx_str_t            text;
    char                *want;       /* NULL: accepted, else in the error */
} ngx_unit_media_case_t;


static ngx_unit_media_case_t  ngx_unit_media_cases[] = {

    /* the four formats, with 0, 1 and 2 padding characters */

    { "media/png", "png",
      ngx_string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), ngx_null_string,
      NULL },
    { "media/png-pad1", "png",
      ngx_string("\x89PNG\r\n\x1a\n\0\0\0\rIH"), ngx_null_string,
      NULL },
    { "media/png-pad2", "png",
      ngx_string("\x89PNG\r\n\x1a\n\0\0\0\rI"), ngx_null_string,
      NULL },
    { "media/png-bare-signature", "png",
      ngx_string("\x89PNG\r\n\x1a\n"), ngx_null_string, NULL },
    { "media/jpeg", "jpeg",
      ngx_string("\xff\xd8\xff\xe0\0\x10JFIF\0"), ngx_null_string, NULL },
    { "media/gif87a", "gif",
      ngx_string("GIF87a\x01\0\x01\0"), ngx_null_string, NULL },
    { "media/gif89a", "gif",
      ngx_string("GIF89a\x01\0\x01\0\x80"), ngx_null_string, NULL },
    { "media/webp", "webp",
      ngx_string("RIFF\x1a\0\0\0WEBPVP8L"), ngx_null_string, NULL },

    /* bytes of another format, or too few */

    { "media/png-declared-jpeg-sent", "png",
      ngx_string("\xff\xd8\xff\xe0\0\x10JFIF\0"), ngx_null_string,
      "not a PNG" },
    { "media/jpeg-declared-png-sent", "jpeg",
      ngx_string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), ngx_null_string,
      "not a JPEG" },
    { "media/gif-other-version", "gif",
      ngx_string("GIF88a\x01\0\x01\0"), ngx_null_string, "not a GIF" },
    { "media/webp-riff-not-webp", "webp",
      ngx_string("RIFF\x1a\0\0\0WAVEfmt "), ngx_null_string,
      "not a WebP" },
    { "media/webp-too-short", "webp",
      ngx_string("RIFF\x1a\0\0\0WEB"), ngx_null_string, "not a WebP" },
    { "media/png-truncated-signature", "png",
      ngx_string("\x89PNG\r\n"), ngx_null_string, "not a PNG" },
    { "media/text-as-png", "png",
      ngx_string("hello, this is text"), ngx_null_string, "not a PNG" },

    /* base64 that is not strict */

    { "media/empty", "png",
      ngx_null_string, ngx_string(""), "empty" },
    { "media/not-base64", "png",
      ngx_null_string, ngx_string("@@@@"), "base64" },
    { "media/unpadded", "png",
      ngx_null_string, ngx_string("iVBORw0KGgo"), "base64" },
    { "media/one-char", "png",
      ngx_null_string, ngx_string("i"), "base64" },
    { "media/only-padding", "png",
      ngx_null_string, ngx_string("===="), "base64" },
    { "media/three-pad", "png",
      ngx_null_string, ngx_string("iVBORw0KGgoAA==="), "base64" },
    { "media/pad-inside", "png",
      ngx_null_string, ngx_string("iVBO=w0KGgo="), "base64" },
    { "media/newline", "png",
      ngx_null_string, ngx_string("iVBORw0K\nGgoAAAAN"), "base64" },
    { "media/space", "png",
      ngx_null_string, ngx_string("iVBORw0K GgoAAAA"), "base64" },
    { "media/base64url", "jpeg",
      ngx_null_string, ngx_string("_9j_4AAQ"), "base64" },
    { "media/nul", "png",
      ngx_null_string, ngx_string("iVBORw0KGgo\0"), "base64" },
    { "media/bad-tail", "png",
      ngx_null_string, ngx_string("iVBORw0KGgoAAAANSUhEUg@@"), "base64" },

    /* the same text accepted when it is canonical */

    { "media/png-text", "png",
      ngx_null_string, ngx_string("iVBORw0KGgoAAAANSUhEUg=="), NULL },

    { "media/unknown-format", "bmp",
      ngx_string("BM\0\0"), ngx_null_string, "not supported" },

    { NULL, NULL, ngx_null_string, ngx_null_string, NULL }
};


void
ngx_unit_media(void)
{
    char                   *msg;
    ngx_str_t               format, text;
    ngx_pool_t             *pool;
    ngx_unit_media_case_t  *c;

    pool = ngx_unit_pool();

    for (c = ngx_unit_media_cases; c->name; c++) {

        format.data = (u_char *) c->format;
        format.len = ngx_strlen(c->format);

        if (c->text.data == NULL) {
            text.len = ngx_base64_encoded_length(c->raw.len);
            text.data = ngx_pnalloc(pool, text.len);
            if (text.data == NULL) {
                ngx_unit_fail(c->name, "out of memory");
                continue;
            }

            ngx_encode_base64(&text, &c->raw);

        } else {
            text = c->text;
        }

        msg = ngx_bedrock_image_check(&format, text.data, text.len);

        if (c->want == NULL) {
            if (msg == NULL) {
                ngx_unit_ok(c->name);

            } else {
                ngx_unit_fail(c->name, "refused \"%V\": %s", &text, msg);
            }

            continue;
        }

        if (msg == NULL) {
            ngx_unit_fail(c->name, "accepted \"%V\"", &text);

        } else if (ngx_strstr(msg, c->want) == NULL) {
            ngx_unit_fail(c->name, "message \"%s\" lacks \"%s\"", msg,
                          c->want);

        } else {
            ngx_unit_ok(c->name);
        }
    }

    ngx_destroy_pool(pool);
}
