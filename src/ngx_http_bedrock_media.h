
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_MEDIA_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_MEDIA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Media that clients send inline (images as base64 in data: URLs) and
 * Bedrock takes as base64 "bytes": checked here, before Bedrock is
 * called.  No request state: a function of its arguments.
 */


/*
 * Checks base64 image data against the Bedrock format it is declared as
 * ("png", "jpeg", "gif", "webp"): strict base64 (the standard alphabet, a
 * multiple of 4 characters, "=" padding only at the end), not empty, and
 * decoding to the format's signature.  Returns NULL when it is good, else
 * a message for the client (a static string).
 */
char *ngx_bedrock_image_check(ngx_str_t *format, u_char *data, size_t len);


/*
 * "data:<type>;base64,<data>": NGX_OK with the media type and the base64
 * data, NGX_DECLINED for a URL of another scheme, NGX_ABORT for a data:
 * URL that is not base64.
 */
ngx_int_t ngx_bedrock_data_url(ngx_str_t *url, ngx_str_t *type,
    ngx_str_t *data);

/* an image media type to Bedrock's format: NGX_OK, or NGX_DECLINED */
ngx_int_t ngx_bedrock_image_format(ngx_str_t *type, ngx_str_t *format);

/*
 * Checks a document's media type and base64 data: a type Converse takes
 * (its format, "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt"
 * or "md", goes to *format), strict base64, not empty, and for a PDF the
 * PDF signature.  NULL when it is good, else a message (static).
 */
char *ngx_bedrock_document_check(ngx_str_t *type, u_char *data, size_t len,
    ngx_str_t *format);


#endif /* _NGX_HTTP_BEDROCK_MEDIA_H_INCLUDED_ */
