
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_messages.h"
#include "ngx_http_bedrock_stream.h"
#include "ngx_http_bedrock_media.h"


/* JSON values a Messages request may hold, as for chat */
#define NGX_BEDROCK_MESSAGES_VALUES  (256 * 1024)

/* JSON values one stream event may hold */
#define NGX_BEDROCK_MESSAGES_EVENT_VALUES  (64 * 1024)

/* JSON values a Claude answer may hold */
#define NGX_BEDROCK_MESSAGES_ANSWER_VALUES  (1024 * 1024)

#define NGX_BEDROCK_ANTHROPIC_VERSION  "bedrock-2023-05-31"


typedef struct {
    ngx_pool_t               *pool;     /* the caller's: what is returned */
    ngx_pool_t               *temp;     /* the tree and the writers */
    ngx_bedrock_error_t      *err;
    ngx_uint_t                budget;
    ngx_bedrock_json_opts_t   jo;
} ngx_bedrock_messages_ctx_t;


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 bedrock;  /* what Bedrock calls it */
} ngx_bedrock_beta_t;


static ngx_int_t ngx_bedrock_messages_invalid(ngx_bedrock_messages_ctx_t *ctx,
    const char *fmt, ...);
static ngx_int_t ngx_bedrock_messages_betas(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_messages_request_t *req, ngx_bedrock_json_t *body,
    ngx_array_t *out);
static ngx_int_t ngx_bedrock_messages_beta_add(
    ngx_bedrock_messages_ctx_t *ctx, ngx_bedrock_messages_request_t *req,
    ngx_str_t *name, ngx_array_t *out, ngx_array_t *dropped);
static void ngx_bedrock_messages_claude_body(ngx_bedrock_jw_t *w,
    ngx_bedrock_json_t *root, ngx_array_t *betas, ngx_uint_t count);
static void ngx_bedrock_messages_usage(ngx_bedrock_json_t *u,
    ngx_bedrock_usage_t *usage);
static void ngx_bedrock_messages_stop_reason(ngx_bedrock_messages_stream_t *st,
    ngx_str_t *reason);
static ngx_int_t ngx_bedrock_messages_converse(
    ngx_bedrock_messages_ctx_t *ctx, ngx_bedrock_messages_request_t *req,
    ngx_bedrock_json_t *root);
static ngx_int_t ngx_bedrock_messages_sse(ngx_pool_t *pool, ngx_str_t *type,
    ngx_str_t *json, ngx_str_t *sse);


/*
 * The betas Bedrock's InvokeModel takes in "anthropic_beta", from AWS's
 * Claude parameter pages; one it does not know makes it refuse the whole
 * call, so the others are dropped.  bedrock_anthropic_beta adds names.
 */

static ngx_bedrock_beta_t  ngx_bedrock_betas[] = {
    { ngx_string("computer-use-2024-10-22"), ngx_null_string },
    { ngx_string("computer-use-2025-01-24"), ngx_null_string },
    { ngx_string("computer-use-2025-11-24"), ngx_null_string },
    { ngx_string("token-efficient-tools-2025-02-19"), ngx_null_string },
    { ngx_string("interleaved-thinking-2025-05-14"), ngx_null_string },
    { ngx_string("output-128k-2025-02-19"), ngx_null_string },
    { ngx_string("dev-full-thinking-2025-05-14"), ngx_null_string },
    { ngx_string("context-1m-2025-08-07"), ngx_null_string },
    { ngx_string("context-management-2025-06-27"), ngx_null_string },
    { ngx_string("effort-2025-11-24"), ngx_null_string },
    { ngx_string("fine-grained-tool-streaming-2025-05-14"),
      ngx_null_string },
    { ngx_string("tool-search-tool-2025-10-19"), ngx_null_string },
    { ngx_string("tool-examples-2025-10-29"), ngx_null_string },
    { ngx_string("advanced-tool-use-2025-11-20"),
      ngx_string("tool-search-tool-2025-10-19") },
    { ngx_null_string, ngx_null_string }
};


/* the members of a count_tokens body that Bedrock's body takes */

static char  *ngx_bedrock_count_members[] = {
    "messages", "system", "tools", "tool_choice", "thinking", NULL
};


/*
 * Claude models take Anthropic's own body: foundation model ids and
 * inference profiles ("us.anthropic.", "global.anthropic.", and their
 * ARNs) name the family; application inference profiles are marked in
 * the map instead
 */

ngx_uint_t
ngx_bedrock_messages_is_claude(ngx_str_t *id)
{
    return ngx_strlcasestrn(id->data, id->data + id->len,
                            (u_char *) "anthropic.", sizeof("anthropic.") - 2)
           != NULL;
}


/*
 * CountTokens refuses geographic inference profiles ("us.", "global."):
 * the foundation model behind one is counted instead
 */

void
ngx_bedrock_messages_count_model(ngx_str_t *id)
{
    u_char  *p, *dot;

    if (ngx_strlchr(id->data, id->data + id->len, ':') != NULL
        && id->len > 4 && ngx_strncmp(id->data, "arn:", 4) == 0)
    {
        return;
    }

    p = ngx_strlcasestrn(id->data, id->data + id->len,
                         (u_char *) "anthropic.", sizeof("anthropic.") - 2);

    if (p == NULL || p == id->data) {
        return;
    }

    dot = ngx_strlchr(id->data, id->data + id->len, '.');

    if (dot + 1 == p) {
        id->len -= p - id->data;
        id->data = p;
    }
}


/*
 * The tree and the writers live in "temp", which the caller destroys once
 * the call returns; the model, the body and the error are in "pool".
 */

