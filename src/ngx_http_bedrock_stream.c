
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_stream.h"


#define NGX_BEDROCK_STREAM_VALUES  (64 * 1024)
#define NGX_BEDROCK_STREAM_BLOCKS  1024


static ngx_int_t ngx_bedrock_stream_content(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_json_t *root, ngx_uint_t start);
static ngx_int_t ngx_bedrock_stream_stop(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_json_t *root);
static void ngx_bedrock_stream_metadata(ngx_bedrock_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_json_t *root);
static ngx_bedrock_stream_block_t *ngx_bedrock_stream_find(
    ngx_bedrock_stream_t *st, ngx_int_t block);
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


ngx_str_t  ngx_bedrock_stream_done = ngx_string("data: [DONE]\n\n");


ngx_int_t
ngx_bedrock_stream_init(ngx_bedrock_stream_t *st, ngx_pool_t *pool)
{
    return ngx_array_init(&st->blocks, pool, 4,
                          sizeof(ngx_bedrock_stream_block_t));
}


ngx_int_t
ngx_bedrock_stream_event(ngx_bedrock_stream_t *st, ngx_pool_t *scratch,
    ngx_bedrock_es_message_t *msg, ngx_str_t *sse, ngx_bedrock_error_t *err)
{
    ngx_int_t            rc;
    ngx_str_t            error, *type;
    ngx_uint_t           budget;
    ngx_bedrock_jw_t     w;
    ngx_bedrock_json_t  *root;

    ngx_str_null(sse);
    st->content = 0;

    root = NULL;
    budget = NGX_BEDROCK_STREAM_VALUES;
    type = &msg->event_type;

    /*
     * after messageStop only the metadata (usage) has a place: other
     * events are not even parsed
     */

    if (st->stopped
        && msg->message_type.len == 5
        && ngx_strncmp(msg->message_type.data, "event", 5) == 0
        && (type->len != 8 || ngx_strncmp(type->data, "metadata", 8) != 0))
    {
        return NGX_OK;
    }

    if (msg->payload.len) {
        rc = ngx_bedrock_json_parse(scratch, msg->payload.data,
                                    msg->payload.len, &budget, &root, &error);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (msg->message_type.len == 9
        && ngx_strncmp(msg->message_type.data, "exception", 9) == 0)
    {
        rc = ngx_bedrock_stream_exception(scratch, msg, root, err);
        return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
    }

    if (msg->message_type.len == 5
        && ngx_strncmp(msg->message_type.data, "error", 5) == 0)
    {
        rc = ngx_bedrock_stream_exception(scratch, msg, NULL, err);
        return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
    }

    if (msg->message_type.len != 5
        || ngx_strncmp(msg->message_type.data, "event", 5) != 0)
    {
        return NGX_OK;
    }

    if (root == NULL || root->type != NGX_BEDROCK_JSON_OBJECT) {
        ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                              "Bedrock sent an event that is not a JSON "
                              "object.");
        return NGX_DECLINED;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

#define ngx_bedrock_event_is(s)                                              \
    (type->len == sizeof(s) - 1 && ngx_strncmp(type->data, s, type->len) == 0)

    if (ngx_bedrock_event_is("messageStart")) {
        ngx_bedrock_stream_role(st, &w);

    } else if (ngx_bedrock_event_is("contentBlockStart")) {
        rc = ngx_bedrock_stream_content(st, &w, root, 1);

    } else if (ngx_bedrock_event_is("contentBlockDelta")) {
        rc = ngx_bedrock_stream_content(st, &w, root, 0);

    } else if (ngx_bedrock_event_is("messageStop")) {
        rc = ngx_bedrock_stream_stop(st, &w, root);

    } else if (ngx_bedrock_event_is("metadata")) {
        ngx_bedrock_stream_metadata(st, &w, root);
    }

    /* contentBlockStop and event types added later: nothing to send */

#undef ngx_bedrock_event_is

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                                  "Bedrock sent more content blocks than "
                                  "this gateway accepts.");

        } else if (rc == NGX_ABORT) {
            ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                                  "Bedrock sent a tool call without a "
                                  "string toolUseId and name.");
            rc = NGX_DECLINED;
        }

        return rc;
    }

    return ngx_bedrock_jw_finish(&w, sse);
}


