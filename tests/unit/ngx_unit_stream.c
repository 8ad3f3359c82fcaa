
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_stream.h"


/*
 * Recorded ConverseStream bodies through the decoder (one byte at a time)
 * and the stream translator, as ngx_http_bedrock_stream_feed() drives
 * them: every event is "data: <JSON>\n\n", the text deltas arrive intact
 * and in order, and the stream ends with the right finish_reason (or, for
 * an exception frame, with the right error).
 */


#define NGX_UNIT_STREAM_RECORDINGS  10


typedef struct {
    u_char                      *start;
    u_char                      *pos;
    u_char                      *end;
} ngx_unit_text_t;


static void ngx_unit_stream_recording(char *dir, char *name);
static ngx_int_t ngx_unit_stream_expected(ngx_pool_t *pool, ngx_str_t *jsonl,
    ngx_unit_text_t *text, ngx_str_t *stop_reason, ngx_str_t *exception);
static void ngx_unit_stream_append(ngx_unit_text_t *text,
    ngx_bedrock_json_t *v);


void
ngx_unit_stream(void)
{
    char         *dir, **names;
    size_t        len;
    ngx_pool_t   *pool;
    ngx_uint_t    i, n;
    ngx_array_t   entries;

    if (ngx_unit_vectors == NULL) {
        ngx_unit_skip("stream/recordings", NGX_UNIT_STREAM_RECORDINGS,
                      "no vectors");
        return;
    }

    pool = ngx_unit_pool();

    dir = ngx_unit_path(pool, "%s/bedrock/converse-stream", ngx_unit_vectors);

    if (ngx_unit_list(pool, dir, &entries) != NGX_OK) {
        ngx_unit_skip("stream/recordings", NGX_UNIT_STREAM_RECORDINGS,
                      "no recordings");
        ngx_destroy_pool(pool);
        return;
    }

    names = entries.elts;
    n = 0;

    for (i = 0; i < entries.nelts; i++) {
        len = ngx_strlen(names[i]);

        if (len > 4 && ngx_strcmp(names[i] + len - 4, ".bin") == 0) {
            names[i][len - 4] = '\0';
            ngx_unit_stream_recording(dir, names[i]);
            n++;
        }
    }

    if (n == 0) {
        ngx_unit_skip("stream/recordings", NGX_UNIT_STREAM_RECORDINGS,
                      "no recordings");
    }

    ngx_destroy_pool(pool);
}


static void
ngx_unit_stream_recording(char *dir, char *file)
{
    char                      *name;
    u_char                    *pos, *last;
    ngx_int_t                  rc;
    ngx_str_t                  body, jsonl, failure, sse, stop, exception;
    ngx_str_t                  got, want;
    ngx_pool_t                *pool, *scratch;
    ngx_uint_t                 i, stopped, declined;
    ngx_array_t                events;
    ngx_unit_text_t            text, expected;
    ngx_bedrock_json_t       **ev, *choice, *delta, *v;
    ngx_bedrock_error_t        err;
    ngx_bedrock_event_t        e;
    ngx_bedrock_events_t       es;
    ngx_bedrock_stream_t       st;
    ngx_bedrock_es_decoder_t   d;
    ngx_bedrock_es_message_t   msg;

    pool = ngx_unit_pool();
    scratch = ngx_unit_pool();

    ngx_str_null(&failure);

    name = ngx_unit_path(pool, "stream/recordings/%s", file);

    if (ngx_unit_read(pool, ngx_unit_path(pool, "%s/%s.bin", dir, file),
                      &body)
        != NGX_OK
        || ngx_unit_read(pool, ngx_unit_path(pool, "%s/%s.decoded.jsonl", dir,
                                             file),
                         &jsonl)
           != NGX_OK)
    {
        ngx_unit_fail(name, "the recording could not be read");
        goto done;
    }

    /* the text is shorter than the body, unless bytes were replaced */

    text.start = ngx_pnalloc(pool, 3 * body.len + 1);
    expected.start = ngx_pnalloc(pool, 3 * body.len + 1);

    if (text.start == NULL || expected.start == NULL) {
        goto done;
    }

    text.pos = text.start;
    text.end = text.start + 3 * body.len;
    expected.pos = expected.start;
    expected.end = expected.start + 3 * body.len;

    if (ngx_unit_stream_expected(pool, &jsonl, &expected, &stop, &exception)
        != NGX_OK)
    {
        ngx_unit_fail(name, "the decoded frames could not be read");
        goto done;
    }

    ngx_memzero(&d, sizeof(ngx_bedrock_es_decoder_t));
    d.pool = pool;
    d.max = 1024 * 1024;

    ngx_memzero(&st, sizeof(ngx_bedrock_stream_t));

    if (ngx_bedrock_events_init(&es, pool) != NGX_OK) {
        goto done;
    }

    ngx_str_set(&st.model, "test-model");
    ngx_str_set(&st.id, "chatcmpl-test");
    st.created = 1700000000;
    st.include_usage = 1;

    stopped = 0;
    declined = 0;

    pos = body.data;
    last = body.data + body.len;

    while (pos < last && !declined) {

        rc = ngx_bedrock_es_decode(&d, &pos, pos + 1, &msg);

        if (rc == NGX_AGAIN) {
            continue;
        }

        if (rc == NGX_ERROR) {
            ngx_unit_note(pool, &failure, "decoder: %s", d.error);
            break;
        }

        rc = ngx_bedrock_events_next(&es, scratch, &msg, &e, &err);

        if (rc == NGX_ERROR) {
            ngx_unit_note(pool, &failure, "ngx_bedrock_events_next() "
                          "failed");
            break;
        }

        ngx_str_null(&sse);

        if (rc == NGX_OK
            && ngx_bedrock_stream_event(&st, &es, &e, scratch, &sse)
               != NGX_OK)
        {
            ngx_unit_note(pool, &failure, "ngx_bedrock_stream_event() "
                          "failed");
            break;
        }

        if (rc == NGX_DECLINED) {
            declined = 1;

            ngx_unit_compare(pool, &failure, "exception type", &err.aws_type,
                             &exception);

            if (ngx_bedrock_stream_error(scratch, &err, &sse) != NGX_OK) {
                ngx_unit_note(pool, &failure, "no error event");
                break;
            }
        }

        if (ngx_array_init(&events, scratch, 4, sizeof(ngx_bedrock_json_t *))
            != NGX_OK)
        {
            break;
        }

        if (ngx_unit_sse(scratch, &sse, &events) != NGX_OK) {
            ngx_unit_note(pool, &failure, "an invalid event: \"%V\"", &sse);
            break;
        }

        ev = events.elts;

        for (i = 0; i < events.nelts; i++) {
            v = ngx_bedrock_json_get(ev[i], "choices");
            choice = (v && v->type == NGX_BEDROCK_JSON_ARRAY) ? v->child
                                                              : NULL;
            delta = ngx_bedrock_json_get(choice, "delta");

            ngx_unit_stream_append(&text,
                                   ngx_bedrock_json_get(delta, "content"));

            v = ngx_bedrock_json_get(choice, "finish_reason");

            if (v && v->type == NGX_BEDROCK_JSON_STRING) {
                stopped = 1;

                got = v->value;
                ngx_unit_compare(pool, &failure, "finish_reason", &got,
                                 &stop);
            }
        }

        ngx_reset_pool(scratch);
    }

    got.data = text.start;
    got.len = text.pos - text.start;
    want.data = expected.start;
    want.len = expected.pos - expected.start;

    ngx_unit_compare(pool, &failure, "content", &got, &want);

    if (exception.len && !declined) {
        ngx_unit_note(pool, &failure, "the exception did not end the "
                      "stream");
    }

    if (exception.len == 0 && (!stopped || !es.stopped)) {
        ngx_unit_note(pool, &failure, "no finish_reason");
    }

    (void) ngx_unit_result(name, &failure);

done:

    ngx_destroy_pool(scratch);
    ngx_destroy_pool(pool);
}


