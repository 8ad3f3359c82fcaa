
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_media.h"


/* the bytes decoded to check a signature: enough for WebP's 12 */
#define NGX_BEDROCK_MEDIA_HEAD  12


typedef struct {
    ngx_str_t                 format;
    size_t                    offset;
    ngx_str_t                 magic;
    size_t                    offset2;    /* a second part, 0: none */
    ngx_str_t                 magic2;
    char                     *mismatch;
} ngx_bedrock_media_sig_t;


static ngx_int_t ngx_bedrock_base64_head(u_char *data, size_t len,
    u_char *head, size_t *n);


static ngx_bedrock_media_sig_t  ngx_bedrock_image_sigs[] = {

    { ngx_string("png"), 0, ngx_string("\x89PNG\r\n\x1a\n"),
      0, ngx_null_string,
      "the image data is not a PNG image, as its data: URL declares" },

    { ngx_string("jpeg"), 0, ngx_string("\xff\xd8\xff"),
      0, ngx_null_string,
      "the image data is not a JPEG image, as its data: URL declares" },

    /* either version */

    { ngx_string("gif"), 0, ngx_string("GIF87a"),
      0, ngx_null_string,
      "the image data is not a GIF image, as its data: URL declares" },

    { ngx_string("gif"), 0, ngx_string("GIF89a"),
      0, ngx_null_string,
      "the image data is not a GIF image, as its data: URL declares" },

    { ngx_string("webp"), 0, ngx_string("RIFF"),
      8, ngx_string("WEBP"),
      "the image data is not a WebP image, as its data: URL declares" },

    { ngx_null_string, 0, ngx_null_string, 0, ngx_null_string, NULL }
};


/* 0..63 for the standard alphabet, 64 for "=", 0xff for anything else */

static u_char  ngx_bedrock_base64_value[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255,  62, 255, 255, 255,  63,  52,  53,  54,  55,  56,  57,  58,  59,
     60,  61, 255, 255, 255,  64, 255, 255, 255,   0,   1,   2,   3,   4,
      5,   6,   7,   8,   9,  10,  11,  12,  13,  14,  15,  16,  17,  18,
     19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255, 255,  26,
     27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255
};


char *
ngx_bedrock_image_check(ngx_str_t *format, u_char *data, size_t len)
{
    size_t                    n;
    u_char                    head[NGX_BEDROCK_MEDIA_HEAD];
    ngx_bedrock_media_sig_t  *sig, *found;

    found = NULL;

    for (sig = ngx_bedrock_image_sigs; sig->format.len; sig++) {
        if (sig->format.len == format->len
            && ngx_strncmp(sig->format.data, format->data, format->len) == 0)
        {
            found = sig;
            break;
        }
    }

    if (found == NULL) {
        return "the image format is not supported; use png, jpeg, gif or "
               "webp";
    }

    if (len == 0) {
        return "the image data is empty";
    }

    if (ngx_bedrock_base64_head(data, len, head, &n) != NGX_OK) {
        return "the image data is not valid base64 (the standard alphabet, "
               "padded with \"=\" to a multiple of 4 characters, nothing "
               "else)";
    }

    /* the format's signatures are next to each other in the table */

    for (sig = found;
         sig->format.len == format->len
         && ngx_strncmp(sig->format.data, format->data, format->len) == 0;
         sig++)
    {
        if (n >= sig->offset + sig->magic.len
            && ngx_memcmp(head + sig->offset, sig->magic.data,
                          sig->magic.len)
               == 0
            && (sig->magic2.len == 0
                || (n >= sig->offset2 + sig->magic2.len
                    && ngx_memcmp(head + sig->offset2, sig->magic2.data,
                                  sig->magic2.len)
                       == 0)))
        {
            return NULL;
        }
    }

    return found->mismatch;
}


/*
 * Validates all of data as strict base64 and decodes its first bytes
 * (up to NGX_BEDROCK_MEDIA_HEAD) into head; *n: how many.  One pass,
 * linear in len.
 */

