
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_bedrock_json.h"


typedef struct {
    ngx_pool_t               *pool;
    ngx_bedrock_json_t       *root;
    ngx_bedrock_json_t       *current;
    ngx_str_t                 key;
    ngx_uint_t                depth;
    ngx_uint_t               *budget;   /* values left; NULL: no limit */
    char                     *error;
} ngx_bedrock_json_parser_t;


static ngx_bedrock_json_t *ngx_bedrock_json_add(ngx_bedrock_json_parser_t *p,
    ngx_bedrock_json_type_e type);
static int ngx_bedrock_json_on_null(void *ctx);
static int ngx_bedrock_json_on_bool(void *ctx, int b);
static int ngx_bedrock_json_on_number(void *ctx, const char *s, size_t len);
static int ngx_bedrock_json_on_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_bedrock_json_on_start(ngx_bedrock_json_parser_t *p,
    ngx_bedrock_json_type_e type);
static int ngx_bedrock_json_on_start_map(void *ctx);
static int ngx_bedrock_json_on_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_bedrock_json_on_end(void *ctx);
static int ngx_bedrock_json_on_start_array(void *ctx);
static void ngx_bedrock_jw_print(void *ctx, const char *s, size_t len);
static void *ngx_bedrock_yajl_malloc(void *ctx, size_t size);
static void *ngx_bedrock_yajl_realloc(void *ctx, void *ptr, size_t size);
static void ngx_bedrock_yajl_free(void *ctx, void *ptr);
static ngx_int_t ngx_bedrock_utf8_sanitize(ngx_pool_t *pool, ngx_str_t *s,
    ngx_str_t *out);


static yajl_callbacks  ngx_bedrock_json_callbacks = {
    ngx_bedrock_json_on_null,
    ngx_bedrock_json_on_bool,
    NULL,
    NULL,
    ngx_bedrock_json_on_number,
    ngx_bedrock_json_on_string,
    ngx_bedrock_json_on_start_map,
    ngx_bedrock_json_on_key,
    ngx_bedrock_json_on_end,
    ngx_bedrock_json_on_start_array,
    ngx_bedrock_json_on_end
};


ngx_int_t
ngx_bedrock_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_uint_t *budget, ngx_bedrock_json_t **root, ngx_str_t *error)
{
    u_char                     *msg;
    yajl_handle                 h;
    yajl_status                 st;
    yajl_alloc_funcs            funcs;
    ngx_bedrock_json_parser_t   p;

    ngx_memzero(&p, sizeof(ngx_bedrock_json_parser_t));
    p.pool = pool;
    p.budget = budget;

    ngx_bedrock_yajl_funcs(&funcs, pool);

    h = yajl_alloc(&ngx_bedrock_json_callbacks, &funcs, &p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(h, data, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && p.root != NULL) {
        yajl_free(h);
        *root = p.root;
        return NGX_OK;
    }

    if (p.error != NULL) {

        /* a limit was reached in a callback */

        error->data = (u_char *) p.error;
        error->len = ngx_strlen(p.error);

    } else if (st == yajl_status_client_canceled) {
        yajl_free(h);
        return NGX_ERROR;

    } else {
        msg = yajl_get_error(h, 0, data, len);

        if (msg == NULL) {
            ngx_str_set(error, "invalid JSON");

        } else {
            error->len = ngx_strlen(msg);
            error->data = ngx_pnalloc(pool, error->len);

            if (error->data == NULL) {
                yajl_free_error(h, msg);
                yajl_free(h);
                return NGX_ERROR;
            }

            ngx_memcpy(error->data, msg, error->len);
            yajl_free_error(h, msg);
        }
    }

    yajl_free(h);

    return NGX_DECLINED;
}


static ngx_bedrock_json_t *
ngx_bedrock_json_add(ngx_bedrock_json_parser_t *p,
    ngx_bedrock_json_type_e type)
{
    ngx_bedrock_json_t  *v, *parent;

    if (p->budget) {
        if (*p->budget == 0) {
            p->error = "too many JSON values";
            return NULL;
        }

        (*p->budget)--;
    }

    v = ngx_pcalloc(p->pool, sizeof(ngx_bedrock_json_t));
    if (v == NULL) {
        return NULL;
    }

    v->type = type;
    parent = p->current;

    if (parent == NULL) {
        p->root = v;
        return v;
    }

    if (parent->type == NGX_BEDROCK_JSON_OBJECT) {
        v->key = p->key;
    }

    v->parent = parent;

    if (parent->last) {
        parent->last->next = v;

    } else {
        parent->child = v;
    }

    parent->last = v;
    parent->n++;

    return v;
}


static int
ngx_bedrock_json_on_null(void *ctx)
{
    return ngx_bedrock_json_add(ctx, NGX_BEDROCK_JSON_NULL) != NULL;
}


static int
ngx_bedrock_json_on_bool(void *ctx, int b)
{
    return ngx_bedrock_json_add(ctx, b ? NGX_BEDROCK_JSON_TRUE
                                       : NGX_BEDROCK_JSON_FALSE)
           != NULL;
}


static int
ngx_bedrock_json_on_number(void *ctx, const char *s, size_t len)
{
    ngx_bedrock_json_t         *v;
    ngx_bedrock_json_parser_t  *p = ctx;

    v = ngx_bedrock_json_add(p, NGX_BEDROCK_JSON_NUMBER);
    if (v == NULL) {
        return 0;
    }

    v->value.data = ngx_pnalloc(p->pool, len);
    if (v->value.data == NULL) {
        return 0;
    }

    ngx_memcpy(v->value.data, s, len);
    v->value.len = len;

    return 1;
}


static int
ngx_bedrock_json_on_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_bedrock_json_t         *v;
    ngx_bedrock_json_parser_t  *p = ctx;

    v = ngx_bedrock_json_add(p, NGX_BEDROCK_JSON_STRING);
    if (v == NULL) {
        return 0;
    }

    v->value.data = ngx_pnalloc(p->pool, len);
    if (v->value.data == NULL) {
        return 0;
    }

    ngx_memcpy(v->value.data, s, len);
    v->value.len = len;

    return 1;
}


