
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_stream.h"


static void ngx_bedrock_stream_usage(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_usage_t *usage);
static void ngx_bedrock_stream_envelope(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w);
static void ngx_bedrock_stream_begin(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w);
static void ngx_bedrock_stream_end(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, char *finish_reason);
static void ngx_bedrock_stream_delta(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, char *key, ngx_str_t *value);
static void ngx_bedrock_stream_tool_begin(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_int_t tool);
static void ngx_bedrock_stream_tool_end(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w);
static void ngx_bedrock_stream_role(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w);
static void ngx_bedrock_stream_thinking(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_event_t *ev);


ngx_str_t  ngx_bedrock_stream_done = ngx_string("data: [DONE]\n\n");


ngx_int_t
ngx_bedrock_stream_event(ngx_bedrock_stream_t *st, ngx_bedrock_events_t *es,
    ngx_bedrock_event_t *ev, ngx_pool_t *scratch, ngx_str_t *sse)
{
    ngx_bedrock_jw_t  w;

    ngx_str_null(sse);
    st->content = 0;

    if (ev->type == NGX_BEDROCK_EVENT_NONE
        || ev->type == NGX_BEDROCK_EVENT_BLOCK_STOP
        || (ev->type == NGX_BEDROCK_EVENT_USAGE && !st->include_usage))
    {
        return NGX_OK;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    switch (ev->type) {

    case NGX_BEDROCK_EVENT_START:
        ngx_bedrock_stream_role(st, &w);
        break;

    case NGX_BEDROCK_EVENT_TOOL_START:
        ngx_bedrock_stream_role(st, &w);
        ngx_bedrock_stream_tool_begin(st, &w, ev->tool);
        ngx_bedrock_jw_key(&w, "id");
        ngx_bedrock_jw_str(&w, &ev->id);
        ngx_bedrock_jw_key(&w, "type");
        ngx_bedrock_jw_cstr(&w, "function");
        ngx_bedrock_jw_key(&w, "function");
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "name");
        ngx_bedrock_jw_str(&w, &ev->name);
        ngx_bedrock_jw_key(&w, "arguments");
        ngx_bedrock_jw_cstr(&w, "");
        ngx_bedrock_stream_tool_end(st, &w);
        break;

    case NGX_BEDROCK_EVENT_TEXT:
        if (ev->text.len) {
            ngx_bedrock_stream_delta(st, &w, "content", &ev->text);
        }

        break;

    case NGX_BEDROCK_EVENT_TOOL_INPUT:
        if (ev->text.len) {
            ngx_bedrock_stream_tool_begin(st, &w, ev->tool);
            ngx_bedrock_jw_key(&w, "function");
            ngx_bedrock_jw_obj(&w);
            ngx_bedrock_jw_key(&w, "arguments");
            ngx_bedrock_jw_str(&w, &ev->text);
            ngx_bedrock_stream_tool_end(st, &w);
        }

        break;

    case NGX_BEDROCK_EVENT_REASONING:
        if (ev->text.len) {
            ngx_bedrock_stream_delta(st, &w, "reasoning_content", &ev->text);
        }

        if (ev->signature.len) {
            ngx_bedrock_stream_thinking(st, &w, ev);
        }

        break;

    case NGX_BEDROCK_EVENT_REDACTED:
        if (ev->text.len) {
            ngx_bedrock_stream_thinking(st, &w, ev);
        }

        break;

    case NGX_BEDROCK_EVENT_STOP:
        ngx_bedrock_stream_role(st, &w);
        ngx_bedrock_stream_begin(st, &w);
        ngx_bedrock_stream_end(st, &w,
                               ngx_bedrock_finish_reason(&es->stop_reason));
        break;

    default: /* NGX_BEDROCK_EVENT_USAGE */
        ngx_bedrock_stream_usage(st, &w, &es->usage);
        break;
    }

    return ngx_bedrock_jw_finish(&w, sse);
}


/* the usage chunk of stream_options.include_usage: "choices":[] */

static void
ngx_bedrock_stream_usage(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_bedrock_usage_t *usage)
{
    ngx_bedrock_stream_envelope(st, w);
    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_jw_key(w, "usage");
    ngx_bedrock_usage_json(w, usage);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_raw(w, "\n\n", 2);
    ngx_bedrock_jw_reset(w);
}


/* "data: {"id":...,"choices":[" */

