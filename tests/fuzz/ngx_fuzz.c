
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>

#include "ngx_fuzz.h"
#include "ngx_unit.h"


static ngx_log_t  *ngx_fuzz_log;


/*
 * nginx core is built with NGX_DEBUG_PALLOC: each allocation is its own
 * malloc(), so AddressSanitizer checks its bounds, and the leak checker
 * sees anything not freed with the pool
 */

ngx_pool_t *
ngx_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    if (ngx_fuzz_log == NULL) {
        ngx_fuzz_log = ngx_unit_init();
    }

    pool = ngx_create_pool(1024, ngx_fuzz_log);
    if (pool == NULL) {
        ngx_fuzz_abort("ngx_create_pool() failed");
    }

    return pool;
}


/* strict JSON (RFC 8259, valid UTF-8), as yajl itself reads it */

void
ngx_fuzz_json(ngx_str_t *json, const char *what)
{
    yajl_handle  h;
    yajl_status  st;

    h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        ngx_fuzz_abort("yajl_alloc() failed");
    }

    st = yajl_parse(h, json->data, json->len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st != yajl_status_ok || json->len == 0
        || !ngx_fuzz_utf8(json->data, json->len))
    {
        ngx_fuzz_fail(what, json);
    }
}


/*
 * Strict UTF-8, written apart from the module's checker: decode each code
 * point, then refuse overlong forms, surrogates and what is past U+10FFFF
 */

int
ngx_fuzz_utf8(u_char *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n) {

        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2; cp = p[i] & 0x1f; min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3; cp = p[i] & 0x0f; min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4; cp = p[i] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (i + n > len) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


/* one or more "data: <JSON>\n\n" */

void
ngx_fuzz_sse(ngx_str_t *sse, const char *what)
{
    u_char     *p, *last, *end;
    ngx_str_t   json;

    if (sse->len == 0) {
        return;
    }

    p = sse->data;
    last = p + sse->len;

    while (p < last) {
        if (last - p < 6 || ngx_strncmp(p, "data: ", 6) != 0) {
            ngx_fuzz_fail(what, sse);
        }

        p += 6;

        for (end = p; end + 1 < last; end++) {
            if (end[0] == '\n' && end[1] == '\n') {
                break;
            }
        }

        if (end + 1 >= last) {
            ngx_fuzz_fail(what, sse);
        }

        json.data = p;
        json.len = end - p;

        ngx_fuzz_json(&json, what);

        p = end + 2;
    }
}


void
ngx_fuzz_fail(const char *what, ngx_str_t *out)
{
    (void) fprintf(stderr, "ngx_fuzz: %s is invalid: \"%.*s\"\n", what,
                   (int) ngx_min(out->len, 4096), out->data);
    abort();
}


void
ngx_fuzz_abort(const char *what)
{
    (void) fprintf(stderr, "ngx_fuzz: %s\n", what);
    abort();
}