static int
ngx_bedrock_json_on_start(ngx_bedrock_json_parser_t *p,
    ngx_bedrock_json_type_e type)
{
    ngx_bedrock_json_t  *v;

    if (++p->depth > NGX_BEDROCK_JSON_MAX_DEPTH) {
        p->error = "JSON nesting is too deep";
        return 0;
    }

    v = ngx_bedrock_json_add(p, type);
    if (v == NULL) {
        return 0;
    }

    p->current = v;

    return 1;
}


static int
ngx_bedrock_json_on_start_map(void *ctx)
{
    return ngx_bedrock_json_on_start(ctx, NGX_BEDROCK_JSON_OBJECT);
}


static int
ngx_bedrock_json_on_start_array(void *ctx)
{
    return ngx_bedrock_json_on_start(ctx, NGX_BEDROCK_JSON_ARRAY);
}


static int
ngx_bedrock_json_on_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_bedrock_json_parser_t  *p = ctx;

    p->key.data = ngx_pnalloc(p->pool, len);
    if (p->key.data == NULL) {
        return 0;
    }

    ngx_memcpy(p->key.data, s, len);
    p->key.len = len;

    return 1;
}


static int
ngx_bedrock_json_on_end(void *ctx)
{
    ngx_bedrock_json_parser_t  *p = ctx;

    p->depth--;
    p->current = p->current->parent;

    return 1;
}


ngx_bedrock_json_t *
ngx_bedrock_json_get(ngx_bedrock_json_t *obj, char *key)
{
    size_t               len;
    ngx_bedrock_json_t  *v;

    if (obj == NULL || obj->type != NGX_BEDROCK_JSON_OBJECT) {
        return NULL;
    }

    len = ngx_strlen(key);

    /* the last occurrence wins, as in most JSON readers */

    for (v = obj->child, obj = NULL; v; v = v->next) {
        if (v->key.len == len && ngx_strncmp(v->key.data, key, len) == 0) {
            obj = v;
        }
    }

    return obj;
}


ngx_uint_t
ngx_bedrock_json_is_null(ngx_bedrock_json_t *v)
{
    return v == NULL || v->type == NGX_BEDROCK_JSON_NULL;
}


ngx_int_t
ngx_bedrock_json_int(ngx_bedrock_json_t *v, ngx_int_t *n)
{
    ngx_int_t  i;

    if (v == NULL || v->type != NGX_BEDROCK_JSON_NUMBER) {
        return NGX_ERROR;
    }

    /* integers only: a leading minus, exponents and fractions are refused */

    i = ngx_atoi(v->value.data, v->value.len);
    if (i == NGX_ERROR) {
        return NGX_ERROR;
    }

    *n = i;

    return NGX_OK;
}


