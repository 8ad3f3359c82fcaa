
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <dirent.h>

#include "ngx_unit.h"


#define NGX_UNIT_JSON_VALUES  (1024 * 1024)


static u_char *ngx_unit_escape(u_char *p, u_char *last, u_char *s,
    size_t len);
static int ngx_libc_cdecl ngx_unit_name_cmp(const void *one,
    const void *two);


ngx_unit_counts_t   ngx_unit_counts;
char               *ngx_unit_vectors;
ngx_log_t          *ngx_unit_log;
ngx_str_t           ngx_unit_empty = ngx_string("");


/*
 * Pools come from core built with NGX_DEBUG_PALLOC: every allocation is
 * its own malloc(), so that AddressSanitizer sees each one's bounds
 */

ngx_pool_t *
ngx_unit_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(4096, ngx_unit_log);
    if (pool == NULL) {
        ngx_unit_print("out of memory\n");
        exit(2);
    }

    return pool;
}


void
ngx_unit_ok(char *name)
{
    ngx_unit_counts.passed++;
    ngx_unit_print("ok   %s\n", name);
}


void
ngx_unit_fail(char *name, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    buf[4096];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    ngx_unit_counts.failed++;
    ngx_unit_print("FAIL %s: %*s\n", name, (size_t) (p - buf), buf);
}


void
ngx_unit_skip(char *suite, ngx_uint_t n, char *why)
{
    ngx_unit_counts.skipped += n;
    ngx_unit_print("skip %s: %ui cases (%s)\n", suite, n, why);
}


ngx_uint_t
ngx_unit_result(char *name, ngx_str_t *failure)
{
    if (failure->len == 0) {
        ngx_unit_ok(name);
        return 1;
    }

    ngx_unit_fail(name, "%V", failure);

    return 0;
}


/* appends "\n    <text>" to the case's failure text */

void
ngx_unit_note(ngx_pool_t *pool, ngx_str_t *failure, const char *fmt, ...)
{
    u_char   *p, *text;
    va_list   args;
    u_char    buf[2048];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    text = ngx_pnalloc(pool, failure->len + 5 + (p - buf));
    if (text == NULL) {
        return;
    }

    if (failure->len) {
        ngx_memcpy(text, failure->data, failure->len);
    }

    ngx_memcpy(text + failure->len, "\n    ", 5);
    ngx_memcpy(text + failure->len + 5, buf, p - buf);

    failure->data = text;
    failure->len += 5 + (p - buf);
}


/* notes the first difference, with some context of both sides */

void
ngx_unit_compare(ngx_pool_t *pool, ngx_str_t *failure, char *what,
    ngx_str_t *got, ngx_str_t *want)
{
    size_t   i, n, from;
    u_char  *g, *w;
    u_char   gbuf[512], wbuf[512];

    if (ngx_unit_equal(got, want)) {
        return;
    }

    n = ngx_min(got->len, want->len);

    for (i = 0; i < n && got->data[i] == want->data[i]; i++) {
        /* void */
    }

    from = (i > 40) ? i - 40 : 0;

    g = ngx_unit_escape(gbuf, gbuf + sizeof(gbuf), got->data + from,
                        ngx_min(got->len - from, 100));
    w = ngx_unit_escape(wbuf, wbuf + sizeof(wbuf), want->data + from,
                        ngx_min(want->len - from, 100));

    ngx_unit_note(pool, failure, "%s differs at byte %uz (got %uz bytes, "
                  "want %uz), from byte %uz:\n      got:  \"%*s\"\n"
                  "      want: \"%*s\"", what, i, got->len, want->len, from,
                  (size_t) (g - gbuf), gbuf, (size_t) (w - wbuf), wbuf);
}


static u_char *
ngx_unit_escape(u_char *p, u_char *last, u_char *s, size_t len)
{
    for ( /* void */ ; len && last - p > 4; len--, s++) {
        if (*s == '\n') {
            p = ngx_cpymem(p, "\\n", 2);

        } else if (*s < 0x20 || *s >= 0x7f || *s == '"' || *s == '\\') {
            p = ngx_sprintf(p, "\\x%02xd", *s);

        } else {
            *p++ = *s;
        }
    }

    return p;
}


void
ngx_unit_print(const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    buf[8192];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    (void) fwrite(buf, 1, p - buf, stdout);
    (void) fflush(stdout);
}


/* a NUL-terminated string in the pool */

char *
ngx_unit_path(ngx_pool_t *pool, const char *fmt, ...)
{
    u_char   *p, *s;
    va_list   args;
    u_char    buf[NGX_MAX_PATH];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    s = ngx_pnalloc(pool, p - buf + 1);
    if (s == NULL) {
        return NULL;
    }

    *ngx_cpymem(s, buf, p - buf) = '\0';

    return (char *) s;
}