static void
ngx_bedrock_stream_envelope(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w)
{
    ngx_bedrock_jw_raw(w, "data: ", 6);
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "id");
    ngx_bedrock_jw_str(w, &st->id);
    ngx_bedrock_jw_key(w, "object");
    ngx_bedrock_jw_cstr(w, "chat.completion.chunk");
    ngx_bedrock_jw_key(w, "created");
    ngx_bedrock_jw_int(w, (ngx_int_t) st->created);
    ngx_bedrock_jw_key(w, "model");
    ngx_bedrock_jw_str(w, &st->model);
    ngx_bedrock_jw_key(w, "system_fingerprint");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_key(w, "choices");
    ngx_bedrock_jw_arr(w);
}


/* "data: {...,"choices":[{"index":0,"delta":{" */

static void
ngx_bedrock_stream_begin(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w)
{
    ngx_bedrock_stream_envelope(st, w);
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "index");
    ngx_bedrock_jw_int(w, 0);
    ngx_bedrock_jw_key(w, "delta");
    ngx_bedrock_jw_obj(w);
}


/* "},"logprobs":null,"finish_reason":...}]}\n\n" */

static void
ngx_bedrock_stream_end(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    char *finish_reason)
{
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_key(w, "logprobs");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_key(w, "finish_reason");

    if (finish_reason) {
        ngx_bedrock_jw_cstr(w, finish_reason);

    } else {
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_arr_end(w);

    if (st->include_usage) {
        ngx_bedrock_jw_key(w, "usage");
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_raw(w, "\n\n", 2);
    ngx_bedrock_jw_reset(w);
}


/* a chunk of one delta field: {"content":"..."} */

static void
ngx_bedrock_stream_delta(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    char *key, ngx_str_t *value)
{
    ngx_bedrock_stream_role(st, w);
    ngx_bedrock_stream_begin(st, w);
    ngx_bedrock_jw_key(w, key);
    ngx_bedrock_jw_str(w, value);
    ngx_bedrock_stream_end(st, w, NULL);

    st->content = 1;
}


/*
 * What a client sends back for the model to check its reasoning: the
 * signature, {"thinking_blocks":[{"type":"thinking","thinking":"",
 * "signature":"..."}]}, its text having come in reasoning_content deltas;
 * or a redacted block, {"type":"redacted_thinking","data":"..."}
 */

static void
ngx_bedrock_stream_thinking(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_bedrock_event_t *ev)
{
    ngx_str_t  empty = ngx_string("");

    ngx_bedrock_stream_role(st, w);
    ngx_bedrock_stream_begin(st, w);
    ngx_bedrock_jw_key(w, "thinking_blocks");
    ngx_bedrock_jw_arr(w);
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "type");

    if (ev->type == NGX_BEDROCK_EVENT_REDACTED) {
        ngx_bedrock_jw_cstr(w, "redacted_thinking");
        ngx_bedrock_jw_key(w, "data");
        ngx_bedrock_jw_str(w, &ev->text);

    } else {
        ngx_bedrock_jw_cstr(w, "thinking");
        ngx_bedrock_jw_key(w, "thinking");
        ngx_bedrock_jw_str(w, &empty);
        ngx_bedrock_jw_key(w, "signature");
        ngx_bedrock_jw_str(w, &ev->signature);
    }

    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_stream_end(st, w, NULL);

    st->content = 1;
}


/* "data: {...,"delta":{"tool_calls":[{"index":n," */

static void
ngx_bedrock_stream_tool_begin(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_int_t tool)
{
    ngx_bedrock_stream_begin(st, w);
    ngx_bedrock_jw_key(w, "tool_calls");
    ngx_bedrock_jw_arr(w);
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "index");
    ngx_bedrock_jw_int(w, tool);
}


/* the end of a tool call chunk, from within its "function" object */

static void
ngx_bedrock_stream_tool_end(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w)
{
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_stream_end(st, w, NULL);

    st->content = 1;
}


/* the first chunk: {"role":"assistant","content":""} */

static void
ngx_bedrock_stream_role(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w)
{
    if (st->started) {
        return;
    }

    st->started = 1;

    ngx_bedrock_stream_begin(st, w);
    ngx_bedrock_jw_key(w, "role");
    ngx_bedrock_jw_cstr(w, "assistant");
    ngx_bedrock_jw_key(w, "content");
    ngx_bedrock_jw_cstr(w, "");
    ngx_bedrock_stream_end(st, w, NULL);
}


ngx_int_t
ngx_bedrock_stream_error(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_str_t *sse)
{
    u_char     *p;
    ngx_str_t   json;

    if (ngx_bedrock_error_json(pool, err, &json) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, sizeof("data: \n\n") - 1 + json.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    sse->data = p;

    p = ngx_cpymem(p, "data: ", 6);
    p = ngx_cpymem(p, json.data, json.len);
    p = ngx_cpymem(p, "\n\n", 2);

    sse->len = p - sse->data;

    return NGX_OK;
}
