
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_eventstream.h"
#include "ngx_http_bedrock_credentials.h"


/*
 * Event-stream conformance: aws-sdk-go's encoded/decoded vectors and the
 * frames of Smithy's restJson1 event-stream protocol tests.  Every frame
 * goes through ngx_bedrock_es_decode() whole and one byte at a time; the
 * headers the decoder does not expose are checked with a walk of our own.
 */


#define NGX_UNIT_ES_MAX              (1024 * 1024)
#define NGX_UNIT_ES_POSITIVE         5
#define NGX_UNIT_ES_NEGATIVE         4
#define NGX_UNIT_ES_SMITHY           92

#define ngx_unit_es_u32(p)                                                   \
    ((uint32_t) (p)[0] << 24 | (uint32_t) (p)[1] << 16                       \
     | (uint32_t) (p)[2] << 8 | (uint32_t) (p)[3])


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   type;
    int64_t                      number;   /* bool, integers, timestamp */
    ngx_str_t                    bytes;    /* byte array, string, uuid */
} ngx_unit_es_header_t;


static ngx_uint_t ngx_unit_es_sdk_positive(char *dir);
static ngx_uint_t ngx_unit_es_sdk_negative(char *dir);
static void ngx_unit_es_concatenated(ngx_pool_t *pool, ngx_array_t *frames,
    ngx_array_t *payloads);
static ngx_uint_t ngx_unit_es_smithy(char *file);
static void ngx_unit_es_decode_both(ngx_pool_t *pool, ngx_str_t *failure,
    ngx_str_t *frame, ngx_array_t *declared, ngx_str_t *payload,
    ngx_uint_t ordered);
static ngx_int_t ngx_unit_es_feed(ngx_pool_t *pool, ngx_str_t *in,
    size_t step, ngx_bedrock_es_message_t *msg, ngx_str_t *error);
static ngx_int_t ngx_unit_es_walk(ngx_pool_t *pool, ngx_str_t *frame,
    ngx_array_t *headers);
static void ngx_unit_es_compare_headers(ngx_pool_t *pool,
    ngx_str_t *failure, ngx_array_t *got, ngx_array_t *want,
    ngx_uint_t ordered);
static void ngx_unit_es_known(ngx_pool_t *pool, ngx_str_t *failure,
    ngx_bedrock_es_message_t *msg, ngx_array_t *declared);
static ngx_int_t ngx_unit_es_sdk_headers(ngx_pool_t *pool,
    ngx_bedrock_json_t *list, ngx_array_t *headers);
static ngx_int_t ngx_unit_es_smithy_headers(ngx_pool_t *pool,
    ngx_bedrock_json_t *obj, ngx_array_t *headers);
static void ngx_unit_es_synthetic(void);


void
ngx_unit_eventstream(void)
{
    char        *dir;
    ngx_pool_t  *pool;

    ngx_unit_es_synthetic();

    if (ngx_unit_vectors == NULL) {
        ngx_unit_skip("eventstream/aws-sdk-go", NGX_UNIT_ES_POSITIVE
                      + NGX_UNIT_ES_NEGATIVE + 1, "no vectors");
        ngx_unit_skip("eventstream/smithy", NGX_UNIT_ES_SMITHY,
                      "no vectors");
        return;
    }

    pool = ngx_unit_pool();

    dir = ngx_unit_path(pool, "%s/eventstream/aws-sdk-go", ngx_unit_vectors);

    if (ngx_unit_es_sdk_positive(dir) == 0) {
        ngx_unit_skip("eventstream/aws-sdk-go/positive",
                      NGX_UNIT_ES_POSITIVE + 1, "no cases found");
    }

    if (ngx_unit_es_sdk_negative(dir) == 0) {
        ngx_unit_skip("eventstream/aws-sdk-go/negative",
                      NGX_UNIT_ES_NEGATIVE, "no cases found");
    }

    dir = ngx_unit_path(pool, "%s/eventstream/smithy-protocol-tests/"
                        "restJson1-event-stream-cases.json",
                        ngx_unit_vectors);

    if (ngx_unit_es_smithy(dir) == 0) {
        ngx_unit_skip("eventstream/smithy", NGX_UNIT_ES_SMITHY,
                      "no cases found");
    }

    ngx_destroy_pool(pool);
}