static ngx_int_t
ngx_bedrock_base64_head(u_char *data, size_t len, u_char *head, size_t *n)
{
    size_t     i, pad, out;
    u_char     v;
    uint32_t   quantum;

    if (len % 4 != 0) {
        return NGX_ERROR;
    }

    pad = 0;

    if (data[len - 1] == '=') {
        pad = (data[len - 2] == '=') ? 2 : 1;
    }

    out = 0;
    quantum = 0;

    for (i = 0; i < len; i++) {
        v = ngx_bedrock_base64_value[data[i]];

        if (v == 64 && i >= len - pad) {
            v = 0;

        } else if (v > 63) {
            return NGX_ERROR;
        }

        quantum = (quantum << 6) | v;

        if (i % 4 == 3) {

            if (out + 3 <= NGX_BEDROCK_MEDIA_HEAD) {
                head[out++] = (u_char) (quantum >> 16);
                head[out++] = (u_char) (quantum >> 8);
                head[out++] = (u_char) quantum;
            }

            quantum = 0;
        }
    }

    /* the padding's bytes are not data */

    *n = ngx_min(out, len / 4 * 3 - pad);

    return NGX_OK;
}


ngx_int_t
ngx_bedrock_data_url(ngx_str_t *url, ngx_str_t *type, ngx_str_t *data)
{
    u_char  *p, *comma, *last;

    p = url->data;
    last = p + url->len;

    if (url->len < 5 || ngx_strncasecmp(p, (u_char *) "data:", 5) != 0) {
        return NGX_DECLINED;
    }

    p += 5;
    comma = ngx_strlchr(p, last, ',');

    if (comma == NULL || comma - p < 7
        || ngx_strncasecmp(comma - 7, (u_char *) ";base64", 7) != 0)
    {
        return NGX_ABORT;
    }

    type->data = p;
    type->len = comma - 7 - p;

    data->data = comma + 1;
    data->len = last - comma - 1;

    return NGX_OK;
}


typedef struct {
    ngx_str_t                 type;
    ngx_str_t                 format;
} ngx_bedrock_media_type_t;


static ngx_bedrock_media_type_t  ngx_bedrock_image_types[] = {
    { ngx_string("image/png"), ngx_string("png") },
    { ngx_string("image/jpeg"), ngx_string("jpeg") },
    { ngx_string("image/jpg"), ngx_string("jpeg") },
    { ngx_string("image/gif"), ngx_string("gif") },
    { ngx_string("image/webp"), ngx_string("webp") },
    { ngx_null_string, ngx_null_string }
};


static ngx_bedrock_media_type_t  ngx_bedrock_document_types[] = {
    { ngx_string("application/pdf"), ngx_string("pdf") },
    { ngx_string("text/csv"), ngx_string("csv") },
    { ngx_string("application/msword"), ngx_string("doc") },
    { ngx_string("application/vnd.openxmlformats-officedocument."
                 "wordprocessingml.document"), ngx_string("docx") },
    { ngx_string("application/vnd.ms-excel"), ngx_string("xls") },
    { ngx_string("application/vnd.openxmlformats-officedocument."
                 "spreadsheetml.sheet"), ngx_string("xlsx") },
    { ngx_string("text/html"), ngx_string("html") },
    { ngx_string("text/plain"), ngx_string("txt") },
    { ngx_string("text/markdown"), ngx_string("md") },
    { ngx_null_string, ngx_null_string }
};


static ngx_int_t
ngx_bedrock_media_format(ngx_bedrock_media_type_t *types, ngx_str_t *type,
    ngx_str_t *format)
{
    for ( /* void */ ; types->type.len; types++) {
        if (types->type.len == type->len
            && ngx_strncasecmp(types->type.data, type->data, type->len) == 0)
        {
            *format = types->format;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_bedrock_image_format(ngx_str_t *type, ngx_str_t *format)
{
    return ngx_bedrock_media_format(ngx_bedrock_image_types, type, format);
}


char *
ngx_bedrock_document_check(ngx_str_t *type, u_char *data, size_t len,
    ngx_str_t *format)
{
    size_t  n;
    u_char  head[NGX_BEDROCK_MEDIA_HEAD];

    if (ngx_bedrock_media_format(ngx_bedrock_document_types, type, format)
        != NGX_OK)
    {
        return "the file's media type is not supported; send a PDF, CSV, "
               "Word, Excel, HTML, text or Markdown document";
    }

    if (len == 0) {
        return "the file data is empty";
    }

    if (ngx_bedrock_base64_head(data, len, head, &n) != NGX_OK) {
        return "the file data is not valid base64 (the standard alphabet, "
               "padded with \"=\" to a multiple of 4 characters, nothing "
               "else)";
    }

    if (format->len == 3 && ngx_strncmp(format->data, "pdf", 3) == 0
        && (n < 5 || ngx_memcmp(head, "%PDF-", 5) != 0))
    {
        return "the file data is not a PDF document, as its data: URL "
               "declares";
    }

    return NULL;
}
