
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_UNIT_H_INCLUDED_
#define _NGX_UNIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"


/*
 * A small test harness: each case prints "ok" or "FAIL" and is counted;
 * vectors are read at run time from ngx_unit_vectors (NULL: absent, and
 * the cases that need them are counted as skipped).
 */


typedef struct {
    ngx_uint_t                passed;
    ngx_uint_t                failed;
    ngx_uint_t                skipped;
} ngx_unit_counts_t;


extern ngx_unit_counts_t   ngx_unit_counts;
extern char               *ngx_unit_vectors;
extern ngx_log_t          *ngx_unit_log;
extern ngx_str_t           ngx_unit_empty;


/* ngx_unit_nginx.c */
ngx_log_t *ngx_unit_init(void);

/* ngx_unit.c */
ngx_pool_t *ngx_unit_pool(void);
void ngx_unit_print(const char *fmt, ...);
void ngx_unit_ok(char *name);
void ngx_unit_fail(char *name, const char *fmt, ...);
void ngx_unit_skip(char *suite, ngx_uint_t n, char *why);
ngx_uint_t ngx_unit_result(char *name, ngx_str_t *failure);
void ngx_unit_note(ngx_pool_t *pool, ngx_str_t *failure, const char *fmt,
    ...);
void ngx_unit_compare(ngx_pool_t *pool, ngx_str_t *failure, char *what,
    ngx_str_t *got, ngx_str_t *want);

char *ngx_unit_path(ngx_pool_t *pool, const char *fmt, ...);
ngx_int_t ngx_unit_read(ngx_pool_t *pool, char *path, ngx_str_t *out);
ngx_int_t ngx_unit_is_dir(char *path);
ngx_int_t ngx_unit_list(ngx_pool_t *pool, char *dir, ngx_array_t *names);
ngx_int_t ngx_unit_base64(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out);
ngx_int_t ngx_unit_json(ngx_pool_t *pool, ngx_str_t *text,
    ngx_bedrock_json_t **root);
ngx_int_t ngx_unit_number(ngx_bedrock_json_t *v, int64_t *n);
ngx_int_t ngx_unit_sse(ngx_pool_t *pool, ngx_str_t *sse, ngx_array_t *events);

#define ngx_unit_equal(a, b)                                                 \
    ((a)->len == (b)->len                                                    \
     && ((a)->len == 0 || ngx_memcmp((a)->data, (b)->data, (a)->len) == 0))

/* ngx_unit_frame.c: event-stream frames, for the tests and the seeds */
u_char *ngx_unit_frame_header(u_char *p, char *name, ngx_uint_t type,
    u_char *value, size_t len);
ngx_int_t ngx_unit_frame(ngx_pool_t *pool, ngx_str_t *headers,
    ngx_str_t *payload, ngx_str_t *out);
ngx_int_t ngx_unit_frame_event(ngx_pool_t *pool, char *message_type,
    char *type_header, char *type, ngx_str_t *payload, ngx_str_t *out);

/* for "%V": nginx copies even zero bytes from a NULL pointer */
#define ngx_unit_v(s)  ((s)->data ? (s) : &ngx_unit_empty)

/* the suites */
void ngx_unit_sigv4(void);
void ngx_unit_eventstream(void);
void ngx_unit_stream(void);
void ngx_unit_media(void);
void ngx_unit_hostile(void);
void ngx_unit_error(void);
void ngx_unit_credentials(void);
void ngx_unit_url(void);
void ngx_unit_writer(void);


#endif /* _NGX_UNIT_H_INCLUDED_ */
