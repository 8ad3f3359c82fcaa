
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


#endif /* _NGX_HTTP_BEDROCK_MEDIA_H_INCLUDED_ */
