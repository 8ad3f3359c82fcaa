
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
    ngx_bedrock_json_opts_t  *opts;     /* the free nodes */
    ngx_str_t                 key;
    ngx_uint_t                depth;    /* containers open */
    ngx_uint_t               *budget;   /* values left; NULL: no limit */
    ngx_uint_t                strict;   /* refuse strings not UTF-8 */
    ngx_uint_t                bad_key;  /* the bad string was a key */
    size_t                    bad;      /* 1 + offset of a lone surrogate */
    yajl_handle               handle;
    char                     *error;

    /* last: the containers open, and the last child of each */
    ngx_bedrock_json_t       *stack[NGX_BEDROCK_JSON_MAX_DEPTH];
    ngx_bedrock_json_t       *lasts[NGX_BEDROCK_JSON_MAX_DEPTH];
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
static u_char *ngx_bedrock_jw_room(ngx_bedrock_jw_t *w, size_t len);
static void ngx_bedrock_jw_write(ngx_bedrock_jw_t *w, const char *s,
    size_t len);
static ngx_int_t ngx_bedrock_jw_begin(ngx_bedrock_jw_t *w,
    ngx_uint_t string);
static void ngx_bedrock_jw_done(ngx_bedrock_jw_t *w);
static void ngx_bedrock_jw_string(ngx_bedrock_jw_t *w, u_char *s,
    size_t len);
static void *ngx_bedrock_yajl_malloc(void *ctx, size_t size);
static void *ngx_bedrock_yajl_realloc(void *ctx, void *ptr, size_t size);
static void ngx_bedrock_yajl_free(void *ctx, void *ptr);
static size_t ngx_bedrock_json_bad_escape(u_char *p, size_t len,
    ngx_uint_t fix);