/* NGX_DECLINED: the file does not exist */

ngx_int_t
ngx_unit_read(ngx_pool_t *pool, char *path, ngx_str_t *out)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_file_info_t  fi;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        goto done;
    }

    out->len = ngx_file_size(&fi);

    /* one more byte: never a zero-size allocation, and a NUL */

    out->data = ngx_pnalloc(pool, out->len + 1);
    if (out->data == NULL) {
        goto done;
    }

    n = read(fd, out->data, out->len);

    if (n < 0 || (size_t) n != out->len) {
        goto done;
    }

    out->data[out->len] = '\0';
    rc = NGX_OK;

done:

    (void) ngx_close_file(fd);

    return rc;
}


ngx_int_t
ngx_unit_is_dir(char *path)
{
    ngx_file_info_t  fi;

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the names in a directory, sorted, without "." files; of char * */

ngx_int_t
ngx_unit_list(ngx_pool_t *pool, char *dir, ngx_array_t *names)
{
    DIR            *d;
    char          **name;
    size_t          len;
    struct dirent  *de;

    if (ngx_array_init(names, pool, 16, sizeof(char *)) != NGX_OK) {
        return NGX_ERROR;
    }

    d = opendir(dir);
    if (d == NULL) {
        return NGX_DECLINED;
    }

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        name = ngx_array_push(names);
        if (name == NULL) {
            (void) closedir(d);
            return NGX_ERROR;
        }

        len = ngx_strlen(de->d_name);

        *name = ngx_pnalloc(pool, len + 1);
        if (*name == NULL) {
            (void) closedir(d);
            return NGX_ERROR;
        }

        ngx_memcpy(*name, de->d_name, len + 1);
    }

    (void) closedir(d);

    ngx_qsort(names->elts, names->nelts, sizeof(char *), ngx_unit_name_cmp);

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_unit_name_cmp(const void *one, const void *two)
{
    return ngx_strcmp(*(char **) one, *(char **) two);
}


ngx_int_t
ngx_unit_base64(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    out->data = ngx_pnalloc(pool, ngx_base64_decoded_length(in->len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    return ngx_decode_base64(out, in);
}


ngx_int_t
ngx_unit_json(ngx_pool_t *pool, ngx_str_t *text, ngx_bedrock_json_t **root)
{
    ngx_str_t   error;
    ngx_uint_t  budget;

    budget = NGX_UNIT_JSON_VALUES;

    if (ngx_bedrock_json_parse(pool, text->data, text->len, &budget, root,
                               &error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a JSON integer, with a sign */

ngx_int_t
ngx_unit_number(ngx_bedrock_json_t *v, int64_t *n)
{
    u_char      *p, *last;
    uint64_t     u;
    ngx_uint_t   minus;

    if (v == NULL || v->type != NGX_BEDROCK_JSON_NUMBER || v->value.len == 0)
    {
        return NGX_ERROR;
    }

    p = v->value.data;
    last = p + v->value.len;

    minus = (*p == '-');

    if (minus) {
        p++;
    }

    if (p == last || last - p > 19) {
        return NGX_ERROR;
    }

    for (u = 0; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        u = u * 10 + (*p - '0');
    }

    *n = minus ? -(int64_t) u : (int64_t) u;

    return NGX_OK;
}


/*
 * Server-sent events as the gateway writes them: one or more
 * "data: <JSON>\n\n"; each JSON is parsed into events (of
 * ngx_bedrock_json_t *); NGX_DECLINED: not that shape
 */

ngx_int_t
ngx_unit_sse(ngx_pool_t *pool, ngx_str_t *sse, ngx_array_t *events)
{
    u_char               *p, *last, *end;
    ngx_str_t             json;
    ngx_bedrock_json_t  **ev;

    p = sse->data;
    last = p + sse->len;

    while (p < last) {
        if (last - p < 6 || ngx_strncmp(p, "data: ", 6) != 0) {
            return NGX_DECLINED;
        }

        p += 6;

        end = ngx_strlcasestrn(p, last, (u_char *) "\n\n", 2 - 1);
        if (end == NULL) {
            return NGX_DECLINED;
        }

        json.data = p;
        json.len = end - p;

        ev = ngx_array_push(events);
        if (ev == NULL) {
            return NGX_ERROR;
        }

        if (ngx_unit_json(pool, &json, ev) != NGX_OK) {
            return NGX_DECLINED;
        }

        p = end + 2;
    }

    return NGX_OK;
}