static ngx_uint_t
ngx_unit_es_sdk_positive(char *dir)
{
    char                 **names, *name;
    u_char                *p;
    int64_t                n;
    ngx_str_t              frame, text, failure, payload, b64, *s;
    ngx_pool_t            *pool, *list;
    ngx_uint_t             i, count;
    ngx_array_t            entries, declared, frames, payloads;
    ngx_bedrock_json_t    *root;

    list = ngx_unit_pool();

    if (ngx_unit_list(list, ngx_unit_path(list, "%s/encoded/positive", dir),
                      &entries)
        != NGX_OK
        || ngx_array_init(&frames, list, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&payloads, list, 8, sizeof(ngx_str_t)) != NGX_OK)
    {
        ngx_destroy_pool(list);
        return 0;
    }

    names = entries.elts;
    count = 0;

    for (i = 0; i < entries.nelts; i++) {
        count++;

        pool = ngx_unit_pool();
        ngx_str_null(&failure);

        name = ngx_unit_path(pool, "eventstream/aws-sdk-go/positive/%s",
                             names[i]);

        if (ngx_unit_read(list, ngx_unit_path(pool, "%s/encoded/positive/%s",
                                              dir, names[i]),
                          &frame)
            != NGX_OK
            || ngx_unit_read(pool,
                             ngx_unit_path(pool, "%s/decoded/positive/%s",
                                           dir, names[i]),
                             &text)
               != NGX_OK
            || ngx_unit_json(pool, &text, &root) != NGX_OK
            || ngx_array_init(&declared, pool, 4,
                              sizeof(ngx_unit_es_header_t))
               != NGX_OK
            || ngx_unit_es_sdk_headers(pool,
                                       ngx_bedrock_json_get(root, "headers"),
                                       &declared)
               != NGX_OK)
        {
            ngx_unit_fail(name, "the vector could not be read");
            ngx_destroy_pool(pool);
            continue;
        }

        /* the prelude and the checksums as declared */

        p = frame.data;

        if (frame.len < NGX_BEDROCK_ES_MIN_LEN) {
            ngx_unit_fail(name, "a frame of %uz bytes", frame.len);
            ngx_destroy_pool(pool);
            continue;
        }

#define ngx_unit_es_declared(key, value)                                     \
        if (ngx_unit_number(ngx_bedrock_json_get(root, key), &n) != NGX_OK  \
            || (uint32_t) n != (uint32_t) (value))                           \
        {                                                                    \
            ngx_unit_note(pool, &failure, "%s: the frame says %uD",          \
                          key, (uint32_t) (value));                          \
        }

        ngx_unit_es_declared("total_length", frame.len);
        ngx_unit_es_declared("headers_length", ngx_unit_es_u32(p + 4));
        ngx_unit_es_declared("prelude_crc", ngx_unit_es_u32(p + 8));
        ngx_unit_es_declared("message_crc",
                             ngx_unit_es_u32(p + frame.len - 4));

#undef ngx_unit_es_declared

        b64.len = 0;
        root = ngx_bedrock_json_get(root, "payload");

        if (root != NULL && root->type == NGX_BEDROCK_JSON_STRING) {
            b64 = root->value;
        }

        if (ngx_unit_base64(list, &b64, &payload) != NGX_OK) {
            ngx_unit_note(pool, &failure, "payload: invalid base64");
        }

        ngx_unit_es_decode_both(pool, &failure, &frame, &declared, &payload,
                                1);

        if (ngx_unit_result(name, &failure)) {
            s = ngx_array_push(&frames);
            if (s != NULL) {
                *s = frame;
            }

            s = ngx_array_push(&payloads);
            if (s != NULL) {
                *s = payload;
            }
        }

        ngx_destroy_pool(pool);
    }

    if (count) {
        ngx_unit_es_concatenated(list, &frames, &payloads);
    }

    ngx_destroy_pool(list);

    return count;
}


/* all positive frames as one stream, in 7-byte reads */

