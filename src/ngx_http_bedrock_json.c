
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_bedrock_json.h"


/* nodes are taken from the pool this many at a time */
#define NGX_BEDROCK_JSON_CHUNK  64


typedef struct {
    ngx_pool_t               *pool;
    u_char                   *start;    /* the text parsed */
    u_char                   *end;
    ngx_bedrock_json_t       *root;
    ngx_bedrock_json_t       *current;
    ngx_bedrock_json_t       *free;     /* nodes allocated, not yet used */
    ngx_uint_t                nfree;
    ngx_str_t                 key;
    ngx_uint_t                depth;
    ngx_uint_t               *budget;   /* values left; NULL: no limit */
    ngx_uint_t                strict;   /* refuse strings not UTF-8 */
    ngx_uint_t                bad_key;  /* the bad string was a key */
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
static ngx_int_t ngx_bedrock_json_copy(ngx_bedrock_json_parser_t *p,
    const u_char *s, size_t len, ngx_str_t *out);
static ngx_int_t ngx_bedrock_json_path(ngx_bedrock_json_parser_t *p,
    ngx_str_t *path);
static size_t ngx_bedrock_utf8_seq(u_char *p, u_char *last);
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
    ngx_bedrock_json_opts_t  opts;

    ngx_memzero(&opts, sizeof(ngx_bedrock_json_opts_t));
    opts.pool = pool;
    opts.budget = budget;

    return ngx_bedrock_json_parse_opts(&opts, data, len, root, error);
}


/*
 * NGX_OK, NGX_DECLINED with the reason in error (syntax, a limit), or, in
 * strict mode, NGX_ABORT with the JSON path of the string that is not
 * UTF-8 in error ("" for the root, "messages[0].content").
 *
 * yajl's own UTF-8 check is off: it takes overlong forms, surrogates and
 * code points past U+10FFFF.  Strict parses refuse those; the others keep
 * them, and the writer replaces them.
 */

ngx_int_t
ngx_bedrock_json_parse_opts(ngx_bedrock_json_opts_t *opts, u_char *data,
    size_t len, ngx_bedrock_json_t **root, ngx_str_t *error)
{
    u_char                     *msg;
    ngx_int_t                   rc;
    yajl_handle                 h;
    yajl_status                 st;
    yajl_alloc_funcs            funcs;
    ngx_bedrock_json_parser_t   p;

    ngx_memzero(&p, sizeof(ngx_bedrock_json_parser_t));
    p.pool = opts->pool;
    p.budget = opts->budget;
    p.strict = opts->strict;
    p.start = data;
    p.end = data + len;

    /* yajl's handle and buffers: in scratch memory where there is some */

    ngx_bedrock_yajl_funcs(&funcs, opts->scratch ? opts->scratch
                                                 : opts->pool);

    h = yajl_alloc(&ngx_bedrock_json_callbacks, &funcs, &p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    yajl_config(h, yajl_dont_validate_strings, 1);

    st = yajl_parse(h, data, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && p.root != NULL) {
        yajl_free(h);
        *root = p.root;
        return NGX_OK;
    }

    rc = NGX_DECLINED;

    if (p.error != NULL && p.error[0] == '\0') {

        /* strict: a string that is not UTF-8 */

        rc = ngx_bedrock_json_path(&p, error);

        if (rc == NGX_OK) {
            rc = NGX_ABORT;
        }

    } else if (p.error != NULL) {

        /* a limit was reached in a callback */

        error->data = (u_char *) p.error;
        error->len = ngx_strlen(p.error);

    } else if (st == yajl_status_client_canceled) {
        rc = NGX_ERROR;

    } else {
        msg = yajl_get_error(h, 0, data, len);

        if (msg == NULL) {
            ngx_str_set(error, "invalid JSON");

        } else {
            error->len = ngx_strlen(msg);
            error->data = ngx_pnalloc(opts->pool, error->len);

            if (error->data == NULL) {
                rc = NGX_ERROR;

            } else {
                ngx_memcpy(error->data, msg, error->len);
            }

            yajl_free_error(h, msg);
        }
    }

    yajl_free(h);

    return rc;
}


/*
 * Where the parser stopped: the path of the value being added, or of the
 * object whose key was bad.  At most NGX_BEDROCK_JSON_PATH_MAX bytes.
 */

static ngx_int_t
ngx_bedrock_json_path(ngx_bedrock_json_parser_t *p, ngx_str_t *path)
{
    u_char              *d, *last;
    ngx_int_t            n, i, k;
    ngx_bedrock_json_t  *v, *c, *chain[NGX_BEDROCK_JSON_MAX_DEPTH + 1];

    d = ngx_pnalloc(p->pool, NGX_BEDROCK_JSON_PATH_MAX);
    if (d == NULL) {
        return NGX_ERROR;
    }

    path->data = d;
    last = d + NGX_BEDROCK_JSON_PATH_MAX;

    n = 0;

    for (v = p->current; v && n <= NGX_BEDROCK_JSON_MAX_DEPTH; v = v->parent)
    {
        chain[n++] = v;
    }

    /* chain[n - 1] is the root; each step down names a member or index */

    for (i = n - 2; i >= -1; i--) {

        if (i == -1) {
            if (p->bad_key || p->current == NULL) {
                break;
            }

            /* the value being added to p->current */

            v = NULL;
            c = p->current;
            k = (ngx_int_t) c->n;

        } else {
            v = chain[i];
            c = v->parent;
            k = 0;

            if (c->type == NGX_BEDROCK_JSON_ARRAY) {
                for (c = c->child; c != v; c = c->next) {
                    k++;
                }

                c = v->parent;
            }
        }

        if (c->type == NGX_BEDROCK_JSON_ARRAY) {
            d = ngx_slprintf(d, last, "[%i]", k);

        } else {
            d = ngx_slprintf(d, last, (d == path->data) ? "%V" : ".%V",
                             v ? &v->key : &p->key);
        }
    }

    path->len = d - path->data;

    return NGX_OK;
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

    if (p->nfree == 0) {
        p->free = ngx_palloc(p->pool, NGX_BEDROCK_JSON_CHUNK
                                      * sizeof(ngx_bedrock_json_t));
        if (p->free == NULL) {
            return NULL;
        }

        p->nfree = NGX_BEDROCK_JSON_CHUNK;
    }

    v = p->free++;
    p->nfree--;

    ngx_memzero(v, sizeof(ngx_bedrock_json_t));

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

    return ngx_bedrock_json_copy(p, (u_char *) s, len, &v->value) == NGX_OK;
}


static int
ngx_bedrock_json_on_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_bedrock_json_t         *v;
    ngx_bedrock_json_parser_t  *p = ctx;

    if (p->strict && !ngx_bedrock_utf8_valid((u_char *) s, len)) {
        p->error = "";
        return 0;
    }

    v = ngx_bedrock_json_add(p, NGX_BEDROCK_JSON_STRING);
    if (v == NULL) {
        return 0;
    }

    return ngx_bedrock_json_copy(p, s, len, &v->value) == NGX_OK;
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

    if (p->strict && !ngx_bedrock_utf8_valid((u_char *) s, len)) {
        p->error = "";
        p->bad_key = 1;
        return 0;
    }

    return ngx_bedrock_json_copy(p, s, len, &p->key) == NGX_OK;
}


