
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_JSON_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>


/*
 * A small JSON document model on top of yajl's parser: parsed values live
 * in the pool, nothing here knows about HTTP requests.  The writer is our
 * own, byte for byte what yajl's generator writes, without its callbacks.
 */


typedef enum {
    NGX_BEDROCK_JSON_NULL = 0,
    NGX_BEDROCK_JSON_FALSE,
    NGX_BEDROCK_JSON_TRUE,
    NGX_BEDROCK_JSON_NUMBER,
    NGX_BEDROCK_JSON_STRING,
    NGX_BEDROCK_JSON_ARRAY,
    NGX_BEDROCK_JSON_OBJECT
} ngx_bedrock_json_type_e;


typedef struct ngx_bedrock_json_s  ngx_bedrock_json_t;

/* 56 bytes on 64-bit systems: a request may hold 262,144 of them */

struct ngx_bedrock_json_s {
    ngx_bedrock_json_type_e   type;
    uint32_t                  n;        /* number of children */
    ngx_str_t                 key;      /* member name inside an object */
    ngx_str_t                 value;    /* string bytes or number text */
    ngx_bedrock_json_t       *child;    /* first element or member */
    ngx_bedrock_json_t       *next;
};


/* the writer's levels, as yajl's generator: a deeper value is refused */
#define NGX_BEDROCK_JW_DEPTH  128


/* a JSON writer into pool memory; calls are no-ops after a failure */
typedef struct {
    ngx_pool_t               *pool;
    u_char                   *start;
    u_char                   *pos;
    u_char                   *end;
    size_t                    max;
    ngx_int_t                 rc;
    ngx_uint_t                depth;
    u_char                    state[NGX_BEDROCK_JW_DEPTH];
} ngx_bedrock_jw_t;


/*
 * What is parsed is written again inside a few levels of envelope, within
 * the writer's NGX_BEDROCK_JW_DEPTH
 */
#define NGX_BEDROCK_JSON_MAX_DEPTH  100


/* zeroed before the first parse; parses into one pool may share it */

typedef struct {
    ngx_pool_t               *pool;     /* the tree */
    ngx_pool_t               *scratch;  /* yajl's memory; NULL: pool */
    ngx_uint_t               *budget;   /* values left; NULL: no limit */
    ngx_uint_t                strict;   /* refuse strings not UTF-8 */

    /* nodes taken from pool and not used yet, for the next parse */
    ngx_bedrock_json_t       *free;
    ngx_uint_t                nfree;
} ngx_bedrock_json_opts_t;


/* the longest JSON path a strict parse names */
#define NGX_BEDROCK_JSON_PATH_MAX   256


/*
 * Strings without escapes point into the parsed text: it must outlive
 * the tree.
 */
ngx_int_t ngx_bedrock_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_uint_t *budget, ngx_bedrock_json_t **root, ngx_str_t *error);
ngx_int_t ngx_bedrock_json_parse_opts(ngx_bedrock_json_opts_t *opts,
    u_char *data, size_t len, ngx_bedrock_json_t **root, ngx_str_t *error);
ngx_uint_t ngx_bedrock_utf8_valid(u_char *p, size_t len);
ngx_int_t ngx_bedrock_str_copy(ngx_pool_t *pool, ngx_str_t *s);
ngx_bedrock_json_t *ngx_bedrock_json_get(ngx_bedrock_json_t *obj,
    char *key);
ngx_uint_t ngx_bedrock_json_is_null(ngx_bedrock_json_t *v);
ngx_int_t ngx_bedrock_json_int(ngx_bedrock_json_t *v, ngx_int_t *n);
ngx_int_t ngx_bedrock_json_double(ngx_bedrock_json_t *v, double *d);

void ngx_bedrock_yajl_funcs(yajl_alloc_funcs *funcs, ngx_pool_t *pool);
ngx_int_t ngx_bedrock_jw_init(ngx_bedrock_jw_t *w, ngx_pool_t *pool,
    size_t size, size_t max);
ngx_int_t ngx_bedrock_jw_finish(ngx_bedrock_jw_t *w, ngx_str_t *out);
ngx_int_t ngx_bedrock_jw_copy(ngx_bedrock_jw_t *w, ngx_pool_t *pool,
    ngx_str_t *out);
void ngx_bedrock_jw_raw(ngx_bedrock_jw_t *w, char *s, size_t len);
void ngx_bedrock_jw_reset(ngx_bedrock_jw_t *w);
void ngx_bedrock_jw_event(ngx_bedrock_jw_t *w, char *type);
void ngx_bedrock_jw_event_end(ngx_bedrock_jw_t *w);
void ngx_bedrock_jw_key(ngx_bedrock_jw_t *w, char *key);
void ngx_bedrock_jw_str(ngx_bedrock_jw_t *w, ngx_str_t *s);
void ngx_bedrock_jw_cstr(ngx_bedrock_jw_t *w, char *s);
void ngx_bedrock_jw_null_str(ngx_bedrock_jw_t *w, ngx_str_t *s);
void ngx_bedrock_jw_int(ngx_bedrock_jw_t *w, ngx_int_t n);
void ngx_bedrock_jw_number(ngx_bedrock_jw_t *w, ngx_str_t *text);
void ngx_bedrock_jw_bool(ngx_bedrock_jw_t *w, ngx_uint_t b);
void ngx_bedrock_jw_null(ngx_bedrock_jw_t *w);
void ngx_bedrock_jw_open(ngx_bedrock_jw_t *w, ngx_uint_t array);
void ngx_bedrock_jw_close(ngx_bedrock_jw_t *w, ngx_uint_t array);
void ngx_bedrock_jw_value(ngx_bedrock_jw_t *w, ngx_bedrock_json_t *v);
ngx_int_t ngx_bedrock_json_serialize(ngx_pool_t *pool, ngx_bedrock_json_t *v,
    ngx_str_t *out);


#define ngx_bedrock_json_is_str(v, s)                                        \
    ((v) != NULL && (v)->type == NGX_BEDROCK_JSON_STRING                     \
     && (v)->value.len == sizeof(s) - 1                                      \
     && ngx_strncmp((v)->value.data, s, sizeof(s) - 1) == 0)

#define ngx_bedrock_jw_obj(w)        ngx_bedrock_jw_open(w, 0)
#define ngx_bedrock_jw_obj_end(w)    ngx_bedrock_jw_close(w, 0)
#define ngx_bedrock_jw_arr(w)        ngx_bedrock_jw_open(w, 1)
#define ngx_bedrock_jw_arr_end(w)    ngx_bedrock_jw_close(w, 1)


#endif /* _NGX_HTTP_BEDROCK_JSON_H_INCLUDED_ */