ngx_int_t
ngx_bedrock_json_double(ngx_bedrock_json_t *v, double *d)
{
    u_char  *end, buf[64];

    if (v == NULL || v->type != NGX_BEDROCK_JSON_NUMBER
        || v->value.len >= sizeof(buf))
    {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, v->value.data, v->value.len);
    buf[v->value.len] = '\0';

    *d = strtod((char *) buf, (char **) &end);

    if (end != buf + v->value.len) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_bedrock_jw_init(ngx_bedrock_jw_t *w, ngx_pool_t *pool, size_t size,
    size_t max)
{
    yajl_alloc_funcs  funcs;

    ngx_memzero(w, sizeof(ngx_bedrock_jw_t));

    w->pool = pool;
    w->max = max;

    if (max && size > max) {
        size = max;
    }

    w->start = ngx_pnalloc(pool, size);
    if (w->start == NULL) {
        return NGX_ERROR;
    }

    w->pos = w->start;
    w->end = w->start + size;

    ngx_bedrock_yajl_funcs(&funcs, pool);

    w->gen = yajl_gen_alloc(&funcs);
    if (w->gen == NULL) {
        return NGX_ERROR;
    }

    yajl_gen_config(w->gen, yajl_gen_print_callback, ngx_bedrock_jw_print, w);
    yajl_gen_config(w->gen, yajl_gen_validate_utf8, 1);

    return NGX_OK;
}


/*
 * yajl allocates from the pool: nothing to free on any path, and no heap
 * allocation per call where the pool has room (a stream's scratch pool is
 * reset after each event)
 */

void
ngx_bedrock_yajl_funcs(yajl_alloc_funcs *funcs, ngx_pool_t *pool)
{
    funcs->malloc = ngx_bedrock_yajl_malloc;
    funcs->realloc = ngx_bedrock_yajl_realloc;
    funcs->free = ngx_bedrock_yajl_free;
    funcs->ctx = pool;
}


static void *
ngx_bedrock_yajl_malloc(void *ctx, size_t size)
{
    size_t  *p;

    p = ngx_palloc(ctx, sizeof(size_t) + size);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_bedrock_yajl_realloc(void *ctx, void *ptr, size_t size)
{
    void    *p;
    size_t  *old;

    if (ptr == NULL) {
        return ngx_bedrock_yajl_malloc(ctx, size);
    }

    old = (size_t *) ptr - 1;

    if (*old >= size) {
        return ptr;
    }

    p = ngx_bedrock_yajl_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, *old);
    ngx_bedrock_yajl_free(ctx, ptr);

    return p;
}


static void
ngx_bedrock_yajl_free(void *ctx, void *ptr)
{
    if (ptr) {
        /* frees large allocations only; small ones live with the pool */
        (void) ngx_pfree(ctx, (size_t *) ptr - 1);
    }
}


static void
ngx_bedrock_jw_print(void *ctx, const char *s, size_t len)
{
    size_t             size, used;
    u_char            *p;
    ngx_bedrock_jw_t  *w = ctx;

    if (w->rc != NGX_OK) {
        return;
    }

    used = w->pos - w->start;

    if ((size_t) (w->end - w->pos) < len) {

        if (w->max && (used > w->max || len > w->max - used)) {
            w->rc = NGX_DECLINED;
            return;
        }

        size = w->end - w->start;

        do {
            size *= 2;
        } while (size - used < len);

        if (w->max && size > w->max) {
            size = w->max;
        }

        p = ngx_pnalloc(w->pool, size);
        if (p == NULL) {
            w->rc = NGX_ERROR;
            return;
        }

        w->pos = ngx_cpymem(p, w->start, used);
        ngx_pfree(w->pool, w->start);
        w->start = p;
        w->end = p + size;
    }

    w->pos = ngx_cpymem(w->pos, s, len);
}


ngx_int_t
ngx_bedrock_jw_finish(ngx_bedrock_jw_t *w, ngx_str_t *out)
{
    if (w->gen) {
        yajl_gen_free(w->gen);
        w->gen = NULL;
    }

    if (w->rc != NGX_OK) {
        return w->rc;
    }

    out->data = w->start;
    out->len = w->pos - w->start;

    return NGX_OK;
}


/* bytes outside JSON values, such as SSE framing */

void
ngx_bedrock_jw_raw(ngx_bedrock_jw_t *w, char *s, size_t len)
{
    ngx_bedrock_jw_print(w, s, len);
}


/* after a complete value: ready for the next one */

void
ngx_bedrock_jw_reset(ngx_bedrock_jw_t *w)
{
    if (w->gen) {
        yajl_gen_reset(w->gen, NULL);
    }
}


static void
ngx_bedrock_jw_check(ngx_bedrock_jw_t *w, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok && w->rc == NGX_OK) {
        w->rc = NGX_ERROR;
    }
}


void
ngx_bedrock_jw_key(ngx_bedrock_jw_t *w, char *key)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, yajl_gen_string(w->gen, (u_char *) key,
                                                ngx_strlen(key)));
    }
}


void
ngx_bedrock_jw_str(ngx_bedrock_jw_t *w, ngx_str_t *s)
{
    ngx_str_t        valid;
    yajl_gen_status  st;

    if (w->rc != NGX_OK) {
        return;
    }

    st = yajl_gen_string(w->gen, s->data, s->len);

    if (st == yajl_gen_invalid_string) {

        /* bytes from a URI, or text cut short: not UTF-8 */

        if (ngx_bedrock_utf8_sanitize(w->pool, s, &valid) != NGX_OK) {
            w->rc = NGX_ERROR;
            return;
        }

        st = yajl_gen_string(w->gen, valid.data, valid.len);
    }

    ngx_bedrock_jw_check(w, st);
}