/*
 * Text without escapes is handed over where it lies in the input, which
 * outlives the tree; decoded text is in yajl's buffer and must be copied.
 */

static ngx_int_t
ngx_bedrock_json_copy(ngx_bedrock_json_parser_t *p, const u_char *s,
    size_t len, ngx_str_t *out)
{
    if (s >= p->start && s + len <= p->end) {
        out->data = (u_char *) s;
        out->len = len;
        return NGX_OK;
    }

    out->data = ngx_pnalloc(p->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, s, len);
    out->len = len;

    return NGX_OK;
}


/*
 * The length of the UTF-8 sequence at p, 0 if it is not one (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF)
 */

static size_t
ngx_bedrock_utf8_seq(u_char *p, u_char *last)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = *p;
    lo = 0x80;
    hi = 0xbf;

    if (c < 0x80) {
        return 1;

    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return n;
}


ngx_uint_t
ngx_bedrock_utf8_valid(u_char *p, size_t len)
{
    size_t   n;
    u_char  *last;

    last = p + len;

    while (p < last) {

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = ngx_bedrock_utf8_seq(p, last);

        if (n == 0) {
            return 0;
        }

        p += n;
    }

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

    if (!ngx_bedrock_utf8_valid(s->data, s->len)) {

        /*
         * bytes from a URI, text cut short, or an upstream's lone
         * surrogate: every byte the client gets is UTF-8
         */

        if (ngx_bedrock_utf8_sanitize(w->pool, s, &valid) != NGX_OK) {
            w->rc = NGX_ERROR;
            return;
        }

        s = &valid;
    }

    st = yajl_gen_string(w->gen, s->data, s->len);

    ngx_bedrock_jw_check(w, st);
}


/* a copy with every byte that is not part of valid UTF-8 as U+FFFD */

static ngx_int_t
ngx_bedrock_utf8_sanitize(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *out)
{
    size_t   n;
    u_char  *p, *last, *dst;

    dst = ngx_pnalloc(pool, s->len * 3);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    p = s->data;
    last = s->data + s->len;

    while (p < last) {
        n = ngx_bedrock_utf8_seq(p, last);

        if (n == 0) {
            dst = ngx_cpymem(dst, "\xef\xbf\xbd", 3);
            p++;
            continue;
        }

        while (n--) {
            *dst++ = *p++;
        }
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