static void
ngx_unit_es_concatenated(ngx_pool_t *pool, ngx_array_t *frames,
    ngx_array_t *payloads)
{
    size_t                     len;
    u_char                    *p, *pos, *last, *end;
    ngx_int_t                  rc;
    ngx_str_t                 *f, *want, failure;
    ngx_uint_t                 i, n;
    ngx_bedrock_es_decoder_t   d;
    ngx_bedrock_es_message_t   msg;

    ngx_str_null(&failure);

    f = frames->elts;
    want = payloads->elts;

    len = 0;

    for (i = 0; i < frames->nelts; i++) {
        len += f[i].len;
    }

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return;
    }

    pos = p;

    for (i = 0; i < frames->nelts; i++) {
        pos = ngx_cpymem(pos, f[i].data, f[i].len);
    }

    ngx_memzero(&d, sizeof(ngx_bedrock_es_decoder_t));
    d.pool = pool;
    d.max = NGX_UNIT_ES_MAX;

    last = pos;
    pos = p;
    n = 0;

    while (pos < last) {
        end = ngx_min(pos + 7, last);

        rc = ngx_bedrock_es_decode(&d, &pos, end, &msg);

        if (rc == NGX_AGAIN) {
            continue;
        }

        if (rc == NGX_ERROR) {
            ngx_unit_note(pool, &failure, "message %ui: %s", n, d.error);
            break;
        }

        if (n < payloads->nelts) {
            ngx_unit_compare(pool, &failure, "payload", &msg.payload,
                             &want[n]);
        }

        n++;
    }

    if (n != frames->nelts) {
        ngx_unit_note(pool, &failure, "%ui messages decoded of %ui", n,
                      frames->nelts);
    }

    (void) ngx_unit_result("eventstream/aws-sdk-go/positive-concatenated",
                           &failure);
}


static ngx_uint_t
ngx_unit_es_sdk_negative(char *dir)
{
    char                      **names, *name;
    size_t                      step;
    ngx_int_t                   rc;
    ngx_str_t                   frame, want, error, failure;
    ngx_pool_t                 *pool, *list;
    ngx_uint_t                  i, count;
    ngx_array_t                 entries;
    ngx_bedrock_es_message_t    msg;

    list = ngx_unit_pool();

    if (ngx_unit_list(list, ngx_unit_path(list, "%s/encoded/negative", dir),
                      &entries)
        != NGX_OK)
    {
        ngx_destroy_pool(list);
        return 0;
    }

    names = entries.elts;
    count = 0;

    for (i = 0; i < entries.nelts; i++) {
        count++;

        pool = ngx_unit_pool();
        ngx_str_null(&failure);

        name = ngx_unit_path(pool, "eventstream/aws-sdk-go/negative/%s",
                             names[i]);

        if (ngx_unit_read(pool, ngx_unit_path(pool, "%s/encoded/negative/%s",
                                              dir, names[i]),
                          &frame)
            != NGX_OK
            || ngx_unit_read(pool,
                             ngx_unit_path(pool, "%s/decoded/negative/%s",
                                           dir, names[i]),
                             &want)
               != NGX_OK)
        {
            ngx_unit_fail(name, "the vector could not be read");
            ngx_destroy_pool(pool);
            continue;
        }

        while (want.len && (want.data[want.len - 1] == '\n'
                            || want.data[want.len - 1] == '\r'))
        {
            want.len--;
        }

        for (step = frame.len; step; step = (step == 1) ? 0 : 1) {
            rc = ngx_unit_es_feed(pool, &frame, step, &msg, &error);

            if (rc != NGX_ERROR) {
                ngx_unit_note(pool, &failure, "%s: accepted (rc %i)",
                              step == 1 ? "byte by byte" : "whole", rc);
                continue;
            }

            if (error.len != want.len
                || ngx_strncasecmp(error.data, want.data, want.len) != 0)
            {
                ngx_unit_note(pool, &failure, "%s: error \"%V\", want "
                              "\"%V\"", step == 1 ? "byte by byte" : "whole",
                              ngx_unit_v(&error), &want);
            }
        }

        (void) ngx_unit_result(name, &failure);

        ngx_destroy_pool(pool);
    }

    ngx_destroy_pool(list);

    return count;
}


