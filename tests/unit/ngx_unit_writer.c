
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_gen.h>

#include "ngx_unit.h"


/*
 * The JSON writer against yajl's generator, the reference it replaced:
 * the same calls, in random orders that include misuse (a value where a
 * key is due, a value after the end, closes without opens, depth past
 * 128), must give the same bytes, and fail where yajl fails.
 */


#define NGX_UNIT_WRITER_RUNS  20000


typedef struct {
    u_char                   *buf;
    size_t                    len;
    size_t                    size;
} ngx_unit_writer_out_t;


static void ngx_unit_writer_print(void *ctx, const char *s, size_t len);
static uint32_t ngx_unit_writer_rand(uint32_t *seed);
static ngx_uint_t ngx_unit_writer_run(ngx_pool_t *pool, uint32_t seed,
    ngx_str_t *failure);


static void
ngx_unit_writer_print(void *ctx, const char *s, size_t len)
{
    ngx_unit_writer_out_t  *out = ctx;

    if (out->len + len <= out->size) {
        ngx_memcpy(out->buf + out->len, s, len);
    }

    out->len += len;
}


/* xorshift32: the same runs on every machine */

static uint32_t
ngx_unit_writer_rand(uint32_t *seed)
{
    uint32_t  x;

    x = *seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *seed = x;

    return x;
}


static ngx_uint_t
ngx_unit_writer_run(ngx_pool_t *pool, uint32_t seed, ngx_str_t *failure)
{
    u_char                  text[40], *p;
    size_t                  len;
    uint32_t                r;
    ngx_str_t               s, got, want;
    ngx_int_t               rc;
    ngx_uint_t              i, k, ops, yajl_failed, valid;
    yajl_gen                g;
    yajl_gen_status         st;
    ngx_bedrock_jw_t        w;
    ngx_unit_writer_out_t   out;

    static u_char  alphabet[] = "ab\"\\/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9{}:,";

    out.size = 1 << 20;
    out.len = 0;
    out.buf = ngx_pnalloc(pool, out.size);

    g = yajl_gen_alloc(NULL);

    if (out.buf == NULL || g == NULL
        || ngx_bedrock_jw_init(&w, pool, 16, 0) != NGX_OK)
    {
        ngx_unit_note(pool, failure, "out of memory");
        return 0;
    }

    yajl_gen_config(g, yajl_gen_print_callback, ngx_unit_writer_print, &out);

    yajl_failed = 0;
    ops = 1 + ngx_unit_writer_rand(&seed) % 300;

    for (i = 0; i < ops && !yajl_failed; i++) {
        r = ngx_unit_writer_rand(&seed);

        /* mostly well-formed: opens weigh as much as closes and values */

        switch (r % 16) {

        case 0:
        case 1:
            st = yajl_gen_map_open(g);
            ngx_bedrock_jw_obj(&w);
            break;

        case 2:
            st = yajl_gen_array_open(g);
            ngx_bedrock_jw_arr(&w);
            break;

        case 3:
        case 4:
            st = yajl_gen_map_close(g);
            ngx_bedrock_jw_obj_end(&w);
            break;

        case 5:
            st = yajl_gen_array_close(g);
            ngx_bedrock_jw_arr_end(&w);
            break;

        case 6:
        case 7:
        case 8:
        case 9:
            len = (r >> 8) % sizeof(text);

            for (k = 0; k < len; k++) {
                text[k] = alphabet[ngx_unit_writer_rand(&seed)
                                   % (sizeof(alphabet) - 1)];
            }

            s.data = text;
            s.len = len;

            /* the writer mends bytes that are not UTF-8: give it UTF-8 */

            valid = ngx_bedrock_utf8_valid(text, len);

            if (!valid) {
                s.len = 0;
            }

            st = yajl_gen_string(g, s.data, s.len);
            ngx_bedrock_jw_str(&w, &s);
            break;

        case 10:
            p = ngx_sprintf(text, "%i", (ngx_int_t) (int32_t) r);
            s.data = text;
            s.len = p - text;
            st = yajl_gen_number(g, (char *) s.data, s.len);
            ngx_bedrock_jw_int(&w, (ngx_int_t) (int32_t) r);
            break;

        case 11:
            ngx_str_set(&s, "1.5e-3");
            st = yajl_gen_number(g, (char *) s.data, s.len);
            ngx_bedrock_jw_number(&w, &s);
            break;

        case 12:
            st = yajl_gen_bool(g, r & 0x100);
            ngx_bedrock_jw_bool(&w, r & 0x100);
            break;

        case 13:
            st = yajl_gen_null(g);
            ngx_bedrock_jw_null(&w);
            break;

        case 14:

            /* a complete value, then the next one: as SSE events are */

            yajl_gen_reset(g, NULL);
            ngx_bedrock_jw_reset(&w);
            st = yajl_gen_status_ok;
            break;

        default:
            ngx_str_set(&s, "key");
            st = yajl_gen_string(g, s.data, s.len);
            ngx_bedrock_jw_key(&w, "key");
            break;
        }

        if (st != yajl_gen_status_ok) {
            yajl_failed = 1;
        }

        if (yajl_failed != (w.rc != NGX_OK)) {
            yajl_gen_free(g);
            ngx_unit_note(pool, failure, "seed %uD, call %ui of kind %uD: "
                          "yajl %s, the writer %s", seed, i, r % 16,
                          yajl_failed ? "failed" : "did not fail",
                          w.rc == NGX_OK ? "did not" : "did");
            return 0;
        }
    }

    yajl_gen_free(g);

    rc = ngx_bedrock_jw_finish(&w, &got);

    if (yajl_failed || rc != NGX_OK) {
        return 1;
    }

    want.data = out.buf;
    want.len = out.len;

    if (!ngx_unit_equal(&got, &want)) {
        ngx_unit_compare(pool, failure, "the JSON", &got, &want);
        return 0;
    }

    return 1;
}


void
ngx_unit_writer(void)
{
    uint32_t           seed;
    ngx_str_t          failure, out;
    ngx_uint_t         i, depth;
    ngx_pool_t        *pool;
    ngx_bedrock_jw_t   w;

    ngx_str_null(&failure);

    for (i = 0; i < NGX_UNIT_WRITER_RUNS; i++) {
        pool = ngx_unit_pool();
        if (pool == NULL) {
            return;
        }

        seed = 2463534242u + (uint32_t) i * 2654435761u;

        if (!ngx_unit_writer_run(pool, seed, &failure)) {
            ngx_unit_result("writer/random-calls-as-yajl", &failure);
            ngx_destroy_pool(pool);
            return;
        }

        ngx_destroy_pool(pool);
    }

    ngx_unit_result("writer/random-calls-as-yajl", &failure);

    /* 127 levels are written, the 128th is refused, as by yajl */

    pool = ngx_unit_pool();
    if (pool == NULL) {
        return;
    }

    for (depth = 127; depth <= 128; depth++) {

        if (ngx_bedrock_jw_init(&w, pool, 16, 0) != NGX_OK) {
            break;
        }

        for (i = 0; i < depth; i++) {
            ngx_bedrock_jw_arr(&w);
        }

        for (i = 0; i < depth; i++) {
            ngx_bedrock_jw_arr_end(&w);
        }

        if ((ngx_bedrock_jw_finish(&w, &out) == NGX_OK) != (depth == 127)) {
            ngx_unit_note(pool, &failure, "%ui levels: %s", depth,
                          depth == 127 ? "refused" : "written");
        }
    }

    ngx_unit_result("writer/depth-127-not-128", &failure);

    ngx_destroy_pool(pool);
}