/*
 * From the independently decoded frames: the text deltas, the finish
 * reason OpenAI clients expect for the stopReason, and the exception type
 */

static ngx_int_t
ngx_unit_stream_expected(ngx_pool_t *pool, ngx_str_t *jsonl,
    ngx_unit_text_t *text, ngx_str_t *stop_reason, ngx_str_t *exception)
{
    u_char              *p, *last, *nl;
    ngx_str_t            line;
    ngx_uint_t           i;
    ngx_bedrock_json_t  *root, *headers, *payload, *v;

    static struct {
        char            *stop;
        char            *finish;
    } reasons[] = {
        { "end_turn", "stop" },
        { "tool_use", "tool_calls" },
        { "max_tokens", "length" },
        { "guardrail_intervened", "content_filter" },
        { NULL, NULL }
    };

    ngx_str_null(stop_reason);
    ngx_str_null(exception);

    p = jsonl->data;
    last = p + jsonl->len;

    for ( /* void */ ; p < last; p = nl + 1) {
        nl = ngx_strlchr(p, last, '\n');
        if (nl == NULL) {
            nl = last;
        }

        line.data = p;
        line.len = nl - p;

        if (line.len == 0) {
            continue;
        }

        if (ngx_unit_json(pool, &line, &root) != NGX_OK) {
            return NGX_ERROR;
        }

        headers = ngx_bedrock_json_get(root, "headers");
        payload = ngx_bedrock_json_get(root, "payload");

        v = ngx_bedrock_json_get(headers, ":exception-type");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            *exception = v->value;
        }

        v = ngx_bedrock_json_get(headers, ":event-type");

        if (ngx_bedrock_json_is_str(v, "contentBlockDelta")) {
            ngx_unit_stream_append(text, ngx_bedrock_json_get(
                                   ngx_bedrock_json_get(payload, "delta"),
                                   "text"));
        }

        if (ngx_bedrock_json_is_str(v, "messageStop")) {
            v = ngx_bedrock_json_get(payload, "stopReason");

            if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
                return NGX_ERROR;
            }

            for (i = 0; reasons[i].stop; i++) {
                if (v->value.len == ngx_strlen(reasons[i].stop)
                    && ngx_strncmp(v->value.data, reasons[i].stop,
                                   v->value.len)
                       == 0)
                {
                    stop_reason->data = (u_char *) reasons[i].finish;
                    stop_reason->len = ngx_strlen(reasons[i].finish);
                }
            }

            if (stop_reason->len == 0) {
                return NGX_ERROR;
            }
        }

        if (nl == last) {
            break;
        }
    }

    return NGX_OK;
}


static void
ngx_unit_stream_append(ngx_unit_text_t *text, ngx_bedrock_json_t *v)
{
    if (v != NULL && v->type == NGX_BEDROCK_JSON_STRING && v->value.len
        && v->value.len <= (size_t) (text->end - text->pos))
    {
        text->pos = ngx_cpymem(text->pos, v->value.data, v->value.len);
    }
}