static ngx_uint_t
ngx_unit_es_smithy(char *file)
{
    char                *name;
    ngx_str_t            text, frame, failure, body;
    ngx_pool_t          *pool, *list;
    ngx_uint_t           count, frameless;
    ngx_array_t          declared;
    ngx_bedrock_json_t  *root, *c, *e, *v, *id;

    list = ngx_unit_pool();

    if (ngx_unit_read(list, file, &text) != NGX_OK
        || ngx_unit_json(list, &text, &root) != NGX_OK)
    {
        ngx_destroy_pool(list);
        return 0;
    }

    root = ngx_bedrock_json_get(root, "cases");

    if (root == NULL || root->type != NGX_BEDROCK_JSON_ARRAY) {
        ngx_destroy_pool(list);
        return 0;
    }

    count = 0;
    frameless = 0;

    for (c = root->child; c; c = c->next) {

        id = ngx_bedrock_json_get(c, "id");
        v = ngx_bedrock_json_get(c, "events");

        if (id == NULL || id->type != NGX_BEDROCK_JSON_STRING) {
            continue;
        }

        if (v == NULL || v->type != NGX_BEDROCK_JSON_ARRAY || v->n == 0) {
            frameless++;
            continue;
        }

        for (e = v->child; e; e = e->next) {
            v = ngx_bedrock_json_get(e, "bytes");

            if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
                frameless++;
                continue;
            }

            count++;

            pool = ngx_unit_pool();
            ngx_str_null(&failure);

            name = ngx_unit_path(pool, "eventstream/smithy/%V", &id->value);

            if (ngx_unit_base64(pool, &v->value, &frame) != NGX_OK
                || ngx_array_init(&declared, pool, 4,
                                  sizeof(ngx_unit_es_header_t))
                   != NGX_OK
                || ngx_unit_es_smithy_headers(pool,
                                              ngx_bedrock_json_get(e,
                                                                  "headers"),
                                              &declared)
                   != NGX_OK)
            {
                ngx_unit_fail(name, "the case could not be read");
                ngx_destroy_pool(pool);
                continue;
            }

            v = ngx_bedrock_json_get(e, "body");
            ngx_str_null(&body);

            if (v != NULL && v->type == NGX_BEDROCK_JSON_STRING) {
                body = v->value;
            }

            ngx_unit_es_decode_both(pool, &failure, &frame, &declared,
                                    &body, 0);

            (void) ngx_unit_result(name, &failure);

            ngx_destroy_pool(pool);
        }
    }

    if (frameless) {
        ngx_unit_print("note eventstream/smithy: %ui cases carry no frame "
                       "(initial request or response only)\n", frameless);
    }

    ngx_destroy_pool(list);

    return count;
}


/*
 * The frame decoded whole and byte by byte: all of it is used, the payload
 * and the string headers the decoder knows are right, and the decoder is
 * ready for the next message; our own walk checks every header
 */

static void
ngx_unit_es_decode_both(ngx_pool_t *pool, ngx_str_t *failure,
    ngx_str_t *frame, ngx_array_t *declared, ngx_str_t *payload,
    ngx_uint_t ordered)
{
    size_t                     step;
    ngx_int_t                  rc;
    ngx_str_t                  error;
    ngx_array_t                walked;
    ngx_bedrock_es_message_t   msg;

    for (step = frame->len; step; step = (step == 1) ? 0 : 1) {

        rc = ngx_unit_es_feed(pool, frame, step, &msg, &error);

        if (rc != NGX_OK) {
            ngx_unit_note(pool, failure, "%s: rc %i, error \"%V\"",
                          step == 1 ? "byte by byte" : "whole", rc,
                          ngx_unit_v(&error));
            continue;
        }

        ngx_unit_compare(pool, failure, step == 1 ? "payload (bytewise)"
                                                  : "payload",
                         &msg.payload, payload);

        ngx_unit_es_known(pool, failure, &msg, declared);
    }

    if (ngx_array_init(&walked, pool, 4, sizeof(ngx_unit_es_header_t))
        != NGX_OK
        || ngx_unit_es_walk(pool, frame, &walked) != NGX_OK)
    {
        ngx_unit_note(pool, failure, "the headers could not be walked");
        return;
    }

    ngx_unit_es_compare_headers(pool, failure, &walked, declared, ordered);
}