static ngx_int_t ngx_bedrock_json_strict(ngx_bedrock_json_parser_t *p,
    const u_char *s, size_t len);
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

    if (len == 0) {
        ngx_str_set(error, "no JSON text");
        return NGX_DECLINED;
    }

    /* the container stack is written before it is read: not zeroed */

    ngx_memzero(&p, offsetof(ngx_bedrock_json_parser_t, stack));
    p.pool = opts->pool;
    p.opts = opts;
    p.budget = opts->budget;
    p.strict = opts->strict;
    p.start = data;
    p.end = data + len;

    /* yajl's handle and buffers: in scratch memory where there is some */

    ngx_bedrock_yajl_funcs(&funcs, opts->scratch ? opts->scratch
                                                 : opts->pool);

    p.bad = ngx_bedrock_json_bad_escape(data, len, 0);

    if (p.bad && !p.strict) {

        /* a copy where half a surrogate pair is U+FFFD, as is bad UTF-8 */

        msg = ngx_pnalloc(opts->pool, len);
        if (msg == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(msg, data, len);
        (void) ngx_bedrock_json_bad_escape(msg, len, 1);

        data = msg;
        p.start = data;
        p.end = data + len;
        p.bad = 0;
    }

    h = yajl_alloc(&ngx_bedrock_json_callbacks, &funcs, &p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p.handle = h;

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
    ngx_uint_t           i, k;
    ngx_bedrock_json_t  *v, *c, *parent;

    d = ngx_pnalloc(p->pool, NGX_BEDROCK_JSON_PATH_MAX);
    if (d == NULL) {
        return NGX_ERROR;
    }

    path->data = d;
    last = d + NGX_BEDROCK_JSON_PATH_MAX;

    /* stack[0] is the root; each step down names a member or an index */

    for (i = 1; i <= p->depth; i++) {

        parent = p->stack[i - 1];

        if (i == p->depth) {

            /* the value being added to the innermost container */

            if (p->bad_key) {
                break;
            }

            v = NULL;
            k = parent->n;

        } else {
            v = p->stack[i];
            k = 0;

            if (parent->type == NGX_BEDROCK_JSON_ARRAY) {
                for (c = parent->child; c != v; c = c->next) {
                    k++;
                }
            }
        }

        if (parent->type == NGX_BEDROCK_JSON_ARRAY) {
            d = ngx_slprintf(d, last, "[%ui]", k);

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

    if (p->opts->nfree == 0) {
        p->opts->free = ngx_palloc(p->pool, NGX_BEDROCK_JSON_CHUNK
                                            * sizeof(ngx_bedrock_json_t));
        if (p->opts->free == NULL) {
            return NULL;
        }

        p->opts->nfree = NGX_BEDROCK_JSON_CHUNK;
    }

    v = p->opts->free++;
    p->opts->nfree--;

    ngx_memzero(v, sizeof(ngx_bedrock_json_t));

    v->type = type;

    if (p->depth == 0) {
        p->root = v;
        return v;
    }

    parent = p->stack[p->depth - 1];

    if (parent->type == NGX_BEDROCK_JSON_OBJECT) {
        v->key = p->key;
    }

    if (p->lasts[p->depth - 1]) {
        p->lasts[p->depth - 1]->next = v;

    } else {
        parent->child = v;
    }

    p->lasts[p->depth - 1] = v;
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

    if (p->strict && ngx_bedrock_json_strict(p, s, len) != NGX_OK) {
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

    if (p->depth == NGX_BEDROCK_JSON_MAX_DEPTH) {
        p->error = "JSON nesting is too deep";
        return 0;
    }

    v = ngx_bedrock_json_add(p, type);
    if (v == NULL) {
        return 0;
    }

    p->stack[p->depth] = v;
    p->lasts[p->depth] = NULL;
    p->depth++;

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

    if (p->strict && ngx_bedrock_json_strict(p, s, len) != NGX_OK) {
        p->bad_key = 1;
        return 0;
    }

    return ngx_bedrock_json_copy(p, s, len, &p->key) == NGX_OK;
}


/*
 * Decoded text must be UTF-8, and its escapes may not name half of a
 * surrogate pair: yajl turns a lone high one into "?", pairs a high one
 * with any \\u escape that follows, and writes a lone low one as is.
 * The first such escape was found before the parse; the string that holds
 * it is the one that ends past it.
 */

static ngx_int_t
ngx_bedrock_json_strict(ngx_bedrock_json_parser_t *p, const u_char *s,
    size_t len)
{
    if ((p->bad && yajl_get_bytes_consumed(p->handle) >= p->bad)
        || !ngx_bedrock_utf8_valid((u_char *) s, len))
    {
        p->error = "";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The first escape of half a surrogate pair: 1 + its offset, 0 if none.
 * With "fix", each of them becomes \\ufffd instead (the same length).
 * Backslashes occur in JSON strings only, so escapes are read in order.
 */

static size_t
ngx_bedrock_json_bad_escape(u_char *p, size_t len, ngx_uint_t fix)
{
    u_char      *start, *last;
    ngx_int_t    hi, lo;

    if (len < 2) {
        return 0;
    }

    start = p;
    last = p + len;

    for ( ;; ) {

        if (last - p < 2) {
            return 0;
        }

        p = memchr(p, '\\', last - p);

        if (p == NULL || last - p < 2) {
            return 0;
        }

        if (p[1] != 'u' || last - p < 6) {
            p += 2;
            continue;
        }

        hi = ngx_hextoi(p + 2, 4);

        if (hi >= 0xd800 && hi <= 0xdbff) {
            lo = (last - p >= 12 && p[6] == '\\' && p[7] == 'u')
                 ? ngx_hextoi(p + 8, 4) : -1;

            if (lo >= 0xdc00 && lo <= 0xdfff) {
                p += 12;
                continue;
            }

        } else if (hi < 0xdc00 || hi > 0xdfff) {
            p += 6;
            continue;
        }

        if (!fix) {
            return p - start + 1;
        }

        ngx_memcpy(p + 2, "fffd", 4);
        p += 6;
    }
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

    if (len == 0) {
        return 1;
    }

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


/* the writer's state at each level, as yajl_gen_state */

#define NGX_BEDROCK_JW_START        0
#define NGX_BEDROCK_JW_MAP_START    1
#define NGX_BEDROCK_JW_MAP_KEY      2
#define NGX_BEDROCK_JW_MAP_VAL      3
#define NGX_BEDROCK_JW_ARRAY_START  4
#define NGX_BEDROCK_JW_IN_ARRAY     5
#define NGX_BEDROCK_JW_COMPLETE     6


/*
 * The bytes a string's byte takes once escaped, as yajl_string_encode()
 * escapes: \b \t \n \f \r \" \\ as two, other controls as \u00XX
 */

static const u_char  ngx_bedrock_jw_escape[256] = {
    6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6,
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
    1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};


ngx_int_t
ngx_bedrock_jw_init(ngx_bedrock_jw_t *w, ngx_pool_t *pool, size_t size,
    size_t max)
{
    w->rc = NGX_OK;
    w->depth = 0;
    w->state[0] = NGX_BEDROCK_JW_START;

    w->pool = pool;
    w->max = max;

    if (max && size > max) {
        size = max;
    }

    size = ngx_max(size, 1);

    w->start = ngx_pnalloc(pool, size);
    if (w->start == NULL) {
        w->rc = NGX_ERROR;
        return NGX_ERROR;
    }

    w->pos = w->start;
    w->end = w->start + size;

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


/*
 * Room for len more bytes: the buffer doubles, up to max; NULL when it
 * cannot grow (w->rc says why)
 */

static u_char *
ngx_bedrock_jw_room(ngx_bedrock_jw_t *w, size_t len)
{
    size_t   size, used;
    u_char  *p;

    if (w->rc != NGX_OK) {
        return NULL;
    }

    if ((size_t) (w->end - w->pos) >= len) {
        return w->pos;
    }

    used = w->pos - w->start;

    if (w->max && (used > w->max || len > w->max - used)) {
        w->rc = NGX_DECLINED;
        return NULL;
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
        return NULL;
    }

    w->pos = ngx_cpymem(p, w->start, used);
    ngx_pfree(w->pool, w->start);
    w->start = p;
    w->end = p + size;

    return w->pos;
}


static void
ngx_bedrock_jw_write(ngx_bedrock_jw_t *w, const char *s, size_t len)
{
    u_char  *p;

    if (len == 0) {
        return;
    }

    p = ngx_bedrock_jw_room(w, len);

    if (p != NULL) {
        w->pos = ngx_cpymem(p, s, len);
    }
}


/*
 * Before a value: what yajl_gen checks and writes first.  A value after a
 * complete one, or other than a string where a key is due, is an error;
 * the separator (",", ":") of the level goes out.
 */

static ngx_int_t
ngx_bedrock_jw_begin(ngx_bedrock_jw_t *w, ngx_uint_t string)
{
    u_char  *p, state;

    if (w->rc != NGX_OK) {
        return NGX_ERROR;
    }

    state = w->state[w->depth];

    if (state == NGX_BEDROCK_JW_COMPLETE
        || (!string && (state == NGX_BEDROCK_JW_MAP_START
                        || state == NGX_BEDROCK_JW_MAP_KEY)))
    {
        w->rc = NGX_ERROR;
        return NGX_ERROR;
    }

    if (state == NGX_BEDROCK_JW_MAP_KEY || state == NGX_BEDROCK_JW_IN_ARRAY
        || state == NGX_BEDROCK_JW_MAP_VAL)
    {
        p = ngx_bedrock_jw_room(w, 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = (state == NGX_BEDROCK_JW_MAP_VAL) ? ':' : ',';
        w->pos = p + 1;
    }

    return NGX_OK;
}


/* after a value: the state of its level moves on */

static void
ngx_bedrock_jw_done(ngx_bedrock_jw_t *w)
{
    u_char  *state;

    state = &w->state[w->depth];

    switch (*state) {

    case NGX_BEDROCK_JW_START:
        *state = NGX_BEDROCK_JW_COMPLETE;
        break;

    case NGX_BEDROCK_JW_MAP_START:
    case NGX_BEDROCK_JW_MAP_KEY:
        *state = NGX_BEDROCK_JW_MAP_VAL;
        break;

    case NGX_BEDROCK_JW_ARRAY_START:
        *state = NGX_BEDROCK_JW_IN_ARRAY;
        break;

    case NGX_BEDROCK_JW_MAP_VAL:
        *state = NGX_BEDROCK_JW_MAP_KEY;
        break;

    default:
        break;
    }
}


/* a string, quoted and escaped; its length is counted first */

static void
ngx_bedrock_jw_string(ngx_bedrock_jw_t *w, u_char *s, size_t len)
{
    u_char                *p, *last, c;
    size_t                 n;
    static const u_char    hex[] = "0123456789ABCDEF";

    if (ngx_bedrock_jw_begin(w, 1) != NGX_OK) {
        return;
    }

    /* an empty string may have no data at all: no pointer arithmetic */

    if (len == 0) {
        p = ngx_bedrock_jw_room(w, 2);

        if (p != NULL) {
            *p++ = '"';
            *p++ = '"';
            w->pos = p;
            ngx_bedrock_jw_done(w);
        }

        return;
    }

    last = s + len;
    n = len + 2;

    for (p = s; p < last; p++) {
        n += ngx_bedrock_jw_escape[*p] - 1;
    }

    p = ngx_bedrock_jw_room(w, n);
    if (p == NULL) {
        return;
    }

    *p++ = '"';

    if (n == len + 2) {
        p = ngx_cpymem(p, s, len);

    } else {
        while (s < last) {
            c = *s++;

            if (ngx_bedrock_jw_escape[c] == 1) {
                *p++ = c;
                continue;
            }

            *p++ = '\\';

            switch (c) {
            case '"':  *p++ = '"'; break;
            case '\\': *p++ = '\\'; break;
            case '\b': *p++ = 'b'; break;
            case '\t': *p++ = 't'; break;
            case '\n': *p++ = 'n'; break;
            case '\f': *p++ = 'f'; break;
            case '\r': *p++ = 'r'; break;
            default:
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0x0f];
            }
        }
    }

    *p++ = '"';
    w->pos = p;

    ngx_bedrock_jw_done(w);
}


ngx_int_t
ngx_bedrock_jw_finish(ngx_bedrock_jw_t *w, ngx_str_t *out)
{
    if (w->rc != NGX_OK) {
        return w->rc;
    }

    out->data = w->start;
    out->len = w->pos - w->start;

    return NGX_OK;
}


/* the JSON written, copied from the writer's (temporary) pool to "pool" */

ngx_int_t
ngx_bedrock_jw_copy(ngx_bedrock_jw_t *w, ngx_pool_t *pool, ngx_str_t *out)
{
    ngx_int_t  rc;
    ngx_str_t  json;

    rc = ngx_bedrock_jw_finish(w, &json);
    if (rc != NGX_OK) {
        return rc;
    }

    out->data = ngx_pnalloc(pool, json.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, json.data, json.len);
    out->len = json.len;

    return NGX_OK;
}


/* bytes outside JSON values, such as SSE framing */

void
ngx_bedrock_jw_raw(ngx_bedrock_jw_t *w, char *s, size_t len)
{
    ngx_bedrock_jw_write(w, s, len);
}


/* after a complete value: ready for the next one */

void
ngx_bedrock_jw_reset(ngx_bedrock_jw_t *w)
{
    w->depth = 0;
    w->state[0] = NGX_BEDROCK_JW_START;
}


/*
 * A named server-sent event of a JSON object, as the Anthropic and the
 * OpenAI Responses streams send them: "event: <type>\ndata: {"type":
 * "<type>"", the caller's members, then ngx_bedrock_jw_event_end()'s
 * "}\n\n"
 */

void
ngx_bedrock_jw_event(ngx_bedrock_jw_t *w, char *type)
{
    ngx_bedrock_jw_raw(w, "event: ", sizeof("event: ") - 1);
    ngx_bedrock_jw_raw(w, type, ngx_strlen(type));
    ngx_bedrock_jw_raw(w, "\ndata: ", sizeof("\ndata: ") - 1);
    ngx_bedrock_jw_reset(w);
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "type");
    ngx_bedrock_jw_cstr(w, type);
}


void
ngx_bedrock_jw_event_end(ngx_bedrock_jw_t *w)
{
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_raw(w, "\n\n", 2);
}


void
ngx_bedrock_jw_key(ngx_bedrock_jw_t *w, char *key)
{
    if (w->rc == NGX_OK) {
        ngx_bedrock_jw_string(w, (u_char *) key, ngx_strlen(key));
    }
}


void
ngx_bedrock_jw_str(ngx_bedrock_jw_t *w, ngx_str_t *s)
{
    ngx_str_t  valid;

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

    ngx_bedrock_jw_string(w, s->data, s->len);
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

            /* a surrogate encoded as UTF-8 (CESU-8) is one character */

            if (last - p >= 3 && p[0] == 0xed && p[1] >= 0xa0
                && p[1] <= 0xbf && (p[2] & 0xc0) == 0x80)
            {
                p += 3;

            } else {
                p++;
            }

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
    u_char  *p;

    if (ngx_bedrock_jw_begin(w, 0) != NGX_OK) {
        return;
    }

    p = ngx_bedrock_jw_room(w, NGX_INT_T_LEN);

    if (p != NULL) {
        w->pos = ngx_sprintf(p, "%i", n);
        ngx_bedrock_jw_done(w);
    }
}


/* the number's text as it is: yajl_gen_number() does not check it */

void
ngx_bedrock_jw_number(ngx_bedrock_jw_t *w, ngx_str_t *text)
{
    if (ngx_bedrock_jw_begin(w, 0) == NGX_OK) {
        ngx_bedrock_jw_write(w, (char *) text->data, text->len);
        ngx_bedrock_jw_done(w);
    }
}


void
ngx_bedrock_jw_bool(ngx_bedrock_jw_t *w, ngx_uint_t b)
{
    if (ngx_bedrock_jw_begin(w, 0) == NGX_OK) {
        if (b) {
            ngx_bedrock_jw_write(w, "true", 4);

        } else {
            ngx_bedrock_jw_write(w, "false", 5);
        }

        ngx_bedrock_jw_done(w);
    }
}


void
ngx_bedrock_jw_null(ngx_bedrock_jw_t *w)
{
    if (ngx_bedrock_jw_begin(w, 0) == NGX_OK) {
        ngx_bedrock_jw_write(w, "null", 4);
        ngx_bedrock_jw_done(w);
    }
}


void
ngx_bedrock_jw_open(ngx_bedrock_jw_t *w, ngx_uint_t array)
{
    if (ngx_bedrock_jw_begin(w, 0) != NGX_OK) {
        return;
    }

    if (w->depth + 1 >= NGX_BEDROCK_JW_DEPTH) {
        w->rc = NGX_ERROR;
        return;
    }

    w->state[++w->depth] = array ? NGX_BEDROCK_JW_ARRAY_START
                                 : NGX_BEDROCK_JW_MAP_START;

    ngx_bedrock_jw_write(w, array ? "[" : "{", 1);
}


void
ngx_bedrock_jw_close(ngx_bedrock_jw_t *w, ngx_uint_t array)
{
    if (w->rc != NGX_OK) {
        return;
    }

    if (w->depth == 0 || w->state[w->depth] == NGX_BEDROCK_JW_COMPLETE) {
        w->rc = NGX_ERROR;
        return;
    }

    w->depth--;
    ngx_bedrock_jw_done(w);

    ngx_bedrock_jw_write(w, array ? "]" : "}", 1);
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


/* a copy in pool, exactly as long */

ngx_int_t
ngx_bedrock_str_copy(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, s->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, s->len);
    s->data = p;

    return NGX_OK;
}