static ngx_int_t
ngx_bedrock_stream_content(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_bedrock_json_t *root, ngx_uint_t start)
{
    ngx_int_t                    index;
    ngx_bedrock_json_t          *v, *tool, *text, *input, *reasoning;
    ngx_bedrock_stream_block_t  *b;

    if (ngx_bedrock_json_int(ngx_bedrock_json_get(root, "contentBlockIndex"),
                             &index)
        != NGX_OK)
    {
        index = -1;
    }

    if (start) {
        v = ngx_bedrock_json_get(root, "start");
        tool = ngx_bedrock_json_get(v, "toolUse");

        if (st->blocks.nelts >= NGX_BEDROCK_STREAM_BLOCKS) {
            return NGX_DECLINED;
        }

        b = ngx_array_push(&st->blocks);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->block = index;
        b->tool = -1;

        /*
         * only the client's tools become tool calls: a server-side tool
         * and its result are Bedrock's own business
         */

        if (tool == NULL
            || ngx_bedrock_json_is_str(ngx_bedrock_json_get(tool, "type"),
                                       "server_tool_use"))
        {
            return NGX_OK;
        }

        /* what OpenAI's schema needs of a tool call */

        v = ngx_bedrock_json_get(tool, "toolUseId");
        text = ngx_bedrock_json_get(tool, "name");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || text == NULL || text->type != NGX_BEDROCK_JSON_STRING)
        {
            return NGX_ABORT;
        }

        b->tool = st->tools++;

        ngx_bedrock_stream_role(st, w);
        ngx_bedrock_stream_tool_begin(st, w, b->tool);
        ngx_bedrock_jw_key(w, "id");
        ngx_bedrock_jw_value(w, ngx_bedrock_json_get(tool, "toolUseId"));
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "function");
        ngx_bedrock_jw_key(w, "function");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "name");
        ngx_bedrock_jw_value(w, ngx_bedrock_json_get(tool, "name"));
        ngx_bedrock_jw_key(w, "arguments");
        ngx_bedrock_jw_cstr(w, "");
        ngx_bedrock_stream_tool_end(st, w);

        return NGX_OK;
    }

    v = ngx_bedrock_json_get(root, "delta");

    text = ngx_bedrock_json_get(v, "text");

    if (text && text->type == NGX_BEDROCK_JSON_STRING) {
        if (text->value.len == 0) {
            return NGX_OK;
        }

        ngx_bedrock_stream_delta(st, w, "content", &text->value);

        return NGX_OK;
    }

    input = ngx_bedrock_json_get(ngx_bedrock_json_get(v, "toolUse"),
                                 "input");

    if (input && input->type == NGX_BEDROCK_JSON_STRING) {
        b = ngx_bedrock_stream_find(st, index);

        if (b == NULL || b->tool < 0 || input->value.len == 0) {
            return NGX_OK;
        }

        ngx_bedrock_stream_tool_begin(st, w, b->tool);
        ngx_bedrock_jw_key(w, "function");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "arguments");
        ngx_bedrock_jw_str(w, &input->value);
        ngx_bedrock_stream_tool_end(st, w);

        return NGX_OK;
    }

    reasoning = ngx_bedrock_json_get(ngx_bedrock_json_get(v,
                                                          "reasoningContent"),
                                     "text");

    if (reasoning && reasoning->type == NGX_BEDROCK_JSON_STRING
        && reasoning->value.len)
    {
        ngx_bedrock_stream_delta(st, w, "reasoning_content",
                                 &reasoning->value);
    }

    /* signatures, redacted reasoning, citations, tool results: not shown */

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_stream_stop(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_bedrock_json_t *root)
{
    ngx_bedrock_json_t  *v;

    v = ngx_bedrock_json_get(root, "stopReason");

    st->stop_reason.data = st->stop_reason_data;
    st->stop_reason.len = 0;

    if (v && v->type == NGX_BEDROCK_JSON_STRING) {
        st->stop_reason.len = ngx_min(v->value.len,
                                      sizeof(st->stop_reason_data));
        ngx_memcpy(st->stop_reason_data, v->value.data, st->stop_reason.len);
    }

    st->stopped = 1;

    ngx_bedrock_stream_role(st, w);
    ngx_bedrock_stream_begin(st, w);
    ngx_bedrock_stream_end(st, w,
                           ngx_bedrock_finish_reason(&st->stop_reason));

    return NGX_OK;
}


static void
ngx_bedrock_stream_metadata(ngx_bedrock_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_bedrock_json_t *root)
{
    ngx_bedrock_json_t  *usage;

    usage = ngx_bedrock_json_get(root, "usage");

    if (usage == NULL) {
        return;
    }

    ngx_bedrock_usage(usage, &st->usage);
    st->has_usage = 1;

    if (!st->include_usage) {
        return;
    }

    ngx_bedrock_stream_envelope(st, w);
    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_jw_key(w, "usage");
    ngx_bedrock_usage_json(w, &st->usage);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_raw(w, "\n\n", 2);
    ngx_bedrock_jw_reset(w);
}


/* an exception frame, or an error one, to the error (for every dialect) */

ngx_int_t
ngx_bedrock_stream_exception(ngx_pool_t *pool, ngx_bedrock_es_message_t *msg,
    ngx_bedrock_json_t *root, ngx_bedrock_error_t *err)
{
    ngx_str_t           *type, detail;
    ngx_bedrock_json_t  *v;

    type = msg->exception_type.len ? &msg->exception_type : &msg->error_code;

    ngx_str_null(&detail);

    v = ngx_bedrock_json_get(root, "message");

    if (v && v->type == NGX_BEDROCK_JSON_STRING && v->value.len) {
        detail = v->value;

    } else if (msg->error_message.len) {
        detail = msg->error_message;
    }

    return ngx_bedrock_exception_error(pool, type, &detail, err);
}


static ngx_bedrock_stream_block_t *
ngx_bedrock_stream_find(ngx_bedrock_stream_t *st, ngx_int_t block)
{
    ngx_uint_t                   i;
    ngx_bedrock_stream_block_t  *b;

    b = st->blocks.elts;

    for (i = st->blocks.nelts; i > 0; i--) {
        if (b[i - 1].block == block) {
            return &b[i - 1];
        }
    }

    return NULL;
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