/*
 * Feeds "in" in pieces of "step" bytes until a message or an error;
 * a message must end exactly at the end of the input
 */

static ngx_int_t
ngx_unit_es_feed(ngx_pool_t *pool, ngx_str_t *in, size_t step,
    ngx_bedrock_es_message_t *msg, ngx_str_t *error)
{
    u_char                    *pos, *last, *end;
    ngx_int_t                  rc;
    ngx_bedrock_es_decoder_t   d;
    ngx_bedrock_es_message_t   next;

    ngx_memzero(&d, sizeof(ngx_bedrock_es_decoder_t));
    d.pool = pool;
    d.max = NGX_UNIT_ES_MAX;

    ngx_str_null(error);

    pos = in->data;
    last = pos + in->len;

    for ( ;; ) {
        end = ngx_min(pos + step, last);

        rc = ngx_bedrock_es_decode(&d, &pos, end, msg);

        if (rc == NGX_AGAIN) {
            if (pos != end) {
                ngx_str_set(error, "NGX_AGAIN before the end of the input");
                return NGX_ERROR;
            }

            if (pos == last) {
                ngx_str_set(error, "incomplete");
                return NGX_AGAIN;
            }

            continue;
        }

        if (rc == NGX_ERROR) {
            if (d.error) {
                error->data = (u_char *) d.error;
                error->len = ngx_strlen(d.error);
            }

            return NGX_ERROR;
        }

        break;
    }

    if (pos != last) {
        ngx_str_set(error, "a message before the end of the input");
        return NGX_ERROR;
    }

    /* the next message starts afresh, and this one stays as it was */

    if (ngx_bedrock_es_decode(&d, &pos, last, &next) != NGX_AGAIN) {
        ngx_str_set(error, "not ready for the next message");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* every header of a whole frame, in order */

static ngx_int_t
ngx_unit_es_walk(ngx_pool_t *pool, ngx_str_t *frame, ngx_array_t *headers)
{
    size_t                 len;
    u_char                *p, *last;
    ngx_uint_t             i;
    ngx_unit_es_header_t  *h;

    if (frame->len < NGX_BEDROCK_ES_MIN_LEN) {
        return NGX_ERROR;
    }

    p = frame->data + NGX_BEDROCK_ES_PRELUDE_LEN;
    len = ngx_unit_es_u32(frame->data + 4);

    if (len > frame->len - NGX_BEDROCK_ES_MIN_LEN) {
        return NGX_ERROR;
    }

    last = p + len;

    while (p < last) {
        h = ngx_array_push(headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_unit_es_header_t));

        h->name.len = *p++;
        h->name.data = p;

        if ((size_t) (last - p) < h->name.len + 1) {
            return NGX_ERROR;
        }

        p += h->name.len;
        h->type = *p++;

        switch (h->type) {

        case 0:
        case 1:
            h->number = (h->type == 0);
            break;

        case 2:
        case 3:
        case 4:
        case 5:
        case 8:
            len = (h->type == 2) ? 1 : (h->type == 3) ? 2
                  : (h->type == 4) ? 4 : 8;

            if ((size_t) (last - p) < len) {
                return NGX_ERROR;
            }

            /* big-endian two's complement */

            h->number = (p[0] & 0x80) ? -1 : 0;

            for (i = 0; i < len; i++) {
                h->number = (int64_t) ((uint64_t) h->number << 8 | p[i]);
            }

            p += len;
            break;

        case 6:
        case 7:
        case 9:
            if (h->type == 9) {
                len = 16;

            } else {
                if (last - p < 2) {
                    return NGX_ERROR;
                }

                len = (size_t) p[0] << 8 | p[1];
                p += 2;
            }

            if ((size_t) (last - p) < len) {
                return NGX_ERROR;
            }

            h->bytes.data = p;
            h->bytes.len = len;
            p += len;
            break;

        default:
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_unit_es_compare_headers(ngx_pool_t *pool, ngx_str_t *failure,
    ngx_array_t *got, ngx_array_t *want, ngx_uint_t ordered)
{
    ngx_uint_t             i, j;
    ngx_unit_es_header_t  *g, *w, *m;

    g = got->elts;
    w = want->elts;

    if (got->nelts != want->nelts) {
        ngx_unit_note(pool, failure, "%ui headers, want %ui", got->nelts,
                      want->nelts);
        return;
    }

    for (i = 0; i < got->nelts; i++) {
        m = NULL;

        if (ordered) {
            m = &w[i];

        } else {
            for (j = 0; j < want->nelts; j++) {
                if (ngx_unit_equal(&w[j].name, &g[i].name)) {
                    m = &w[j];
                    break;
                }
            }
        }

        if (m == NULL || !ngx_unit_equal(&m->name, &g[i].name)) {
            ngx_unit_note(pool, failure, "header %ui \"%V\" not declared", i,
                          &g[i].name);
            continue;
        }

        if (m->type != g[i].type || m->number != g[i].number
            || !ngx_unit_equal(&m->bytes, &g[i].bytes))
        {
            ngx_unit_note(pool, failure, "header \"%V\": type %ui value %L "
                          "\"%V\", want type %ui value %L \"%V\"",
                          &g[i].name, g[i].type, g[i].number,
                          ngx_unit_v(&g[i].bytes), m->type, m->number,
                          ngx_unit_v(&m->bytes));
        }
    }
}


/* the string headers the decoder exposes, against the declared ones */

static void
ngx_unit_es_known(ngx_pool_t *pool, ngx_str_t *failure,
    ngx_bedrock_es_message_t *msg, ngx_array_t *declared)
{
    ngx_str_t              *got, want, name;
    ngx_uint_t              i, j;
    ngx_unit_es_header_t   *h;

    static struct {
        char       *name;
        size_t      offset;
    } known[] = {
        { ":message-type",
          offsetof(ngx_bedrock_es_message_t, message_type) },
        { ":event-type",
          offsetof(ngx_bedrock_es_message_t, event_type) },
        { ":exception-type",
          offsetof(ngx_bedrock_es_message_t, exception_type) },
        { ":error-code",
          offsetof(ngx_bedrock_es_message_t, error_code) },
        { ":error-message",
          offsetof(ngx_bedrock_es_message_t, error_message) },
        { NULL, 0 }
    };

    h = declared->elts;

    for (i = 0; known[i].name; i++) {
        name.data = (u_char *) known[i].name;
        name.len = ngx_strlen(known[i].name);

        ngx_str_null(&want);

        for (j = 0; j < declared->nelts; j++) {
            if (h[j].type == 7 && ngx_unit_equal(&h[j].name, &name)) {
                want = h[j].bytes;
            }
        }

        got = (ngx_str_t *) ((u_char *) msg + known[i].offset);

        ngx_unit_compare(pool, failure, known[i].name, got, &want);
    }
}


/* aws-sdk-go: [{"name","type","value"}], strings and bytes in base64 */

static ngx_int_t
ngx_unit_es_sdk_headers(ngx_pool_t *pool, ngx_bedrock_json_t *list,
    ngx_array_t *headers)
{
    int64_t                n;
    ngx_bedrock_json_t    *e, *name, *value;
    ngx_unit_es_header_t  *h;

    if (list == NULL || list->type != NGX_BEDROCK_JSON_ARRAY) {
        return NGX_ERROR;
    }

    for (e = list->child; e; e = e->next) {
        name = ngx_bedrock_json_get(e, "name");
        value = ngx_bedrock_json_get(e, "value");

        if (name == NULL || name->type != NGX_BEDROCK_JSON_STRING
            || value == NULL
            || ngx_unit_number(ngx_bedrock_json_get(e, "type"), &n) != NGX_OK
            || n < 0 || n > 9)
        {
            return NGX_ERROR;
        }

        h = ngx_array_push(headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_unit_es_header_t));

        h->name = name->value;
        h->type = (ngx_uint_t) n;

        switch (h->type) {

        case 0:
        case 1:
            h->number = (value->type == NGX_BEDROCK_JSON_TRUE);
            break;

        case 6:
        case 7:
        case 9:
            if (value->type != NGX_BEDROCK_JSON_STRING
                || ngx_unit_base64(pool, &value->value, &h->bytes) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        default:
            if (ngx_unit_number(value, &h->number) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* Smithy: {"name": {"string": "v"}, "n2": {"long": 1}, ...} */

static ngx_int_t
ngx_unit_es_smithy_headers(ngx_pool_t *pool, ngx_bedrock_json_t *obj,
    ngx_array_t *headers)
{
    time_t                 t;
    ngx_uint_t             i;
    ngx_bedrock_json_t    *e, *v;
    ngx_unit_es_header_t  *h;

    static struct {
        char       *name;
        ngx_uint_t  type;
    } types[] = {
        { "boolean", 0 },
        { "byte", 2 },
        { "short", 3 },
        { "integer", 4 },
        { "long", 5 },
        { "blob", 6 },
        { "string", 7 },
        { "timestamp", 8 },
        { NULL, 0 }
    };

    if (obj == NULL || obj->type != NGX_BEDROCK_JSON_OBJECT) {
        return NGX_ERROR;
    }

    for (e = obj->child; e; e = e->next) {
        v = e->child;

        if (e->type != NGX_BEDROCK_JSON_OBJECT || v == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; types[i].name; i++) {
            if (v->key.len == ngx_strlen(types[i].name)
                && ngx_strncmp(v->key.data, types[i].name, v->key.len) == 0)
            {
                break;
            }
        }

        if (types[i].name == NULL) {
            return NGX_ERROR;
        }

        h = ngx_array_push(headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_unit_es_header_t));

        h->name = e->key;
        h->type = types[i].type;

        switch (h->type) {

        case 0:
            h->number = (v->type == NGX_BEDROCK_JSON_TRUE);
            h->type = h->number ? 0 : 1;
            break;

        case 6:
            if (v->type != NGX_BEDROCK_JSON_STRING
                || ngx_unit_base64(pool, &v->value, &h->bytes) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case 7:
            if (v->type != NGX_BEDROCK_JSON_STRING) {
                return NGX_ERROR;
            }

            h->bytes = v->value;
            break;

        case 8:

            /* milliseconds since the epoch */

            if (v->type != NGX_BEDROCK_JSON_STRING) {
                return NGX_ERROR;
            }

            t = ngx_bedrock_parse_iso8601(v->value.data, v->value.len);
            if (t == 0) {
                return NGX_ERROR;
            }

            h->number = (int64_t) t * 1000;
            break;

        default:
            if (ngx_unit_number(v, &h->number) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* framing errors and edges no published vector has */

static void
ngx_unit_es_synthetic(void)
{
    size_t                     step;
    u_char                    *p;
    uint32_t                   crc;
    ngx_int_t                  rc;
    ngx_str_t                  frame, headers, payload, failure;
    ngx_pool_t                *pool;
    ngx_uint_t                 i;
    ngx_bedrock_es_decoder_t   d;
    ngx_bedrock_es_message_t   msg;
    u_char                     buf[64];

    static struct {
        char        *name;
        char        *error;     /* NULL: decodes */
        ngx_uint_t   kind;
    } tests[] = {
        { "short-total", "invalid message length", 0 },
        { "headers-longer-than-message", "invalid message length", 1 },
        { "too-large", "message too large", 2 },
        { "header-type-10", "invalid message headers", 3 },
        { "header-empty-name", "invalid message headers", 4 },
        { "header-string-overrun", "invalid message headers", 5 },
        { "header-name-overrun", "invalid message headers", 6 },
        { "larger-than-first-buffer", NULL, 7 },
        { "exactly-max", NULL, 8 },
        { "every-fixed-type", NULL, 9 },
        { NULL, NULL, 0 }
    };

    for (i = 0; tests[i].name; i++) {
        pool = ngx_unit_pool();
        ngx_str_null(&failure);

        headers.data = buf;
        headers.len = 0;
        ngx_str_set(&payload, "{}");

        p = buf;

        switch (tests[i].kind) {

        case 3:
            p = ngx_unit_frame_header(p, "x", 10, NULL, 0);
            break;

        case 4:
            p = ngx_unit_frame_header(p, "", 4, (u_char *) "\0\0\0\1", 4);
            break;

        case 5:
            p = ngx_unit_frame_header(p, "s", 7, (u_char *) "abc", 3);
            p[-4] = 0x10;
            break;

        case 6:
            *p++ = 40;
            p = ngx_cpymem(p, "name", 4);
            break;

        case 7:
        case 8:
            payload.len = (tests[i].kind == 7) ? 3000 : 100;
            payload.data = ngx_pnalloc(pool, payload.len);
            if (payload.data == NULL) {
                break;
            }

            ngx_memset(payload.data, 'x', payload.len);
            break;

        case 9:
            p = ngx_unit_frame_header(p, "t", 0, NULL, 0);
            p = ngx_unit_frame_header(p, "f", 1, NULL, 0);
            p = ngx_unit_frame_header(p, "b", 2, (u_char *) "\xff", 1);
            p = ngx_unit_frame_header(p, "h", 3, (u_char *) "\x80\0", 2);
            p = ngx_unit_frame_header(p, "u", 9,
                                      (u_char *) "0123456789abcdef", 16);
            break;
        }

        headers.len = p - buf;

        if (ngx_unit_frame(pool, &headers, &payload, &frame) != NGX_OK) {
            ngx_unit_fail(tests[i].name, "no frame");
            ngx_destroy_pool(pool);
            continue;
        }

        if (tests[i].kind == 0 || tests[i].kind == 1) {

            /* lengths that lie, under a good prelude checksum */

            if (tests[i].kind == 0) {
                frame.data[3] = 15;

            } else {
                frame.data[7] = (u_char) (frame.len - 15);
            }

            p = frame.data;
            crc = ngx_crc32_long(p, 8);
            p[8] = (u_char) (crc >> 24);
            p[9] = (u_char) (crc >> 16);
            p[10] = (u_char) (crc >> 8);
            p[11] = (u_char) crc;
        }

        for (step = frame.len; step; step = (step == 1) ? 0 : 1) {
            ngx_memzero(&d, sizeof(ngx_bedrock_es_decoder_t));
            d.pool = pool;
            d.max = (tests[i].kind == 2) ? frame.len - 1
                    : (tests[i].kind == 8) ? frame.len : NGX_UNIT_ES_MAX;

            p = frame.data;

            do {
                rc = ngx_bedrock_es_decode(&d, &p,
                                           ngx_min(p + step,
                                                   frame.data + frame.len),
                                           &msg);
            } while (rc == NGX_AGAIN && p < frame.data + frame.len);

            if (tests[i].error == NULL) {
                if (rc != NGX_OK) {
                    ngx_unit_note(pool, &failure, "step %uz: rc %i (%s)",
                                  step, rc, d.error ? d.error : "");

                } else {
                    ngx_unit_compare(pool, &failure, "payload",
                                     &msg.payload, &payload);
                }

                continue;
            }

            if (rc != NGX_ERROR || d.error == NULL
                || ngx_strcmp(d.error, tests[i].error) != 0)
            {
                ngx_unit_note(pool, &failure, "step %uz: rc %i, error "
                              "\"%s\", want \"%s\"", step, rc,
                              d.error ? d.error : "", tests[i].error);
            }

            /* an error sticks */

            p = frame.data;

            if (rc == NGX_ERROR
                && ngx_bedrock_es_decode(&d, &p, frame.data + frame.len,
                                         &msg)
                   != NGX_ERROR)
            {
                ngx_unit_note(pool, &failure, "the error did not stick");
            }
        }

        (void) ngx_unit_result(ngx_unit_path(pool, "eventstream/synthetic/%s",
                                             tests[i].name),
                               &failure);

        ngx_destroy_pool(pool);
    }
}
