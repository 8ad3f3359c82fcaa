
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * What the libFuzzer targets share: nginx's globals, a fresh pool per
 * input, and oracles that abort() when the module writes something a
 * client could not read.  The targets are built twice: with clang and
 * libFuzzer to fuzz, and with gcc and ngx_fuzz_replay.c to replay the
 * corpus and the regressions in the unit run.
 */


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

ngx_pool_t *ngx_fuzz_pool(void);
void ngx_fuzz_json(ngx_str_t *json, const char *what);
int ngx_fuzz_utf8(u_char *p, size_t len);
void ngx_fuzz_sse(ngx_str_t *sse, const char *what);
void ngx_fuzz_fail(const char *what, ngx_str_t *out);
void ngx_fuzz_abort(const char *what);


#endif /* _NGX_FUZZ_H_INCLUDED_ */