ngx_int_t
ngx_bedrock_messages_request(ngx_pool_t *pool, ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_messages_request_t *req, ngx_bedrock_error_t *err)
{
    ngx_int_t                    rc, n;
    ngx_str_t                    error, inner;
    ngx_array_t                  betas;
    ngx_bedrock_jw_t             w;
    ngx_bedrock_json_t          *root, *v, *thinking;
    ngx_bedrock_messages_ctx_t   ctx;

    ngx_memzero(&ctx, sizeof(ngx_bedrock_messages_ctx_t));
    ctx.pool = pool;
    ctx.temp = temp;
    ctx.err = err;
    ctx.budget = NGX_BEDROCK_MESSAGES_VALUES;

    if (memchr(data, '\0', len) != NULL) {
        return ngx_bedrock_messages_invalid(&ctx, "We could not parse the "
                                            "JSON body of your request: it "
                                            "contains a NUL byte.");
    }

    ctx.jo.pool = temp;
    ctx.jo.budget = &ctx.budget;
    ctx.jo.strict = 1;

    rc = ngx_bedrock_json_parse_opts(&ctx.jo, data, len, &root, &error);

    if (rc == NGX_ABORT) {
        if (error.len == 0) {
            return ngx_bedrock_messages_invalid(&ctx, "The request body is "
                                                "not valid UTF-8: it must be "
                                                "UTF-8 JSON.");
        }

        return ngx_bedrock_messages_invalid(&ctx, "%V is not valid UTF-8: "
                                            "the request body must be UTF-8 "
                                            "JSON.", &error);
    }

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_messages_invalid(&ctx, "We could not parse the "
                                            "JSON body of your request (%V).",
                                            &error);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_messages_invalid(&ctx, "The request body must be "
                                            "a JSON object.");
    }

    /* model: one outside the allowlist is refused before any other work */

    v = ngx_bedrock_json_get(root, "model");

    if (ngx_bedrock_json_is_null(v)) {
        return ngx_bedrock_messages_invalid(&ctx, "model: Field required");
    }

    if (v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0) {
        return ngx_bedrock_messages_invalid(&ctx, "model: Input should be a "
                                            "non-empty string");
    }

    req->model = v->value;

    if (ngx_bedrock_str_copy(pool, &req->model) != NGX_OK) {
        return NGX_ERROR;
    }

    if (req->model_check) {
        rc = req->model_check(req->data, &req->model, &req->claude);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_ABORT : NGX_ERROR;
        }
    }

    v = ngx_bedrock_json_get(root, "messages");

    if (ngx_bedrock_json_is_null(v)) {
        return ngx_bedrock_messages_invalid(&ctx, "messages: Field required");
    }

    if (v->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_messages_invalid(&ctx, "messages: Input should "
                                            "be a valid list");
    }

    if (!req->count) {
        v = ngx_bedrock_json_get(root, "max_tokens");

        if (ngx_bedrock_json_is_null(v)) {
            return ngx_bedrock_messages_invalid(&ctx, "max_tokens: Field "
                                                "required");
        }

        if (ngx_bedrock_json_int(v, &n) != NGX_OK || n < 1) {
            return ngx_bedrock_messages_invalid(&ctx, "max_tokens: Input "
                                                "should be a positive "
                                                "integer");
        }

        v = ngx_bedrock_json_get(root, "stream");

        if (!ngx_bedrock_json_is_null(v)) {
            if (v->type != NGX_BEDROCK_JSON_TRUE
                && v->type != NGX_BEDROCK_JSON_FALSE)
            {
                return ngx_bedrock_messages_invalid(&ctx, "stream: Input "
                                                    "should be a valid "
                                                    "boolean");
            }

            req->stream = (v->type == NGX_BEDROCK_JSON_TRUE);
        }
    }

    if (!req->claude) {
        return ngx_bedrock_messages_converse(&ctx, req, root);
    }

    if (ngx_array_init(&betas, temp, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_bedrock_messages_betas(&ctx, req, root, &betas);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_bedrock_jw_init(&w, temp, len + 256, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_messages_claude_body(&w, root, &betas, req->count);

    if (req->count) {

        /* max_tokens is validated as for InvokeModel: above the budget */

        n = 0;
        thinking = ngx_bedrock_json_get(root, "thinking");
        v = ngx_bedrock_json_get(thinking, "budget_tokens");

        if (v && ngx_bedrock_json_int(v, &n) != NGX_OK) {
            n = 0;
        }

        ngx_bedrock_jw_key(&w, "max_tokens");
        ngx_bedrock_jw_int(&w, (n > 0 && n < NGX_MAX_INT32_VALUE) ? n + 1
                                                                  : 1);
    }

    ngx_bedrock_jw_obj_end(&w);

    if (ngx_bedrock_jw_finish(&w, req->count ? &inner : &req->body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (req->count) {

        /* {"input":{"invokeModel":{"body":"<base64>"}}} */

        error.len = ngx_base64_encoded_length(inner.len);
        error.data = ngx_pnalloc(temp, error.len);
        if (error.data == NULL) {
            return NGX_ERROR;
        }

        ngx_encode_base64(&error, &inner);

        req->body.len = sizeof("{\"input\":{\"invokeModel\":{\"body\":\"\"}}}")
                        - 1 + error.len;
        req->body.data = ngx_pnalloc(pool, req->body.len);
        if (req->body.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(req->body.data,
                    "{\"input\":{\"invokeModel\":{\"body\":\"%V\"}}}", &error);

        return NGX_OK;
    }

    /* the body goes to Bedrock from the caller's pool */

    inner = req->body;

    req->body.data = ngx_pnalloc(pool, inner.len);
    if (req->body.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(req->body.data, inner.data, inner.len);

    if (req->dropped.len && ngx_bedrock_str_copy(pool, &req->dropped)
                            != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "anthropic_beta": the header's comma-separated names and any the body
 * already has, each once, kept only where Bedrock knows them
 */

static ngx_int_t
ngx_bedrock_messages_betas(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_messages_request_t *req, ngx_bedrock_json_t *body,
    ngx_array_t *out)
{
    u_char              *p, *last, *start, *end;
    ngx_str_t            name, *d;
    ngx_uint_t           i;
    ngx_array_t          dropped;
    ngx_bedrock_json_t  *v, *c;

    if (ngx_array_init(&dropped, ctx->temp, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    p = req->betas.data;
    last = p + req->betas.len;

    while (p < last) {
        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p++;

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        name.data = start;
        name.len = end - start;

        if (name.len
            && ngx_bedrock_messages_beta_add(ctx, req, &name, out, &dropped)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    v = ngx_bedrock_json_get(body, "anthropic_beta");

    if (!ngx_bedrock_json_is_null(v)) {
        if (v->type != NGX_BEDROCK_JSON_ARRAY) {
            return ngx_bedrock_messages_invalid(ctx, "anthropic_beta: Input "
                                                "should be a valid list");
        }

        for (c = v->child; c; c = c->next) {
            if (c->type != NGX_BEDROCK_JSON_STRING) {
                return ngx_bedrock_messages_invalid(ctx, "anthropic_beta: "
                                                    "Input should be a list "
                                                    "of strings");
            }

            if (ngx_bedrock_messages_beta_add(ctx, req, &c->value, out,
                                              &dropped)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (dropped.nelts == 0) {
        return NGX_OK;
    }

    /* "a,b": for the log */

    d = dropped.elts;
    name.len = 0;

    for (i = 0; i < dropped.nelts; i++) {
        name.len += d[i].len + 1;
    }

    name.data = ngx_pnalloc(ctx->temp, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = name.data;

    for (i = 0; i < dropped.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, d[i].data, ngx_min(d[i].len, 64));
    }

    req->dropped.data = name.data;
    req->dropped.len = p - name.data;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_messages_beta_add(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_messages_request_t *req, ngx_str_t *name, ngx_array_t *out,
    ngx_array_t *dropped)
{
    ngx_str_t           *s, *known;
    ngx_uint_t           i;
    ngx_bedrock_beta_t  *b;

    known = NULL;

    for (b = ngx_bedrock_betas; b->name.len; b++) {
        if (b->name.len == name->len
            && ngx_strncmp(b->name.data, name->data, name->len) == 0)
        {
            known = b->bedrock.len ? &b->bedrock : &b->name;
            break;
        }
    }

    if (known == NULL && req->extra_betas) {
        s = req->extra_betas->elts;

        for (i = 0; i < req->extra_betas->nelts; i++) {
            if (s[i].len == name->len
                && ngx_strncmp(s[i].data, name->data, name->len) == 0)
            {
                known = &s[i];
                break;
            }
        }
    }

    if (known == NULL) {
        s = ngx_array_push(dropped);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = *name;
        return NGX_OK;
    }

    s = out->elts;

    for (i = 0; i < out->nelts; i++) {
        if (s[i].len == known->len
            && ngx_strncmp(s[i].data, known->data, known->len) == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(out);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *known;

    return NGX_OK;
}


/*
 * Anthropic's body as InvokeModel takes it: "anthropic_version" and the
 * betas first, then the client's members as they are, without "model"
 * and "stream" (the path and the operation say those).  A count_tokens
 * body keeps the members that shape the prompt; the object is left open
 * for the caller.
 */

static void
ngx_bedrock_messages_claude_body(ngx_bedrock_jw_t *w, ngx_bedrock_json_t *root,
    ngx_array_t *betas, ngx_uint_t count)
{
    char               **m;
    ngx_str_t           *s;
    ngx_uint_t           i, keep;
    ngx_bedrock_json_t  *c;

    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "anthropic_version");
    ngx_bedrock_jw_cstr(w, NGX_BEDROCK_ANTHROPIC_VERSION);

    if (betas->nelts) {
        ngx_bedrock_jw_key(w, "anthropic_beta");
        ngx_bedrock_jw_arr(w);

        s = betas->elts;

        for (i = 0; i < betas->nelts; i++) {
            ngx_bedrock_jw_str(w, &s[i]);
        }

        ngx_bedrock_jw_arr_end(w);
    }

    for (c = root->child; c; c = c->next) {

#define ngx_bedrock_key_is(s)                                                \
        (c->key.len == sizeof(s) - 1                                         \
         && ngx_strncmp(c->key.data, s, sizeof(s) - 1) == 0)

        if (count) {
            keep = 0;

            for (m = ngx_bedrock_count_members; *m; m++) {
                if (c->key.len == ngx_strlen(*m)
                    && ngx_strncmp(c->key.data, *m, c->key.len) == 0)
                {
                    keep = 1;
                    break;
                }
            }

            if (!keep) {
                continue;
            }

        } else if (ngx_bedrock_key_is("model")
                   || ngx_bedrock_key_is("stream")
                   || ngx_bedrock_key_is("anthropic_version")
                   || ngx_bedrock_key_is("anthropic_beta"))
        {
            continue;
        }

#undef ngx_bedrock_key_is

        ngx_bedrock_jw_str(w, &c->key);
        ngx_bedrock_jw_value(w, c);
    }
}


/* a Claude answer from InvokeModel: passed on, read for the log */

ngx_int_t
ngx_bedrock_messages_claude_answer(ngx_pool_t *temp, u_char *data, size_t len,
    ngx_bedrock_usage_t *usage, ngx_str_t *stop_reason)
{
    ngx_int_t            rc;
    ngx_str_t            error;
    ngx_uint_t           budget;
    ngx_bedrock_json_t  *root, *v;

    budget = NGX_BEDROCK_MESSAGES_ANSWER_VALUES;

    rc = ngx_bedrock_json_parse(temp, data, len, &budget, &root, &error);
    if (rc != NGX_OK) {
        return rc;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT
        || !ngx_bedrock_json_is_str(ngx_bedrock_json_get(root, "type"),
                                    "message"))
    {
        return NGX_DECLINED;
    }

    ngx_bedrock_messages_usage(ngx_bedrock_json_get(root, "usage"), usage);

    v = ngx_bedrock_json_get(root, "stop_reason");

    if (v && v->type == NGX_BEDROCK_JSON_STRING) {
        *stop_reason = v->value;
    }

    return NGX_OK;
}


/* CountTokens' {"inputTokens":n} as count_tokens' {"input_tokens":n} */

ngx_int_t
ngx_bedrock_messages_count_answer(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_str_t *out, ngx_bedrock_usage_t *usage)
{
    ngx_int_t            rc, n;
    ngx_str_t            error;
    ngx_uint_t           budget;
    ngx_bedrock_json_t  *root, *v;

    budget = 1024;

    rc = ngx_bedrock_json_parse(temp, data, len, &budget, &root, &error);
    if (rc != NGX_OK) {
        return rc;
    }

    v = ngx_bedrock_json_get(root, "inputTokens");

    if (root->type != NGX_BEDROCK_JSON_OBJECT || v == NULL
        || ngx_bedrock_json_int(v, &n) != NGX_OK || n < 0)
    {
        return NGX_DECLINED;
    }

    usage->input = n;

    out->data = ngx_pnalloc(pool, sizeof("{\"input_tokens\":}") - 1
                                  + NGX_INT_T_LEN);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_sprintf(out->data, "{\"input_tokens\":%i}", n) - out->data;

    return NGX_OK;
}


static void
ngx_bedrock_messages_usage(ngx_bedrock_json_t *u, ngx_bedrock_usage_t *usage)
{
    ngx_int_t            n;
    ngx_bedrock_json_t  *v;

    if (u == NULL || u->type != NGX_BEDROCK_JSON_OBJECT) {
        return;
    }

#define ngx_bedrock_usage_read(name, field)                                  \
    v = ngx_bedrock_json_get(u, name);                                       \
    if (v && ngx_bedrock_json_int(v, &n) == NGX_OK && n >= 0) {              \
        usage->field = n;                                                    \
    }

    ngx_bedrock_usage_read("input_tokens", input);
    ngx_bedrock_usage_read("output_tokens", output);
    ngx_bedrock_usage_read("cache_read_input_tokens", cache_read);
    ngx_bedrock_usage_read("cache_creation_input_tokens", cache_write);

    /* amazon-bedrock-invocationMetrics */

    ngx_bedrock_usage_read("inputTokenCount", input);
    ngx_bedrock_usage_read("outputTokenCount", output);
    ngx_bedrock_usage_read("cacheReadInputTokenCount", cache_read);
    ngx_bedrock_usage_read("cacheWriteInputTokenCount", cache_write);

#undef ngx_bedrock_usage_read
}


static void
ngx_bedrock_messages_stop_reason(ngx_bedrock_messages_stream_t *st,
    ngx_str_t *reason)
{
    size_t  len;

    len = ngx_min(reason->len, sizeof(st->stop_reason_data));

    ngx_memcpy(st->stop_reason_data, reason->data, len);
    st->stop_reason.data = st->stop_reason_data;
    st->stop_reason.len = len;
}


/*
 * One InvokeModelWithResponseStream frame: a "chunk" event's base64
 * "bytes" hold one Anthropic stream event, sent on as it is under its
 * own "event:" name, which the Anthropic SDKs dispatch on.  NGX_DECLINED
 * with err: the stream ends with an error.
 */

ngx_int_t
ngx_bedrock_messages_chunk(ngx_bedrock_messages_stream_t *st,
    ngx_pool_t *scratch, ngx_bedrock_es_message_t *msg, ngx_str_t *sse,
    ngx_bedrock_error_t *err)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            error, json, *type;
    ngx_uint_t           budget, i;
    ngx_bedrock_json_t  *root, *bytes, *v, *d;

    ngx_str_null(sse);
    st->content = 0;

    rc = ngx_bedrock_events_frame(scratch, msg, &root, err);

    if (rc != NGX_OK) {
        return (rc == NGX_DONE) ? NGX_OK : rc;
    }

    if (msg->event_type.len != 5
        || ngx_strncmp(msg->event_type.data, "chunk", 5) != 0
        || st->stopped)
    {
        return NGX_OK;
    }

    bytes = ngx_bedrock_json_get(root, "bytes");

    if (bytes == NULL || bytes->type != NGX_BEDROCK_JSON_STRING) {
        ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                              "Bedrock sent a chunk without bytes.");
        return NGX_DECLINED;
    }

    json.data = ngx_pnalloc(scratch,
                            ngx_base64_decoded_length(bytes->value.len));
    if (json.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(&json, &bytes->value) != NGX_OK) {
        ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                              "Bedrock sent a chunk that is not base64.");
        return NGX_DECLINED;
    }

    budget = NGX_BEDROCK_MESSAGES_EVENT_VALUES;

    rc = ngx_bedrock_json_parse(scratch, json.data, json.len, &budget, &root,
                                &error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK || root->type != NGX_BEDROCK_JSON_OBJECT) {
        ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                              "Bedrock sent a chunk that is not a JSON "
                              "object.");
        return NGX_DECLINED;
    }

    v = ngx_bedrock_json_get(root, "type");

    /* as the Anthropic Bedrock SDK does: an object without a type is not */

    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0
        || v->value.len > 64)
    {
        return NGX_OK;
    }

    type = &v->value;

    for (i = 0; i < type->len; i++) {
        if ((type->data[i] < 'a' || type->data[i] > 'z')
            && type->data[i] != '_')
        {
            return NGX_OK;
        }
    }

#define ngx_bedrock_type_is(s)                                               \
    (type->len == sizeof(s) - 1 && ngx_strncmp(type->data, s, type->len) == 0)

    if (ngx_bedrock_type_is("message_start")) {
        st->started = 1;
        ngx_bedrock_messages_usage(
            ngx_bedrock_json_get(ngx_bedrock_json_get(root, "message"),
                                 "usage"),
            &st->usage);
        st->has_usage = 1;

    } else if (ngx_bedrock_type_is("content_block_delta")
               || ngx_bedrock_type_is("content_block_start"))
    {
        st->content = 1;

    } else if (ngx_bedrock_type_is("message_delta")) {
        ngx_bedrock_messages_usage(ngx_bedrock_json_get(root, "usage"),
                                   &st->usage);
        st->has_usage = 1;

        d = ngx_bedrock_json_get(ngx_bedrock_json_get(root, "delta"),
                                 "stop_reason");

        if (d && d->type == NGX_BEDROCK_JSON_STRING) {
            ngx_bedrock_messages_stop_reason(st, &d->value);
        }

    } else if (ngx_bedrock_type_is("message_stop")
               || ngx_bedrock_type_is("error"))
    {
        /* Anthropic's own error event ends the stream as well */

        st->stopped = 1;

        v = ngx_bedrock_json_get(root, "amazon-bedrock-invocationMetrics");

        if (v) {
            ngx_bedrock_messages_usage(v, &st->usage);
            st->has_usage = 1;
        }
    }

#undef ngx_bedrock_type_is

    /*
     * the event is sent as Bedrock wrote it, on one line: outside strings
     * JSON whitespace may be replaced, inside them line breaks are escaped
     */

    if (!ngx_bedrock_utf8_valid(json.data, json.len)) {
        if (ngx_bedrock_json_serialize(scratch, root, &json) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    for (p = json.data; p < json.data + json.len; p++) {
        if (*p == CR || *p == LF) {
            *p = ' ';
        }
    }

    return ngx_bedrock_messages_sse(scratch, type, &json, sse);
}


static ngx_int_t
ngx_bedrock_messages_sse(ngx_pool_t *pool, ngx_str_t *type, ngx_str_t *json,
    ngx_str_t *sse)
{
    sse->len = sizeof("event: \ndata: \n\n") - 1 + type->len
               + json->len;

    sse->data = ngx_pnalloc(pool, sse->len);
    if (sse->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(sse->data, "event: %V\ndata: %V\n\n", type, json);

    return NGX_OK;
}


/* the error event that ends a Messages stream */

ngx_int_t
ngx_bedrock_messages_stream_error(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_str_t *sse)
{
    ngx_str_t  json, type = ngx_string("error");

    /* Anthropic says "overloaded" where Bedrock says "unavailable" */

    if (err->status == 503) {
        err->status = 529;
    }

    if (ngx_bedrock_error_render(pool, err, NGX_BEDROCK_DIALECT_ANTHROPIC,
                                 &json)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_bedrock_messages_sse(pool, &type, &json, sse);
}


static ngx_int_t
ngx_bedrock_messages_invalid(ngx_bedrock_messages_ctx_t *ctx,
    const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_bedrock_error_invalid(ctx->pool, ctx->err, NULL, fmt, args);
    va_end(args);

    return rc;
}


/* Messages to Converse, for the models that do not take Anthropic's body */

typedef struct {
    ngx_str_t                 media_type;
    ngx_str_t                 format;
} ngx_bedrock_messages_image_t;


static ngx_bedrock_messages_image_t  ngx_bedrock_messages_images[] = {
    { ngx_string("image/png"), ngx_string("png") },
    { ngx_string("image/jpeg"), ngx_string("jpeg") },
    { ngx_string("image/gif"), ngx_string("gif") },
    { ngx_string("image/webp"), ngx_string("webp") },
    { ngx_null_string, ngx_null_string }
};


static ngx_int_t
ngx_bedrock_messages_cache(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_converse_t *conv, ngx_uint_t assistant,
    ngx_bedrock_json_t *block, ngx_uint_t i, ngx_uint_t j)
{
    ngx_bedrock_json_t   *cc, *ttl;
    ngx_bedrock_block_t  *b;

    cc = ngx_bedrock_json_get(block, "cache_control");

    if (ngx_bedrock_json_is_null(cc)) {
        return NGX_OK;
    }

    ttl = ngx_bedrock_json_get(cc, "ttl");

    if (cc->type != NGX_BEDROCK_JSON_OBJECT
        || (ttl && ttl->type != NGX_BEDROCK_JSON_STRING))
    {
        return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content.%ui."
                                            "cache_control: Input should be "
                                            "an object", i, j);
    }

    b = ngx_bedrock_converse_block(conv, assistant,
                                   NGX_BEDROCK_BLOCK_CACHE_POINT);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (ttl) {
        b->format = ttl->value;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_messages_result_text(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_json_t *content, ngx_uint_t i, ngx_uint_t j, ngx_str_t *text)
{
    ngx_str_t           *s;
    ngx_array_t          parts;
    ngx_bedrock_json_t  *c, *t;

    if (ngx_bedrock_json_is_null(content)) {
        ngx_str_set(text, "");
        return NGX_OK;
    }

    if (content->type == NGX_BEDROCK_JSON_STRING) {
        *text = content->value;
        return NGX_OK;
    }

    if (content->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content.%ui."
                                            "content: Input should be a "
                                            "string or a list", i, j);
    }

    if (ngx_array_init(&parts, ctx->temp, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    for (c = content->child; c; c = c->next) {
        t = ngx_bedrock_json_get(c, "text");

        if (!ngx_bedrock_json_is_str(ngx_bedrock_json_get(c, "type"), "text")
            || t == NULL || t->type != NGX_BEDROCK_JSON_STRING)
        {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.content: only text "
                                                "blocks are supported for "
                                                "this model", i, j);
        }

        s = ngx_array_push(&parts);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = t->value;
    }

    return ngx_bedrock_concat(ctx->temp, &parts, text);
}


static ngx_int_t
ngx_bedrock_messages_block(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_converse_t *conv, ngx_uint_t assistant,
    ngx_bedrock_json_t *c, ngx_uint_t i, ngx_uint_t j)
{
    char                          *bad;
    ngx_int_t                      rc;
    ngx_str_t                     *type, *name;
    ngx_bedrock_json_t            *v, *src, *mt, *data;
    ngx_bedrock_block_t           *b;
    ngx_bedrock_messages_image_t  *img;

    v = ngx_bedrock_json_get(c, "type");

    if (c->type != NGX_BEDROCK_JSON_OBJECT || v == NULL
        || v->type != NGX_BEDROCK_JSON_STRING)
    {
        return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content.%ui."
                                            "type: Field required", i, j);
    }

    type = &v->value;

#define ngx_bedrock_block_is(s)                                              \
    (type->len == sizeof(s) - 1 && ngx_strncmp(type->data, s, type->len) == 0)

    if (ngx_bedrock_block_is("text")) {
        v = ngx_bedrock_json_get(c, "text");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.text: Field required",
                                                i, j);
        }

        b = ngx_bedrock_converse_block(conv, assistant,
                                       NGX_BEDROCK_BLOCK_TEXT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = v->value;

    } else if (ngx_bedrock_block_is("image") && !assistant) {
        src = ngx_bedrock_json_get(c, "source");
        mt = ngx_bedrock_json_get(src, "media_type");
        data = ngx_bedrock_json_get(src, "data");

        if (!ngx_bedrock_json_is_str(ngx_bedrock_json_get(src, "type"),
                                     "base64")
            || mt == NULL || mt->type != NGX_BEDROCK_JSON_STRING
            || data == NULL || data->type != NGX_BEDROCK_JSON_STRING)
        {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.source: only base64 "
                                                "image sources are supported "
                                                "for this model", i, j);
        }

        for (img = ngx_bedrock_messages_images; img->format.len; img++) {
            if (img->media_type.len == mt->value.len
                && ngx_strncasecmp(img->media_type.data, mt->value.data,
                                   mt->value.len)
                   == 0)
            {
                break;
            }
        }

        if (img->format.len == 0) {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.source.media_type: "
                                                "Input should be "
                                                "'image/jpeg', 'image/png', "
                                                "'image/gif' or 'image/webp'",
                                                i, j);
        }

        bad = ngx_bedrock_image_check(&img->format, data->value.data,
                                      data->value.len);

        if (bad) {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.source.data: %s", i, j,
                                                bad);
        }

        b = ngx_bedrock_converse_block(conv, 0, NGX_BEDROCK_BLOCK_IMAGE);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->format = img->format;
        b->text = data->value;

    } else if (ngx_bedrock_block_is("tool_use") && assistant) {
        v = ngx_bedrock_json_get(c, "id");
        name = NULL;
        data = ngx_bedrock_json_get(c, "name");

        if (data && data->type == NGX_BEDROCK_JSON_STRING
            && data->value.len)
        {
            name = &data->value;
        }

        src = ngx_bedrock_json_get(c, "input");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || v->value.len == 0 || name == NULL
            || (src && src->type != NGX_BEDROCK_JSON_OBJECT))
        {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui: a tool_use block needs "
                                                "an id, a name and an input "
                                                "object", i, j);
        }

        b = ngx_bedrock_converse_block(conv, 1, NGX_BEDROCK_BLOCK_TOOL_USE);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->id = v->value;
        b->name = *name;
        b->input = src;

        name = ngx_array_push(&conv->history_tools);
        if (name == NULL) {
            return NGX_ERROR;
        }

        *name = b->name;

    } else if (ngx_bedrock_block_is("tool_result") && !assistant) {
        v = ngx_bedrock_json_get(c, "tool_use_id");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || v->value.len == 0)
        {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.tool_use_id: Field "
                                                "required", i, j);
        }

        b = ngx_bedrock_converse_block(conv, 0, NGX_BEDROCK_BLOCK_TOOL_RESULT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->id = v->value;

        rc = ngx_bedrock_messages_result_text(ctx,
                                              ngx_bedrock_json_get(c,
                                                                 "content"),
                                              i, j, &b->text);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_bedrock_json_get(c, "is_error")
            && ngx_bedrock_json_get(c, "is_error")->type
               == NGX_BEDROCK_JSON_TRUE)
        {
            ngx_str_set(&b->format, "error");
        }

    } else if (ngx_bedrock_block_is("thinking") && assistant) {
        v = ngx_bedrock_json_get(c, "thinking");
        data = ngx_bedrock_json_get(c, "signature");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || (data && data->type != NGX_BEDROCK_JSON_STRING))
        {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.thinking: Field "
                                                "required", i, j);
        }

        b = ngx_bedrock_converse_block(conv, 1, NGX_BEDROCK_BLOCK_REASONING);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = v->value;

        if (data) {
            b->id = data->value;
        }

    } else if (ngx_bedrock_block_is("redacted_thinking") && assistant) {
        v = ngx_bedrock_json_get(c, "data");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content."
                                                "%ui.data: Field required",
                                                i, j);
        }

        b = ngx_bedrock_converse_block(conv, 1, NGX_BEDROCK_BLOCK_REDACTED);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = v->value;

    } else {
        return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content.%ui: "
                                            "\"%V\" blocks in %s turns are "
                                            "not supported for this model",
                                            i, j, type,
                                            assistant ? "assistant" : "user");
    }

#undef ngx_bedrock_block_is

    return ngx_bedrock_messages_cache(ctx, conv, assistant, c, i, j);
}


static ngx_int_t
ngx_bedrock_messages_turns(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_converse_t *conv, ngx_bedrock_json_t *messages)
{
    ngx_int_t             rc;
    ngx_uint_t            i, j, assistant;
    ngx_bedrock_json_t   *m, *role, *content, *c;
    ngx_bedrock_block_t  *b;

    if (messages->n == 0) {
        return ngx_bedrock_messages_invalid(ctx, "messages: at least one "
                                            "message is required");
    }

    for (m = messages->child, i = 0; m; m = m->next, i++) {
        role = ngx_bedrock_json_get(m, "role");
        content = ngx_bedrock_json_get(m, "content");

        if (ngx_bedrock_json_is_str(role, "user")) {
            assistant = 0;

        } else if (ngx_bedrock_json_is_str(role, "assistant")) {
            assistant = 1;

        } else {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.role: "
                                                "Input should be 'user' or "
                                                "'assistant'", i);
        }

        if (content && content->type == NGX_BEDROCK_JSON_STRING) {
            b = ngx_bedrock_converse_block(conv, assistant,
                                           NGX_BEDROCK_BLOCK_TEXT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = content->value;
            continue;
        }

        if (content == NULL || content->type != NGX_BEDROCK_JSON_ARRAY) {
            return ngx_bedrock_messages_invalid(ctx, "messages.%ui.content: "
                                                "Input should be a string "
                                                "or a list", i);
        }

        for (c = content->child, j = 0; c; c = c->next, j++) {
            rc = ngx_bedrock_messages_block(ctx, conv, assistant, c, i, j);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_messages_system(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_converse_t *conv, ngx_bedrock_json_t *system)
{
    ngx_uint_t            j;
    ngx_bedrock_json_t   *c, *t, *cc, *ttl;
    ngx_bedrock_block_t  *b;

    if (ngx_bedrock_json_is_null(system)) {
        return NGX_OK;
    }

    if (system->type == NGX_BEDROCK_JSON_STRING) {
        if (system->value.len) {
            b = ngx_bedrock_converse_system(conv, NGX_BEDROCK_BLOCK_TEXT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = system->value;
        }

        return NGX_OK;
    }

    if (system->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_messages_invalid(ctx, "system: Input should be a "
                                            "string or a list");
    }

    for (c = system->child, j = 0; c; c = c->next, j++) {
        t = ngx_bedrock_json_get(c, "text");

        if (!ngx_bedrock_json_is_str(ngx_bedrock_json_get(c, "type"), "text")
            || t == NULL || t->type != NGX_BEDROCK_JSON_STRING)
        {
            return ngx_bedrock_messages_invalid(ctx, "system.%ui: Input "
                                                "should be a text block", j);
        }

        b = ngx_bedrock_converse_system(conv, NGX_BEDROCK_BLOCK_TEXT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = t->value;

        cc = ngx_bedrock_json_get(c, "cache_control");

        if (cc && cc->type == NGX_BEDROCK_JSON_OBJECT) {
            b = ngx_bedrock_converse_system(conv,
                                            NGX_BEDROCK_BLOCK_CACHE_POINT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            ttl = ngx_bedrock_json_get(cc, "ttl");

            if (ttl && ttl->type == NGX_BEDROCK_JSON_STRING) {
                b->format = ttl->value;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_messages_tools(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_converse_t *conv, ngx_bedrock_json_t *tools,
    ngx_bedrock_json_t *choice)
{
    ngx_uint_t           j, none;
    ngx_bedrock_json_t  *t, *name, *desc, *schema, *type, *cc, *ttl;
    ngx_bedrock_json_t  *strict;
    ngx_bedrock_tool_t  *tool;

    none = 0;
    type = NULL;

    if (!ngx_bedrock_json_is_null(choice)) {
        type = ngx_bedrock_json_get(choice, "type");

        if (ngx_bedrock_json_is_str(type, "none")) {
            none = 1;

        } else if (!ngx_bedrock_json_is_str(type, "auto")
                   && !ngx_bedrock_json_is_str(type, "any")
                   && !ngx_bedrock_json_is_str(type, "tool"))
        {
            return ngx_bedrock_messages_invalid(ctx, "tool_choice.type: "
                                                "Input should be 'auto', "
                                                "'any', 'tool' or 'none'");
        }

        if (ngx_bedrock_json_is_str(type, "tool")) {
            name = ngx_bedrock_json_get(choice, "name");

            if (name == NULL || name->type != NGX_BEDROCK_JSON_STRING
                || name->value.len == 0)
            {
                return ngx_bedrock_messages_invalid(ctx, "tool_choice.name: "
                                                    "Field required");
            }
        }
    }

    if (!ngx_bedrock_json_is_null(tools)
        && tools->type != NGX_BEDROCK_JSON_ARRAY)
    {
        return ngx_bedrock_messages_invalid(ctx, "tools: Input should be a "
                                            "valid list");
    }

    /* Converse has no "none": the tools are left out */

    if (ngx_bedrock_json_is_null(tools) || tools->n == 0 || none) {
        return NGX_OK;
    }

    for (t = tools->child, j = 0; t; t = t->next, j++) {
        type = ngx_bedrock_json_get(t, "type");
        name = ngx_bedrock_json_get(t, "name");
        desc = ngx_bedrock_json_get(t, "description");
        schema = ngx_bedrock_json_get(t, "input_schema");

        if (!ngx_bedrock_json_is_null(type)
            && !ngx_bedrock_json_is_str(type, "custom"))
        {
            return ngx_bedrock_messages_invalid(ctx, "tools.%ui: server tools "
                                                "are supported on Claude "
                                                "models only", j);
        }

        if (name == NULL || name->type != NGX_BEDROCK_JSON_STRING
            || name->value.len == 0
            || schema == NULL || schema->type != NGX_BEDROCK_JSON_OBJECT
            || (desc && desc->type != NGX_BEDROCK_JSON_STRING
                && desc->type != NGX_BEDROCK_JSON_NULL))
        {
            return ngx_bedrock_messages_invalid(ctx, "tools.%ui: a tool needs "
                                                "a name and an input_schema "
                                                "object", j);
        }

        tool = ngx_bedrock_converse_tool(conv, &name->value);
        if (tool == NULL) {
            return NGX_ERROR;
        }

        strict = ngx_bedrock_json_get(t, "strict");
        tool->strict = (strict && strict->type == NGX_BEDROCK_JSON_TRUE);

        if (desc && desc->type == NGX_BEDROCK_JSON_STRING) {
            tool->description = desc->value;
        }

        tool->schema = schema;

        cc = ngx_bedrock_json_get(t, "cache_control");

        if (cc && cc->type == NGX_BEDROCK_JSON_OBJECT) {
            ttl = ngx_bedrock_json_get(cc, "ttl");

            tool->cache = 1;

            if (ttl && ttl->type == NGX_BEDROCK_JSON_STRING) {
                tool->cache_ttl = ttl->value;
            }
        }
    }

    type = ngx_bedrock_json_get(choice, "type");

    if (ngx_bedrock_json_is_str(type, "tool")) {
        conv->tool_choice = NGX_BEDROCK_CHOICE_TOOL;
        conv->tool_name = ngx_bedrock_json_get(choice, "name")->value;

    } else if (ngx_bedrock_json_is_str(type, "any")) {
        conv->tool_choice = NGX_BEDROCK_CHOICE_ANY;

    } else if (ngx_bedrock_json_is_str(type, "auto")) {
        conv->tool_choice = NGX_BEDROCK_CHOICE_AUTO;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_messages_inference(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_converse_t *conv, ngx_bedrock_json_t *root)
{
    double               d;
    ngx_int_t            n;
    ngx_str_t           *seq;
    ngx_bedrock_json_t  *v, *c;

    v = ngx_bedrock_json_get(root, "max_tokens");

    if (v && ngx_bedrock_json_int(v, &n) == NGX_OK) {
        conv->max_tokens = v->value;
    }

    v = ngx_bedrock_json_get(root, "temperature");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_double(v, &d) != NGX_OK || d < 0 || d > 1) {
            return ngx_bedrock_messages_invalid(ctx, "temperature: Input "
                                                "should be a number between "
                                                "0 and 1");
        }

        conv->temperature = v->value;
    }

    v = ngx_bedrock_json_get(root, "top_p");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_double(v, &d) != NGX_OK || d < 0 || d > 1) {
            return ngx_bedrock_messages_invalid(ctx, "top_p: Input should be "
                                                "a number between 0 and 1");
        }

        conv->top_p = v->value;
    }

    v = ngx_bedrock_json_get(root, "stop_sequences");

    if (ngx_bedrock_json_is_null(v)) {
        return NGX_OK;
    }

    if (v->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_messages_invalid(ctx, "stop_sequences: Input "
                                            "should be a valid list");
    }

    for (c = v->child; c; c = c->next) {
        if (c->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_messages_invalid(ctx, "stop_sequences: Input "
                                                "should be a list of "
                                                "strings");
        }

        if (c->value.len == 0) {
            continue;
        }

        seq = ngx_array_push(&conv->stop);
        if (seq == NULL) {
            return NGX_ERROR;
        }

        *seq = c->value;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_messages_converse(ngx_bedrock_messages_ctx_t *ctx,
    ngx_bedrock_messages_request_t *req, ngx_bedrock_json_t *root)
{
    ngx_int_t                rc;
    ngx_bedrock_jw_t         w;
    ngx_bedrock_converse_t   conv;

    if (ngx_bedrock_converse_init(&conv, ctx->temp,
                                  ngx_bedrock_json_get(root, "messages")->n)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_bedrock_messages_turns(ctx, &conv,
                                    ngx_bedrock_json_get(root, "messages"));
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_messages_system(ctx, &conv,
                                     ngx_bedrock_json_get(root, "system"));
    if (rc != NGX_OK) {
        return rc;
    }

    if (!req->count) {
        rc = ngx_bedrock_messages_inference(ctx, &conv, root);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_bedrock_messages_tools(ctx, &conv,
                                    ngx_bedrock_json_get(root, "tools"),
                                    ngx_bedrock_json_get(root,
                                                         "tool_choice"));
    if (rc != NGX_OK) {
        return rc;
    }

    if (!req->count && ngx_bedrock_converse_conf(&conv, &req->conf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_bedrock_jw_init(&w, ctx->temp, 4096, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    /* CountTokens: {"input":{"converse":{...}}} */

    if (req->count) {
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "input");
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "converse");
    }

    ngx_bedrock_jw_obj(&w);

    ngx_bedrock_converse_messages(&conv, &w);

    ngx_bedrock_converse_system_json(&conv, &w);

    ngx_bedrock_converse_inference(&conv, &w);
    ngx_bedrock_converse_tools(&conv, &w);

    if (!req->count) {
        ngx_bedrock_converse_extra(&conv, &w);
        ngx_bedrock_converse_guardrail(&req->guardrail, req->stream, &w);
    }

    ngx_bedrock_jw_obj_end(&w);

    if (req->count) {
        ngx_bedrock_jw_obj_end(&w);
        ngx_bedrock_jw_obj_end(&w);
    }

    return ngx_bedrock_jw_copy(&w, ctx->pool, &req->body);
}


/* Converse's stop reasons in Anthropic's words */

static char *
ngx_bedrock_messages_stop(ngx_str_t *reason)
{
    static struct {
        ngx_str_t   converse;
        char       *anthropic;
    } map[] = {
        { ngx_string("end_turn"), "end_turn" },
        { ngx_string("tool_use"), "tool_use" },
        { ngx_string("max_tokens"), "max_tokens" },
        { ngx_string("stop_sequence"), "stop_sequence" },
        { ngx_string("guardrail_intervened"), "refusal" },
        { ngx_string("content_filtered"), "refusal" },
        { ngx_string("model_context_window_exceeded"),
          "model_context_window_exceeded" },
        { ngx_null_string, NULL }
    };

    ngx_uint_t  i;

    for (i = 0; map[i].anthropic; i++) {
        if (map[i].converse.len == reason->len
            && ngx_strncmp(map[i].converse.data, reason->data, reason->len)
               == 0)
        {
            return map[i].anthropic;
        }
    }

    return "end_turn";
}


static void
ngx_bedrock_messages_usage_json(ngx_bedrock_jw_t *w, ngx_bedrock_usage_t *u)
{
    ngx_bedrock_jw_key(w, "usage");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "input_tokens");
    ngx_bedrock_jw_int(w, u->input);
    ngx_bedrock_jw_key(w, "cache_creation_input_tokens");
    ngx_bedrock_jw_int(w, u->cache_write);
    ngx_bedrock_jw_key(w, "cache_read_input_tokens");
    ngx_bedrock_jw_int(w, u->cache_read);
    ngx_bedrock_jw_key(w, "output_tokens");
    ngx_bedrock_jw_int(w, u->output);
    ngx_bedrock_jw_obj_end(w);
}


/*
 * A Converse answer as an Anthropic message, its blocks in Bedrock's
 * order: text, thinking (with its signature), redacted_thinking and
 * tool_use.  st gives the model and the id, and gets the stop reason and
 * the usage.  NGX_DECLINED: not an answer a client can be given.
 */

ngx_int_t
ngx_bedrock_messages_answer(ngx_pool_t *pool, ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_messages_stream_t *st, ngx_str_t *out)
{
    ngx_int_t             rc;
    ngx_uint_t            i;
    ngx_bedrock_jw_t      w;
    ngx_bedrock_block_t  *b;
    ngx_bedrock_answer_t  a;

    rc = ngx_bedrock_converse_answer(temp, data, len, &a);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_bedrock_messages_stop_reason(st, &a.stop_reason);
    st->usage = a.usage;
    st->has_usage = 1;

    if (ngx_bedrock_jw_init(&w, temp, len + 256, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "id");
    ngx_bedrock_jw_str(&w, &st->id);
    ngx_bedrock_jw_key(&w, "type");
    ngx_bedrock_jw_cstr(&w, "message");
    ngx_bedrock_jw_key(&w, "role");
    ngx_bedrock_jw_cstr(&w, "assistant");
    ngx_bedrock_jw_key(&w, "model");
    ngx_bedrock_jw_str(&w, &st->model);
    ngx_bedrock_jw_key(&w, "content");
    ngx_bedrock_jw_arr(&w);

    b = a.blocks.elts;

    for (i = 0; i < a.blocks.nelts; i++) {
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "type");

        switch (b[i].kind) {

        case NGX_BEDROCK_BLOCK_REDACTED:
            ngx_bedrock_jw_cstr(&w, "redacted_thinking");
            ngx_bedrock_jw_key(&w, "data");
            ngx_bedrock_jw_str(&w, &b[i].text);
            break;

        case NGX_BEDROCK_BLOCK_REASONING:
            ngx_bedrock_jw_cstr(&w, "thinking");
            ngx_bedrock_jw_key(&w, "thinking");
            ngx_bedrock_jw_str(&w, &b[i].text);
            ngx_bedrock_jw_key(&w, "signature");
            ngx_bedrock_jw_str(&w, &b[i].id);
            break;

        case NGX_BEDROCK_BLOCK_TOOL_USE:
            ngx_bedrock_jw_cstr(&w, "tool_use");
            ngx_bedrock_jw_key(&w, "id");
            ngx_bedrock_jw_str(&w, &b[i].id);
            ngx_bedrock_jw_key(&w, "name");
            ngx_bedrock_jw_str(&w, &b[i].name);
            ngx_bedrock_jw_key(&w, "input");

            if (b[i].input && b[i].input->type == NGX_BEDROCK_JSON_OBJECT) {
                ngx_bedrock_jw_value(&w, b[i].input);

            } else {
                ngx_bedrock_jw_obj(&w);
                ngx_bedrock_jw_obj_end(&w);
            }

            break;

        default: /* NGX_BEDROCK_BLOCK_TEXT */
            ngx_bedrock_jw_cstr(&w, "text");
            ngx_bedrock_jw_key(&w, "text");
            ngx_bedrock_jw_str(&w, &b[i].text);
            break;
        }

        ngx_bedrock_jw_obj_end(&w);
    }

    ngx_bedrock_jw_arr_end(&w);
    ngx_bedrock_jw_key(&w, "stop_reason");
    ngx_bedrock_jw_cstr(&w, ngx_bedrock_messages_stop(&a.stop_reason));
    ngx_bedrock_jw_key(&w, "stop_sequence");
    ngx_bedrock_jw_null(&w);
    ngx_bedrock_messages_usage_json(&w, &st->usage);
    ngx_bedrock_jw_obj_end(&w);

    return ngx_bedrock_jw_copy(&w, pool, out);
}


/* the kinds of the block a Converse stream has open */

#define NGX_BEDROCK_MS_NONE      0
#define NGX_BEDROCK_MS_TEXT      1
#define NGX_BEDROCK_MS_THINKING  2
#define NGX_BEDROCK_MS_TOOL      3
#define NGX_BEDROCK_MS_REDACTED  4


static void
ngx_bedrock_messages_block_stop(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_jw_t *w)
{
    if (st->kind == NGX_BEDROCK_MS_NONE) {
        return;
    }

    ngx_bedrock_jw_event(w, "content_block_stop");
    ngx_bedrock_jw_key(w, "index");
    ngx_bedrock_jw_int(w, st->index);
    ngx_bedrock_jw_event_end(w);

    st->kind = NGX_BEDROCK_MS_NONE;
    st->index++;
}


static void
ngx_bedrock_messages_block_start(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_event_t *ev, ngx_uint_t kind)
{
    ngx_bedrock_messages_block_stop(st, w);

    st->block = ev->block;
    st->kind = kind;

    ngx_bedrock_jw_event(w, "content_block_start");
    ngx_bedrock_jw_key(w, "index");
    ngx_bedrock_jw_int(w, st->index);
    ngx_bedrock_jw_key(w, "content_block");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "type");

    switch (kind) {

    case NGX_BEDROCK_MS_THINKING:
        ngx_bedrock_jw_cstr(w, "thinking");
        ngx_bedrock_jw_key(w, "thinking");
        ngx_bedrock_jw_cstr(w, "");
        ngx_bedrock_jw_key(w, "signature");
        ngx_bedrock_jw_cstr(w, "");
        break;

    case NGX_BEDROCK_MS_TOOL:
        ngx_bedrock_jw_cstr(w, "tool_use");
        ngx_bedrock_jw_key(w, "id");
        ngx_bedrock_jw_str(w, &ev->id);
        ngx_bedrock_jw_key(w, "name");
        ngx_bedrock_jw_str(w, &ev->name);
        ngx_bedrock_jw_key(w, "input");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_obj_end(w);
        break;

    case NGX_BEDROCK_MS_REDACTED:
        ngx_bedrock_jw_cstr(w, "redacted_thinking");
        ngx_bedrock_jw_key(w, "data");
        ngx_bedrock_jw_str(w, &ev->text);
        break;

    default:
        ngx_bedrock_jw_cstr(w, "text");
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_cstr(w, "");
        break;
    }

    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_event_end(w);
}


static void
ngx_bedrock_messages_delta(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_jw_t *w, char *type, char *key, ngx_str_t *value)
{
    ngx_bedrock_jw_event(w, "content_block_delta");
    ngx_bedrock_jw_key(w, "index");
    ngx_bedrock_jw_int(w, st->index);
    ngx_bedrock_jw_key(w, "delta");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "type");
    ngx_bedrock_jw_cstr(w, type);
    ngx_bedrock_jw_key(w, key);
    ngx_bedrock_jw_str(w, value);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_event_end(w);

    st->content = 1;
}


/* message_delta with the stop reason and the usage, then message_stop */

static void
ngx_bedrock_messages_final(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_events_t *es, ngx_bedrock_jw_t *w)
{
    ngx_bedrock_jw_event(w, "message_delta");
    ngx_bedrock_jw_key(w, "delta");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "stop_reason");
    ngx_bedrock_jw_cstr(w, ngx_bedrock_messages_stop(&es->stop_reason));
    ngx_bedrock_jw_key(w, "stop_sequence");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_messages_usage_json(w, &es->usage);
    ngx_bedrock_jw_event_end(w);

    ngx_bedrock_jw_event(w, "message_stop");
    ngx_bedrock_jw_event_end(w);

    st->delta_sent = 1;
}


/*
 * One decoded ConverseStream event as Anthropic stream events.  Converse
 * gives the usage in "metadata", after messageStop: message_delta and
 * message_stop wait for it (or for the end of the stream,
 * ngx_bedrock_messages_end()).  Converse starts no text or reasoning
 * block: their first delta does.
 */

ngx_int_t
ngx_bedrock_messages_converse_event(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_events_t *es, ngx_bedrock_event_t *ev, ngx_pool_t *scratch,
    ngx_str_t *sse)
{
    ngx_bedrock_jw_t  w;

    ngx_str_null(sse);
    st->content = 0;

    if (st->delta_sent || ev->type == NGX_BEDROCK_EVENT_NONE) {
        return NGX_OK;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    switch (ev->type) {

    case NGX_BEDROCK_EVENT_START:
        ngx_bedrock_jw_event(&w, "message_start");
        ngx_bedrock_jw_key(&w, "message");
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "id");
        ngx_bedrock_jw_str(&w, &st->id);
        ngx_bedrock_jw_key(&w, "type");
        ngx_bedrock_jw_cstr(&w, "message");
        ngx_bedrock_jw_key(&w, "role");
        ngx_bedrock_jw_cstr(&w, "assistant");
        ngx_bedrock_jw_key(&w, "model");
        ngx_bedrock_jw_str(&w, &st->model);
        ngx_bedrock_jw_key(&w, "content");
        ngx_bedrock_jw_arr(&w);
        ngx_bedrock_jw_arr_end(&w);
        ngx_bedrock_jw_key(&w, "stop_reason");
        ngx_bedrock_jw_null(&w);
        ngx_bedrock_jw_key(&w, "stop_sequence");
        ngx_bedrock_jw_null(&w);
        ngx_bedrock_messages_usage_json(&w, &es->usage);
        ngx_bedrock_jw_obj_end(&w);
        ngx_bedrock_jw_event_end(&w);
        break;

    case NGX_BEDROCK_EVENT_TOOL_START:
        ngx_bedrock_messages_block_start(st, &w, ev, NGX_BEDROCK_MS_TOOL);
        st->content = 1;
        break;

    case NGX_BEDROCK_EVENT_TEXT:
        if (st->kind != NGX_BEDROCK_MS_TEXT || st->block != ev->block) {
            ngx_bedrock_messages_block_start(st, &w, ev, NGX_BEDROCK_MS_TEXT);
        }

        ngx_bedrock_messages_delta(st, &w, "text_delta", "text", &ev->text);
        break;

    case NGX_BEDROCK_EVENT_REDACTED:
        ngx_bedrock_messages_block_start(st, &w, ev, NGX_BEDROCK_MS_REDACTED);
        st->content = 1;
        break;

    case NGX_BEDROCK_EVENT_REASONING:
        if (st->kind != NGX_BEDROCK_MS_THINKING || st->block != ev->block) {
            ngx_bedrock_messages_block_start(st, &w, ev,
                                             NGX_BEDROCK_MS_THINKING);
        }

        if (ev->text.data) {
            ngx_bedrock_messages_delta(st, &w, "thinking_delta", "thinking",
                                       &ev->text);
        }

        if (ev->signature.data) {
            ngx_bedrock_messages_delta(st, &w, "signature_delta",
                                       "signature", &ev->signature);
        }

        break;

    case NGX_BEDROCK_EVENT_TOOL_INPUT:
        if (st->kind == NGX_BEDROCK_MS_TOOL && st->block == ev->block) {
            ngx_bedrock_messages_delta(st, &w, "input_json_delta",
                                       "partial_json", &ev->text);
        }

        break;

    case NGX_BEDROCK_EVENT_BLOCK_STOP:
    case NGX_BEDROCK_EVENT_STOP:
        ngx_bedrock_messages_block_stop(st, &w);
        break;

    default: /* NGX_BEDROCK_EVENT_USAGE */
        if (es->stopped) {
            ngx_bedrock_messages_final(st, es, &w);
        }

        break;
    }

    return ngx_bedrock_jw_finish(&w, sse);
}


/* a Converse stream that ended after messageStop without its metadata */

ngx_int_t
ngx_bedrock_messages_end(ngx_bedrock_messages_stream_t *st,
    ngx_bedrock_events_t *es, ngx_pool_t *scratch, ngx_str_t *sse)
{
    ngx_bedrock_jw_t  w;

    ngx_str_null(sse);

    if (st->delta_sent || !es->stopped) {
        return NGX_OK;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_messages_final(st, es, &w);

    return ngx_bedrock_jw_finish(&w, sse);
}


/*
 * The usage and stop reason of an answer passed on as Bedrock wrote it:
 * Converse's, CountTokens', or a Claude message.  NGX_DECLINED: not JSON.
 */

ngx_int_t
ngx_bedrock_messages_native_usage(ngx_pool_t *temp, u_char *data, size_t len,
    ngx_bedrock_usage_t *usage, ngx_str_t *stop_reason)
{
    ngx_int_t            rc, n;
    ngx_str_t            error;
    ngx_uint_t           budget;
    ngx_bedrock_json_t  *root, *v;

    budget = NGX_BEDROCK_MESSAGES_ANSWER_VALUES;

    rc = ngx_bedrock_json_parse(temp, data, len, &budget, &root, &error);
    if (rc != NGX_OK) {
        return rc;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT) {
        return NGX_DECLINED;
    }

    v = ngx_bedrock_json_get(root, "usage");

    ngx_bedrock_usage(v, usage);
    ngx_bedrock_messages_usage(v, usage);

    v = ngx_bedrock_json_get(root, "inputTokens");

    if (v && ngx_bedrock_json_int(v, &n) == NGX_OK && n >= 0) {
        usage->input = n;
    }

    v = ngx_bedrock_json_get(root, "stopReason");

    if (v == NULL) {
        v = ngx_bedrock_json_get(root, "stop_reason");
    }

    if (v && v->type == NGX_BEDROCK_JSON_STRING) {
        *stop_reason = v->value;
    }

    return NGX_OK;
}