/* a copy with every byte that is not part of valid UTF-8 as U+FFFD */

static ngx_int_t
ngx_bedrock_utf8_sanitize(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *out)
{
    u_char    *p, *q, *k, *last, *dst;
    uint32_t   c;

    dst = ngx_pnalloc(pool, s->len * 3);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    p = s->data;
    last = s->data + s->len;

    while (p < last) {

        if (*p < 0x80) {
            *dst++ = *p++;
            continue;
        }

        q = p;
        c = ngx_utf8_decode(&q, last - p);

        /* ngx_utf8_decode() takes any byte over 0x7f as a continuation */

        for (k = p + 1; k < q && (*k & 0xc0) == 0x80; k++) {
            /* void */
        }

        if (*p > 0xf4 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)
            || k != q)
        {
            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            p++;
            continue;
        }

        dst = ngx_cpymem(dst, p, q - p);
        p = q;
    }

    out->len = dst - out->data;

    return NGX_OK;
}


void
ngx_bedrock_jw_cstr(ngx_bedrock_jw_t *w, char *s)
{
    ngx_bedrock_jw_key(w, s);
}


void
ngx_bedrock_jw_null_str(ngx_bedrock_jw_t *w, ngx_str_t *s)
{
    if (s->data == NULL) {
        ngx_bedrock_jw_null(w);

    } else {
        ngx_bedrock_jw_str(w, s);
    }
}


void
ngx_bedrock_jw_int(ngx_bedrock_jw_t *w, ngx_int_t n)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, yajl_gen_integer(w->gen, n));
    }
}


void
ngx_bedrock_jw_number(ngx_bedrock_jw_t *w, ngx_str_t *text)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, yajl_gen_number(w->gen, (char *) text->data,
                                                text->len));
    }
}


void
ngx_bedrock_jw_bool(ngx_bedrock_jw_t *w, ngx_uint_t b)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, yajl_gen_bool(w->gen, b ? 1 : 0));
    }
}


void
ngx_bedrock_jw_null(ngx_bedrock_jw_t *w)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, yajl_gen_null(w->gen));
    }
}


void
ngx_bedrock_jw_open(ngx_bedrock_jw_t *w, ngx_uint_t array)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, array ? yajl_gen_array_open(w->gen)
                                      : yajl_gen_map_open(w->gen));
    }
}


void
ngx_bedrock_jw_close(ngx_bedrock_jw_t *w, ngx_uint_t array)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_check(w, array ? yajl_gen_array_close(w->gen)
                                      : yajl_gen_map_close(w->gen));
    }
}


void
ngx_bedrock_jw_value(ngx_bedrock_jw_t *w, ngx_bedrock_json_t *v)
{
    ngx_bedrock_json_t  *c;

    if (v == NULL) {
        ngx_bedrock_jw_null(w);
        return;
    }

    switch (v->type) {

    case NGX_BEDROCK_JSON_NULL:
        ngx_bedrock_jw_null(w);
        break;

    case NGX_BEDROCK_JSON_FALSE:
    case NGX_BEDROCK_JSON_TRUE:
        ngx_bedrock_jw_bool(w, v->type == NGX_BEDROCK_JSON_TRUE);
        break;

    case NGX_BEDROCK_JSON_NUMBER:
        ngx_bedrock_jw_number(w, &v->value);
        break;

    case NGX_BEDROCK_JSON_STRING:
        ngx_bedrock_jw_str(w, &v->value);
        break;

    case NGX_BEDROCK_JSON_ARRAY:
    case NGX_BEDROCK_JSON_OBJECT:

        /* depth is bounded by NGX_BEDROCK_JSON_MAX_DEPTH at parse time */

        ngx_bedrock_jw_open(w, v->type == NGX_BEDROCK_JSON_ARRAY);

        for (c = v->child; c; c = c->next) {
            if (v->type == NGX_BEDROCK_JSON_OBJECT) {
                ngx_bedrock_jw_str(w, &c->key);
            }

            ngx_bedrock_jw_value(w, c);
        }

        ngx_bedrock_jw_close(w, v->type == NGX_BEDROCK_JSON_ARRAY);
        break;
    }
}


ngx_int_t
ngx_bedrock_json_serialize(ngx_pool_t *pool, ngx_bedrock_json_t *v,
    ngx_str_t *out)
{
    ngx_bedrock_jw_t  w;

    if (ngx_bedrock_jw_init(&w, pool, 256, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_value(&w, v);

    return ngx_bedrock_jw_finish(&w, out);
}
