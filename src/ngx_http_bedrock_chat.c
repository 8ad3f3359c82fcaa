
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_chat.h"
#include "ngx_http_bedrock_media.h"
#include "ngx_http_bedrock_converse.h"


#define NGX_BEDROCK_BODY_MAX        (64 * 1024 * 1024)

/* JSON values one request may hold (each costs a node in the pool) */
#define NGX_BEDROCK_REQUEST_VALUES  (256 * 1024)

/* OpenAI's own limit */
#define NGX_BEDROCK_TOOLS_MAX       128


typedef struct {
    ngx_pool_t               *pool;     /* the parse: freed by the caller */
    ngx_pool_t               *out;      /* what outlives the call */
    ngx_pool_t               *scratch;  /* one arguments parse at a time */
    ngx_bedrock_json_opts_t   jo;       /* the parses, one pool of nodes */
    ngx_bedrock_error_t      *err;
    ngx_bedrock_converse_t    conv;     /* the request being built */
    ngx_uint_t                budget;   /* JSON values left */
    ngx_uint_t                image_fetch;  /* http(s) image URLs taken */
} ngx_bedrock_chat_ctx_t;




static ngx_int_t ngx_bedrock_invalid(ngx_bedrock_chat_ctx_t *ctx,
    ngx_str_t *param, const char *fmt, ...);
static ngx_str_t *ngx_bedrock_param(ngx_bedrock_chat_ctx_t *ctx,
    const char *fmt, ...);
static ngx_int_t ngx_bedrock_chat_message(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *m, ngx_uint_t i);
static ngx_int_t ngx_bedrock_chat_texts(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *content, ngx_uint_t i, ngx_array_t *texts,
    ngx_uint_t refusal);
static ngx_int_t ngx_bedrock_chat_thinking(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *blocks, ngx_uint_t i);
static ngx_int_t ngx_bedrock_chat_user_content(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *content, ngx_uint_t i);
static ngx_int_t ngx_bedrock_chat_image(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *part, ngx_uint_t i, ngx_uint_t j);
static ngx_int_t ngx_bedrock_chat_file(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *part, ngx_uint_t i, ngx_uint_t j);
static ngx_int_t ngx_bedrock_chat_image_url(ngx_bedrock_chat_ctx_t *ctx,
    ngx_str_t *url, ngx_uint_t i, ngx_uint_t j);
static ngx_int_t ngx_bedrock_chat_part_invalid(ngx_bedrock_chat_ctx_t *ctx,
    ngx_uint_t i, ngx_uint_t j, char *field, const char *fmt, ...);
static ngx_int_t ngx_bedrock_chat_cache(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *node, ngx_str_t *ttl, const char *fmt, ngx_uint_t i,
    ngx_uint_t j);
static ngx_int_t ngx_bedrock_chat_cache_turn(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *node, ngx_uint_t assistant, const char *fmt,
    ngx_uint_t i, ngx_uint_t j);
static ngx_int_t ngx_bedrock_chat_format(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *format);
static ngx_int_t ngx_bedrock_chat_extra(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *root, ngx_str_t *id, ngx_uint_t claude);
static ngx_int_t ngx_bedrock_chat_tool_calls(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *calls, ngx_uint_t i);
static ngx_int_t ngx_bedrock_chat_tools(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *tools, ngx_bedrock_json_t *choice);
static ngx_int_t ngx_bedrock_chat_tool_allowed(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *allowed, ngx_str_t *name);
static ngx_int_t ngx_bedrock_chat_inference(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *root);
static void ngx_bedrock_chat_thinking_json(ngx_bedrock_jw_t *w,
    ngx_bedrock_answer_t *a);




/*
 * The tree, the turns and the writer's buffer live in "temp", which the
 * caller destroys once the call returns; the model, the Converse body and
 * the error are copied to "pool".  The two may be the same pool.
 */

ngx_int_t
ngx_bedrock_chat_request(ngx_pool_t *pool, ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_chat_request_t *req, ngx_bedrock_error_t *err)
{
    ngx_int_t                 rc, n;
    ngx_str_t                 error, id;
    ngx_uint_t                i, claude;
    ngx_bedrock_jw_t          w;
    ngx_bedrock_json_t       *root, *v, *m, *opts;
    ngx_bedrock_chat_ctx_t    ctx;

    ngx_memzero(&ctx, sizeof(ngx_bedrock_chat_ctx_t));
    ctx.pool = temp;
    ctx.out = pool;
    ctx.err = err;
    ctx.budget = NGX_BEDROCK_REQUEST_VALUES;
    ctx.image_fetch = req->conf.image_fetch;

    if (memchr(data, '\0', len) != NULL) {
        return ngx_bedrock_invalid(&ctx, NULL, "We could not parse the JSON "
                                   "body of your request: it contains a "
                                   "NUL byte.");
    }

    ctx.jo.pool = temp;
    ctx.jo.budget = &ctx.budget;
    ctx.jo.strict = 1;

    rc = ngx_bedrock_json_parse_opts(&ctx.jo, data, len, &root, &error);

    if (rc == NGX_ABORT) {
        if (ngx_bedrock_str_copy(pool, &error) != NGX_OK) {
            return NGX_ERROR;
        }

        if (error.len == 0) {
            return ngx_bedrock_invalid(&ctx, NULL, "The request body is not "
                                       "valid UTF-8: it must be UTF-8 "
                                       "JSON.");
        }

        return ngx_bedrock_invalid(&ctx, &error, "%V is not valid UTF-8: "
                                   "the request body must be UTF-8 JSON.",
                                   &error);
    }

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_invalid(&ctx, NULL, "We could not parse the JSON "
                                   "body of your request (%V).", &error);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_invalid(&ctx, NULL, "The request body must be a "
                                   "JSON object.");
    }

    /* model: one outside the allowlist is refused before any other work */

    v = ngx_bedrock_json_get(root, "model");

    if (ngx_bedrock_json_is_null(v)) {
        return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "model"),
                                   "you must provide a model parameter");
    }

    if (v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0) {
        return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "model"),
                                   "model must be a non-empty string");
    }

    req->model = v->value;

    if (ngx_bedrock_str_copy(pool, &req->model) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&id);
    claude = 0;

    if (req->model_check) {
        rc = req->model_check(req->data, &req->model, &id, &claude);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_ABORT : NGX_ERROR;
        }
    }

    /* arguments strings are parsed one by one in memory reused each time */

    ctx.scratch = ngx_bedrock_converse_scratch(temp);
    if (ctx.scratch == NULL) {
        return NGX_ERROR;
    }

    /* stream and stream_options */

    v = ngx_bedrock_json_get(root, "stream");

    if (!ngx_bedrock_json_is_null(v)) {
        if (v->type != NGX_BEDROCK_JSON_TRUE
            && v->type != NGX_BEDROCK_JSON_FALSE)
        {
            return ngx_bedrock_invalid(&ctx,
                                       ngx_bedrock_param(&ctx, "stream"),
                                       "stream must be a boolean");
        }

        req->stream = (v->type == NGX_BEDROCK_JSON_TRUE);
    }

    opts = ngx_bedrock_json_get(root, "stream_options");

    if (!ngx_bedrock_json_is_null(opts)) {
        if (opts->type != NGX_BEDROCK_JSON_OBJECT) {
            return ngx_bedrock_invalid(&ctx,
                                  ngx_bedrock_param(&ctx, "stream_options"),
                                  "stream_options must be an object");
        }

        v = ngx_bedrock_json_get(opts, "include_usage");
        req->include_usage = (v && v->type == NGX_BEDROCK_JSON_TRUE);
    }

    /* fields that cannot be honoured are refused, not silently dropped */

    v = ngx_bedrock_json_get(root, "n");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_int(v, &n) != NGX_OK || n != 1) {
            return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "n"),
                                       "Bedrock Converse returns one choice "
                                       "per request: n must be 1.");
        }
    }

    v = ngx_bedrock_json_get(root, "logprobs");

    if (!ngx_bedrock_json_is_null(v) && v->type != NGX_BEDROCK_JSON_FALSE) {
        return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "logprobs"),
                                   "logprobs are not available from "
                                   "Bedrock Converse.");
    }

    v = ngx_bedrock_json_get(root, "top_logprobs");

    if (!ngx_bedrock_json_is_null(v)
        && (ngx_bedrock_json_int(v, &n) != NGX_OK || n != 0))
    {
        return ngx_bedrock_invalid(&ctx,
                                   ngx_bedrock_param(&ctx, "top_logprobs"),
                                   "logprobs are not available from "
                                   "Bedrock Converse.");
    }

    if (!ngx_bedrock_json_is_null(ngx_bedrock_json_get(root, "functions"))
        || !ngx_bedrock_json_is_null(ngx_bedrock_json_get(root,
                                                          "function_call")))
    {
        return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "functions"),
                                   "The deprecated functions and "
                                   "function_call parameters are not "
                                   "supported; use tools and tool_choice.");
    }

    /* messages */

    v = ngx_bedrock_json_get(root, "messages");

    if (v == NULL || v->type != NGX_BEDROCK_JSON_ARRAY || v->n == 0) {
        return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "messages"),
                                   "messages must be a non-empty array");
    }

    if (ngx_bedrock_converse_init(&ctx.conv, temp, v->n) != NGX_OK) {
        return NGX_ERROR;
    }

    for (m = v->child, i = 0; m; m = m->next, i++) {
        rc = ngx_bedrock_chat_message(&ctx, m, i);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx.conv.turns.nelts == 0) {
        return ngx_bedrock_invalid(&ctx, ngx_bedrock_param(&ctx, "messages"),
                                   "messages must contain at least one user "
                                   "or assistant message with content");
    }

    rc = ngx_bedrock_chat_inference(&ctx, root);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_chat_tools(&ctx, ngx_bedrock_json_get(root, "tools"),
                                ngx_bedrock_json_get(root, "tool_choice"));
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_chat_extra(&ctx, root, &id, claude);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_bedrock_converse_conf(&ctx.conv, &req->conf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the Converse request */

    if (ngx_bedrock_jw_init(&w, temp, len + 256, NGX_BEDROCK_BODY_MAX)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);

    ngx_bedrock_converse_messages(&ctx.conv, &w);
    ngx_bedrock_converse_system_json(&ctx.conv, &w);
    ngx_bedrock_converse_inference(&ctx.conv, &w);
    ngx_bedrock_converse_tools(&ctx.conv, &w);
    ngx_bedrock_converse_extra(&ctx.conv, &w);
    ngx_bedrock_converse_guardrail(&req->guardrail, req->stream, &w);

    ngx_bedrock_jw_obj_end(&w);

    rc = ngx_bedrock_jw_finish(&w, &req->body);

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_invalid(&ctx, NULL, "The request is too large.");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_bedrock_converse_images(&ctx.conv, pool, &req->images) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_bedrock_str_copy(pool, &req->body);
}


static ngx_int_t
ngx_bedrock_chat_message(ngx_bedrock_chat_ctx_t *ctx, ngx_bedrock_json_t *m,
    ngx_uint_t i)
{
    ngx_int_t             rc;
    ngx_str_t            *role, ttl, *s;
    ngx_uint_t            k, cache;
    ngx_array_t           texts, parts;
    ngx_bedrock_json_t   *v, *content;
    ngx_bedrock_block_t  *t, *b;

    if (m->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_invalid(ctx,
                                   ngx_bedrock_param(ctx, "messages[%ui]", i),
                                   "each message must be an object");
    }

    v = ngx_bedrock_json_get(m, "role");

    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
        return ngx_bedrock_invalid(ctx,
                              ngx_bedrock_param(ctx, "messages[%ui].role", i),
                              "each message must have a string role");
    }

    role = &v->value;
    content = ngx_bedrock_json_get(m, "content");

    if (ngx_array_init(&texts, ctx->pool, 2, sizeof(ngx_bedrock_block_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#define ngx_bedrock_role_is(r, s)                                            \
    ((r)->len == sizeof(s) - 1 && ngx_strncmp((r)->data, s, (r)->len) == 0)

    if (ngx_bedrock_role_is(role, "system")
        || ngx_bedrock_role_is(role, "developer"))
    {
        rc = ngx_bedrock_chat_texts(ctx, content, i, &texts, 0);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_bedrock_chat_cache(ctx, m, &ttl, "messages[%ui].cache_control",
                                    i, 0);

        if (rc == NGX_OK && texts.nelts) {
            b = ngx_array_push(&texts);
            if (b == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(b, sizeof(ngx_bedrock_block_t));
            b->kind = NGX_BEDROCK_BLOCK_CACHE_POINT;
            b->format = ttl;

        } else if (rc != NGX_OK && rc != NGX_DONE) {
            return rc;
        }

        t = texts.elts;

        for (k = 0; k < texts.nelts; k++) {
            b = ngx_bedrock_converse_system(&ctx->conv, t[k].kind);
            if (b == NULL) {
                return NGX_ERROR;
            }

            *b = t[k];
        }

        return NGX_OK;
    }

    if (ngx_bedrock_role_is(role, "user")) {
        rc = ngx_bedrock_chat_user_content(ctx, content, i);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_bedrock_chat_cache_turn(ctx, m, 0,
                                           "messages[%ui].cache_control",
                                           i, 0);
    }

    if (ngx_bedrock_role_is(role, "assistant")) {

        /* the model's signed reasoning goes first, before any tool call */

        rc = ngx_bedrock_chat_thinking(ctx,
                                       ngx_bedrock_json_get(m,
                                                            "thinking_blocks"),
                                       i);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_bedrock_chat_texts(ctx, content, i, &texts, 1);
        if (rc != NGX_OK) {
            return rc;
        }

        t = texts.elts;

        for (k = 0; k < texts.nelts; k++) {
            b = ngx_bedrock_converse_block(&ctx->conv, 1, t[k].kind);
            if (b == NULL) {
                return NGX_ERROR;
            }

            *b = t[k];
        }

        rc = ngx_bedrock_chat_tool_calls(ctx,
                                        ngx_bedrock_json_get(m, "tool_calls"),
                                        i);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_bedrock_chat_cache_turn(ctx, m, 1,
                                           "messages[%ui].cache_control",
                                           i, 0);
    }

    if (ngx_bedrock_role_is(role, "tool")) {

        v = ngx_bedrock_json_get(m, "tool_call_id");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || v->value.len == 0)
        {
            return ngx_bedrock_invalid(ctx,
                      ngx_bedrock_param(ctx, "messages[%ui].tool_call_id", i),
                      "tool messages must have a tool_call_id");
        }

        rc = ngx_bedrock_chat_texts(ctx, content, i, &texts, 0);
        if (rc != NGX_OK) {
            return rc;
        }

        /* one result of all its texts; a cache point in them, after it */

        if (ngx_array_init(&parts, ctx->pool, texts.nelts + 1,
                           sizeof(ngx_str_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        cache = 0;
        ngx_str_null(&ttl);
        t = texts.elts;

        for (k = 0; k < texts.nelts; k++) {
            if (t[k].kind == NGX_BEDROCK_BLOCK_CACHE_POINT) {
                cache = 1;
                ttl = t[k].format;
                continue;
            }

            s = ngx_array_push(&parts);
            if (s == NULL) {
                return NGX_ERROR;
            }

            *s = t[k].text;
        }

        b = ngx_bedrock_converse_block(&ctx->conv, 0,
                                       NGX_BEDROCK_BLOCK_TOOL_RESULT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->id = v->value;

        if (ngx_bedrock_concat(ctx->pool, &parts, &b->text) != NGX_OK) {
            return NGX_ERROR;
        }

        if (cache) {
            b = ngx_bedrock_converse_block(&ctx->conv, 0,
                                           NGX_BEDROCK_BLOCK_CACHE_POINT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->format = ttl;
        }

        return ngx_bedrock_chat_cache_turn(ctx, m, 0,
                                           "messages[%ui].cache_control",
                                           i, 0);
    }

#undef ngx_bedrock_role_is

    return ngx_bedrock_invalid(ctx,
                              ngx_bedrock_param(ctx, "messages[%ui].role", i),
                              "Invalid value: '%V'. Supported values are: "
                              "'system', 'developer', 'user', 'assistant' "
                              "and 'tool'.", role);
}


/*
 * string content, or an array of text parts (and refusal parts, for the
 * assistant), as text blocks, each part's cache_control as a cache point
 * after it; empty strings are dropped, as Bedrock refuses blank text
 */

static ngx_int_t
ngx_bedrock_chat_texts(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *content, ngx_uint_t i, ngx_array_t *texts,
    ngx_uint_t refusal)
{
    ngx_int_t             rc;
    ngx_str_t             ttl;
    ngx_uint_t            j;
    ngx_bedrock_json_t   *part, *type, *text;
    ngx_bedrock_block_t  *b;

    if (ngx_bedrock_json_is_null(content)) {
        return NGX_OK;
    }

    if (content->type == NGX_BEDROCK_JSON_STRING) {
        if (content->value.len == 0) {
            return NGX_OK;
        }

        b = ngx_array_push(texts);
        if (b == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(b, sizeof(ngx_bedrock_block_t));
        b->text = content->value;
        return NGX_OK;
    }

    if (content->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_invalid(ctx,
                           ngx_bedrock_param(ctx, "messages[%ui].content", i),
                           "content must be a string or an array of parts");
    }

    for (part = content->child, j = 0; part; part = part->next, j++) {

        type = ngx_bedrock_json_get(part, "type");

        if (ngx_bedrock_json_is_str(type, "text")) {
            text = ngx_bedrock_json_get(part, "text");

        } else if (refusal && ngx_bedrock_json_is_str(type, "refusal")) {
            text = ngx_bedrock_json_get(part, "refusal");

        } else {
            return ngx_bedrock_chat_part_invalid(ctx, i, j, "type",
                       "only text content parts are supported in this "
                       "message");
        }

        if (text == NULL || text->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_chat_part_invalid(ctx, i, j, "text",
                                        "a text part must have a string text");
        }

        rc = ngx_bedrock_chat_cache(ctx, part, &ttl,
                                    "messages[%ui].content[%ui]"
                                    ".cache_control", i, j);

        if (rc != NGX_OK && rc != NGX_DONE) {
            return rc;
        }

        if (text->value.len == 0) {
            continue;
        }

        b = ngx_array_push(texts);
        if (b == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(b, sizeof(ngx_bedrock_block_t));
        b->text = text->value;

        if (rc == NGX_DONE) {
            continue;
        }

        b = ngx_array_push(texts);
        if (b == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(b, sizeof(ngx_bedrock_block_t));
        b->kind = NGX_BEDROCK_BLOCK_CACHE_POINT;
        b->format = ttl;
    }

    return NGX_OK;
}


/*
 * An assistant message's "thinking_blocks", as this gateway wrote them:
 * {"type":"thinking","thinking":"...","signature":"..."} and
 * {"type":"redacted_thinking","data":"..."}.  Bedrock checks the
 * signature, so reasoning without one is left out.
 */

static ngx_int_t
ngx_bedrock_chat_thinking(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *blocks, ngx_uint_t i)
{
    ngx_uint_t            j;
    ngx_bedrock_json_t   *t, *type, *text, *sig;
    ngx_bedrock_block_t  *b;

    if (ngx_bedrock_json_is_null(blocks)) {
        return NGX_OK;
    }

    if (blocks->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_invalid(ctx,
                   ngx_bedrock_param(ctx, "messages[%ui].thinking_blocks", i),
                   "thinking_blocks must be an array");
    }

    for (t = blocks->child, j = 0; t; t = t->next, j++) {
        type = ngx_bedrock_json_get(t, "type");

        if (ngx_bedrock_json_is_str(type, "thinking")) {
            text = ngx_bedrock_json_get(t, "thinking");
            sig = ngx_bedrock_json_get(t, "signature");

            if (text == NULL || text->type != NGX_BEDROCK_JSON_STRING
                || (!ngx_bedrock_json_is_null(sig)
                    && sig->type != NGX_BEDROCK_JSON_STRING))
            {
                return ngx_bedrock_invalid(ctx,
                           ngx_bedrock_param(ctx, "messages[%ui]"
                                             ".thinking_blocks[%ui]", i, j),
                           "a thinking block needs a string thinking and a "
                           "string signature");
            }

            if (ngx_bedrock_json_is_null(sig) || sig->value.len == 0) {
                continue;
            }

            b = ngx_bedrock_converse_block(&ctx->conv, 1,
                                           NGX_BEDROCK_BLOCK_REASONING);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = text->value;
            b->id = sig->value;
            continue;
        }

        if (ngx_bedrock_json_is_str(type, "redacted_thinking")) {
            text = ngx_bedrock_json_get(t, "data");

            if (text == NULL || text->type != NGX_BEDROCK_JSON_STRING
                || text->value.len == 0)
            {
                return ngx_bedrock_invalid(ctx,
                           ngx_bedrock_param(ctx, "messages[%ui]"
                                             ".thinking_blocks[%ui].data",
                                             i, j),
                           "a redacted_thinking block needs its data");
            }

            b = ngx_bedrock_converse_block(&ctx->conv, 1,
                                           NGX_BEDROCK_BLOCK_REDACTED);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = text->value;
            continue;
        }

        return ngx_bedrock_invalid(ctx,
                   ngx_bedrock_param(ctx, "messages[%ui].thinking_blocks[%ui]"
                                     ".type", i, j),
                   "thinking_blocks hold 'thinking' and 'redacted_thinking' "
                   "blocks");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_chat_user_content(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *content, ngx_uint_t i)
{
    ngx_int_t             rc;
    ngx_uint_t            j;
    ngx_bedrock_json_t   *part, *type, *text;
    ngx_bedrock_block_t  *b;

    if (content == NULL || content->type == NGX_BEDROCK_JSON_NULL) {
        return ngx_bedrock_invalid(ctx,
                           ngx_bedrock_param(ctx, "messages[%ui].content", i),
                           "user messages must have content");
    }

    if (content->type == NGX_BEDROCK_JSON_STRING) {
        if (content->value.len == 0) {
            return NGX_OK;
        }

        b = ngx_bedrock_converse_block(&ctx->conv, 0, NGX_BEDROCK_BLOCK_TEXT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = content->value;
        return NGX_OK;
    }

    if (content->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_invalid(ctx,
                           ngx_bedrock_param(ctx, "messages[%ui].content", i),
                           "content must be a string or an array of parts");
    }

    for (part = content->child, j = 0; part; part = part->next, j++) {

        type = ngx_bedrock_json_get(part, "type");

        if (type == NULL || type->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_chat_part_invalid(ctx, i, j, "type",
                                 "each content part must have a string type");
        }

        if (ngx_bedrock_json_is_str(type, "text")) {
            text = ngx_bedrock_json_get(part, "text");

            if (text == NULL || text->type != NGX_BEDROCK_JSON_STRING) {
                return ngx_bedrock_chat_part_invalid(ctx, i, j, "text",
                                        "a text part must have a string text");
            }

            if (text->value.len) {
                b = ngx_bedrock_converse_block(&ctx->conv, 0,
                                               NGX_BEDROCK_BLOCK_TEXT);
                if (b == NULL) {
                    return NGX_ERROR;
                }

                b->text = text->value;
            }

        } else if (ngx_bedrock_json_is_str(type, "image_url")) {
            rc = ngx_bedrock_chat_image(ctx, part, i, j);
            if (rc != NGX_OK) {
                return rc;
            }

        } else if (ngx_bedrock_json_is_str(type, "file")) {
            rc = ngx_bedrock_chat_file(ctx, part, i, j);
            if (rc != NGX_OK) {
                return rc;
            }

        } else {
            return ngx_bedrock_chat_part_invalid(ctx, i, j, "type",
                       "content part type '%V' is not supported by this "
                       "gateway; use text, image_url or file", &type->value);
        }

        rc = ngx_bedrock_chat_cache_turn(ctx, part, 0,
                                         "messages[%ui].content[%ui]"
                                         ".cache_control", i, j);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_chat_image(ngx_bedrock_chat_ctx_t *ctx, ngx_bedrock_json_t *part,
    ngx_uint_t i, ngx_uint_t j)
{
    char                 *msg;
    ngx_int_t             rc;
    ngx_str_t             mime, data, format;
    ngx_bedrock_json_t   *url;
    ngx_bedrock_block_t  *b;

    url = ngx_bedrock_json_get(ngx_bedrock_json_get(part, "image_url"),
                               "url");

    if (url == NULL || url->type != NGX_BEDROCK_JSON_STRING) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "image_url.url",
                                             "an image_url part must have a "
                                             "string url");
    }

    rc = ngx_bedrock_data_url(&url->value, &mime, &data);

    if (rc == NGX_DECLINED && ctx->image_fetch) {
        return ngx_bedrock_chat_image_url(ctx, &url->value, i, j);
    }

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "image_url.url",
                                   "Only data: URLs (data:image/png;base64,"
                                   "...) are supported for images; this "
                                   "gateway does not fetch image URLs.");
    }

    if (rc != NGX_OK) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "image_url.url",
                                             "an image data: URL must be "
                                             "base64-encoded");
    }

    if (ngx_bedrock_image_format(&mime, &format) != NGX_OK) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "image_url.url",
                                             "image type '%V' is not "
                                             "supported; use png, jpeg, gif "
                                             "or webp", &mime);
    }

    /* Bedrock is not called for what it would refuse, or misread */

    msg = ngx_bedrock_image_check(&format, data.data, data.len);

    if (msg != NULL) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "image_url.url", "%s",
                                             msg);
    }

    b = ngx_bedrock_converse_block(&ctx->conv, 0, NGX_BEDROCK_BLOCK_IMAGE);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->format = format;
    b->text = data;

    return NGX_OK;
}


/* an http(s) image URL, fetched by the gateway once the body is written */

static ngx_int_t
ngx_bedrock_chat_image_url(ngx_bedrock_chat_ctx_t *ctx, ngx_str_t *url,
    ngx_uint_t i, ngx_uint_t j)
{
    char       *msg;
    ngx_int_t   rc;
    ngx_str_t  *param;

    param = ngx_bedrock_param(ctx, "messages[%ui].content[%ui].image_url.url",
                              i, j);
    if (param == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_bedrock_converse_image_url(&ctx->conv, url, param, &msg);

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "image_url.url", "%s",
                                             msg);
    }

    return rc;
}


/*
 * {"type":"file","file":{"filename":"...","file_data":"data:...;base64,
 * ..."}}: a Converse document, named as Converse allows
 */

static ngx_int_t
ngx_bedrock_chat_file(ngx_bedrock_chat_ctx_t *ctx, ngx_bedrock_json_t *part,
    ngx_uint_t i, ngx_uint_t j)
{
    char                 *msg;
    ngx_str_t             mime, data, format;
    ngx_bedrock_json_t   *file, *url, *name;

    file = ngx_bedrock_json_get(part, "file");
    url = ngx_bedrock_json_get(file, "file_data");
    name = ngx_bedrock_json_get(file, "filename");

    if (ngx_bedrock_json_is_null(url)
        && !ngx_bedrock_json_is_null(ngx_bedrock_json_get(file, "file_id")))
    {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "file.file_id",
                                   "file_id needs a files API, which this "
                                   "gateway does not keep; send the file "
                                   "inline in file_data as a data: URL");
    }

    if (url == NULL || url->type != NGX_BEDROCK_JSON_STRING
        || ngx_bedrock_data_url(&url->value, &mime, &data) != NGX_OK)
    {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "file.file_data",
                                   "a file part needs file_data, a base64 "
                                   "data: URL (data:application/pdf;base64,"
                                   "...)");
    }

    if (!ngx_bedrock_json_is_null(name)
        && name->type != NGX_BEDROCK_JSON_STRING)
    {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "file.filename",
                                             "filename must be a string");
    }

    msg = ngx_bedrock_document_check(&mime, data.data, data.len, &format);

    if (msg != NULL) {
        return ngx_bedrock_chat_part_invalid(ctx, i, j, "file.file_data",
                                             "%s", msg);
    }

    if (ngx_bedrock_converse_document(&ctx->conv, &format, &data,
                                      ngx_bedrock_json_is_null(name)
                                      ? NULL : &name->value)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an invalid content part: its parameter is written only then */

static ngx_int_t
ngx_bedrock_chat_part_invalid(ngx_bedrock_chat_ctx_t *ctx, ngx_uint_t i,
    ngx_uint_t j, char *field, const char *fmt, ...)
{
    ngx_int_t   rc;
    va_list     args;
    ngx_str_t  *param;

    param = ngx_bedrock_param(ctx, "messages[%ui].content[%ui].%s", i, j,
                              field);

    va_start(args, fmt);
    rc = ngx_bedrock_error_invalid(ctx->out, ctx->err, param, fmt, args);
    va_end(args);

    return rc;
}


/*
 * A node's "cache_control": NGX_OK with its ttl, NGX_DONE when there is
 * none, or the error for one that is not {"type": "ephemeral", "ttl"?}
 */

static ngx_int_t
ngx_bedrock_chat_cache(ngx_bedrock_chat_ctx_t *ctx, ngx_bedrock_json_t *node,
    ngx_str_t *ttl, const char *fmt, ngx_uint_t i, ngx_uint_t j)
{
    ngx_int_t  rc;

    rc = ngx_bedrock_converse_cache_control(
             ngx_bedrock_json_get(node, "cache_control"), ttl);

    if (rc == NGX_DECLINED) {
        return NGX_DONE;
    }

    if (rc == NGX_ABORT) {
        return ngx_bedrock_invalid(ctx, ngx_bedrock_param(ctx, fmt, i, j),
                                   "cache_control must be {\"type\": "
                                   "\"ephemeral\"}, with an optional ttl of "
                                   "'5m' or '1h'");
    }

    return rc;
}


/*
 * a cache point after the turn's last block, for a node's cache_control;
 * none where the turn has no block yet or already ends with one
 */

static ngx_int_t
ngx_bedrock_chat_cache_turn(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *node, ngx_uint_t assistant, const char *fmt,
    ngx_uint_t i, ngx_uint_t j)
{
    ngx_int_t             rc;
    ngx_str_t             ttl;
    ngx_bedrock_turn_t   *turn;
    ngx_bedrock_block_t  *b;

    rc = ngx_bedrock_chat_cache(ctx, node, &ttl, fmt, i, j);

    if (rc == NGX_DONE) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    turn = ctx->conv.turn;

    if (turn == NULL || turn->assistant != assistant
        || turn->blocks.nelts == 0)
    {
        return NGX_OK;
    }

    b = turn->blocks.elts;

    if (b[turn->blocks.nelts - 1].kind == NGX_BEDROCK_BLOCK_CACHE_POINT) {
        return NGX_OK;
    }

    b = ngx_bedrock_converse_block(&ctx->conv, assistant,
                                   NGX_BEDROCK_BLOCK_CACHE_POINT);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->format = ttl;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_chat_tool_calls(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *calls, ngx_uint_t i)
{
    ngx_int_t                 rc;
    ngx_str_t                 error;
    ngx_uint_t                j;
    ngx_bedrock_json_t       *call, *id, *fn, *fname, *args;

    if (ngx_bedrock_json_is_null(calls)) {
        return NGX_OK;
    }

    if (calls->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_invalid(ctx,
                        ngx_bedrock_param(ctx, "messages[%ui].tool_calls", i),
                        "tool_calls must be an array");
    }

    for (call = calls->child, j = 0; call; call = call->next, j++) {

        id = ngx_bedrock_json_get(call, "id");
        fn = ngx_bedrock_json_get(call, "function");
        fname = ngx_bedrock_json_get(fn, "name");
        args = ngx_bedrock_json_get(fn, "arguments");

        if (id == NULL || id->type != NGX_BEDROCK_JSON_STRING
            || id->value.len == 0
            || fname == NULL || fname->type != NGX_BEDROCK_JSON_STRING
            || fname->value.len == 0
            || (args && args->type != NGX_BEDROCK_JSON_STRING))
        {
            return ngx_bedrock_invalid(ctx,
                  ngx_bedrock_param(ctx, "messages[%ui].tool_calls[%ui]",
                                    i, j),
                  "each tool call needs a string id, function.name and "
                  "function.arguments");
        }

        rc = ngx_bedrock_converse_tool_use(&ctx->conv, &ctx->jo,
                                           ctx->scratch, &id->value,
                                           &fname->value,
                                           args ? &args->value : NULL,
                                           &error);

        if (rc == NGX_ABORT) {
            return ngx_bedrock_invalid(ctx,
                ngx_bedrock_param(ctx, "messages[%ui].tool_calls[%ui]"
                                  ".function.arguments", i, j),
                "function.arguments is not valid UTF-8");
        }

        if (rc == NGX_DECLINED) {
            return ngx_bedrock_invalid(ctx,
                ngx_bedrock_param(ctx, "messages[%ui].tool_calls[%ui]"
                                  ".function.arguments", i, j),
                "function.arguments is not valid JSON (%V)", &error);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_chat_inference(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *root)
{
    char                *name;
    double               d;
    ngx_int_t            n;
    ngx_str_t           *seq;
    ngx_bedrock_json_t  *max, *temp, *top_p, *stop, *s;

    name = "max_completion_tokens";
    max = ngx_bedrock_json_get(root, name);

    if (ngx_bedrock_json_is_null(max)) {
        name = "max_tokens";
        max = ngx_bedrock_json_get(root, name);
    }

    if (!ngx_bedrock_json_is_null(max)
        && (ngx_bedrock_json_int(max, &n) != NGX_OK || n < 1))
    {
        return ngx_bedrock_invalid(ctx, ngx_bedrock_param(ctx, name),
                                   "%s must be a positive integer", name);
    }

    temp = ngx_bedrock_json_get(root, "temperature");

    if (!ngx_bedrock_json_is_null(temp)
        && (ngx_bedrock_json_double(temp, &d) != NGX_OK || d < 0 || d > 2))
    {
        return ngx_bedrock_invalid(ctx,
                                   ngx_bedrock_param(ctx, "temperature"),
                                   "temperature must be a number between 0 "
                                   "and 2");
    }

    top_p = ngx_bedrock_json_get(root, "top_p");

    if (!ngx_bedrock_json_is_null(top_p)
        && (ngx_bedrock_json_double(top_p, &d) != NGX_OK || d < 0 || d > 1))
    {
        return ngx_bedrock_invalid(ctx, ngx_bedrock_param(ctx, "top_p"),
                                   "top_p must be a number between 0 and 1");
    }

    stop = ngx_bedrock_json_get(root, "stop");

    if (!ngx_bedrock_json_is_null(stop)) {

        if (stop->type == NGX_BEDROCK_JSON_ARRAY) {
            for (s = stop->child; s; s = s->next) {
                if (s->type != NGX_BEDROCK_JSON_STRING) {
                    break;
                }
            }

        } else {
            s = (stop->type == NGX_BEDROCK_JSON_STRING) ? NULL : stop;
        }

        if (s != NULL) {
            return ngx_bedrock_invalid(ctx, ngx_bedrock_param(ctx, "stop"),
                                       "stop must be a string or an array "
                                       "of strings");
        }
    }

    if (!ngx_bedrock_json_is_null(max)) {
        ctx->conv.max_tokens = max->value;
    }

    if (!ngx_bedrock_json_is_null(temp)) {

        /* OpenAI's range is 0..2, Bedrock's is 0..1: clamp */

        (void) ngx_bedrock_json_double(temp, &d);

        if (d > 1) {
            ngx_str_set(&ctx->conv.temperature, "1");

        } else {
            ctx->conv.temperature = temp->value;
        }
    }

    if (!ngx_bedrock_json_is_null(top_p)) {
        ctx->conv.top_p = top_p->value;
    }

    if (ngx_bedrock_json_is_null(stop)) {
        return NGX_OK;
    }

    for (s = (stop->type == NGX_BEDROCK_JSON_STRING) ? stop : stop->child;
         s;
         s = (stop->type == NGX_BEDROCK_JSON_STRING) ? NULL : s->next)
    {
        if (s->value.len == 0) {
            continue;
        }

        seq = ngx_array_push(&ctx->conv.stop);
        if (seq == NULL) {
            return NGX_ERROR;
        }

        *seq = s->value;
    }

    return NGX_OK;
}


/*
 * response_format: "text" and "json_object" (Bedrock has no JSON mode:
 * the prompt must ask for it) as they are, "json_schema" as Converse's
 * outputConfig.textFormat
 */

static ngx_int_t
ngx_bedrock_chat_format(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *format)
{
    ngx_bedrock_json_t  *type, *js, *schema, *name, *desc;

    if (ngx_bedrock_json_is_null(format)) {
        return NGX_OK;
    }

    type = ngx_bedrock_json_get(format, "type");

    if (format->type != NGX_BEDROCK_JSON_OBJECT
        || ngx_bedrock_json_is_str(type, "text")
        || ngx_bedrock_json_is_str(type, "json_object"))
    {
        if (format->type == NGX_BEDROCK_JSON_OBJECT) {
            return NGX_OK;
        }

        return ngx_bedrock_invalid(ctx,
                                   ngx_bedrock_param(ctx, "response_format"),
                                   "response_format must be an object");
    }

    if (!ngx_bedrock_json_is_str(type, "json_schema")) {
        return ngx_bedrock_invalid(ctx,
                              ngx_bedrock_param(ctx, "response_format.type"),
                              "response_format.type must be 'text', "
                              "'json_object' or 'json_schema'");
    }

    js = ngx_bedrock_json_get(format, "json_schema");
    schema = ngx_bedrock_json_get(js, "schema");
    name = ngx_bedrock_json_get(js, "name");
    desc = ngx_bedrock_json_get(js, "description");

    if (js == NULL || js->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_invalid(ctx,
                       ngx_bedrock_param(ctx, "response_format.json_schema"),
                       "a json_schema response_format needs a json_schema "
                       "object");
    }

    if (name == NULL || name->type != NGX_BEDROCK_JSON_STRING
        || name->value.len == 0)
    {
        return ngx_bedrock_invalid(ctx,
                  ngx_bedrock_param(ctx, "response_format.json_schema.name"),
                  "json_schema.name must be a non-empty string");
    }

    if (schema == NULL || schema->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_invalid(ctx,
                ngx_bedrock_param(ctx, "response_format.json_schema.schema"),
                "json_schema.schema must be a JSON Schema object: Bedrock "
                "needs the schema");
    }

    if (!ngx_bedrock_json_is_null(desc)
        && desc->type != NGX_BEDROCK_JSON_STRING)
    {
        return ngx_bedrock_invalid(ctx,
                          ngx_bedrock_param(ctx, "response_format.json_schema"
                                            ".description"),
                          "json_schema.description must be a string");
    }

    if (ngx_bedrock_json_serialize(ctx->pool, schema, &ctx->conv.schema)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->conv.schema_name = name->value;

    if (!ngx_bedrock_json_is_null(desc)) {
        ctx->conv.schema_description = desc->value;
    }

    return NGX_OK;
}


/* response_format, reasoning_effort and service_tier */

static ngx_int_t
ngx_bedrock_chat_extra(ngx_bedrock_chat_ctx_t *ctx, ngx_bedrock_json_t *root,
    ngx_str_t *id, ngx_uint_t claude)
{
    ngx_int_t            rc;
    ngx_bedrock_json_t  *v;

    rc = ngx_bedrock_chat_format(ctx,
                                 ngx_bedrock_json_get(root, "response_format"));
    if (rc != NGX_OK) {
        return rc;
    }

    v = ngx_bedrock_json_get(root, "reasoning_effort");

    if (!ngx_bedrock_json_is_null(v)) {
        rc = NGX_ABORT;

        if (v->type == NGX_BEDROCK_JSON_STRING) {
            rc = ngx_bedrock_converse_effort(&ctx->conv, &v->value, id,
                                             claude);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_ABORT) {
            return ngx_bedrock_invalid(ctx,
                                   ngx_bedrock_param(ctx, "reasoning_effort"),
                                   "reasoning_effort must be 'none', "
                                   "'minimal', 'low', 'medium', 'high', "
                                   "'xhigh' or 'max'");
        }

        /* NGX_DECLINED: the model family has no reasoning setting */
    }

    v = ngx_bedrock_json_get(root, "service_tier");

    if (!ngx_bedrock_json_is_null(v)
        && (v->type != NGX_BEDROCK_JSON_STRING
            || ngx_bedrock_converse_service_tier(&ctx->conv, &v->value)
               != NGX_OK))
    {
        return ngx_bedrock_invalid(ctx,
                                   ngx_bedrock_param(ctx, "service_tier"),
                                   "service_tier must be 'auto', 'default', "
                                   "'flex' or 'priority'");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_chat_tools(ngx_bedrock_chat_ctx_t *ctx, ngx_bedrock_json_t *tools,
    ngx_bedrock_json_t *choice)
{
    ngx_int_t            rc;
    ngx_str_t            forced, ttl;
    ngx_uint_t           i, any, none, autom, has_tools;
    ngx_bedrock_json_t  *t, *type, *fn, *fname, *desc, *params, *allowed;
    ngx_bedrock_json_t  *mode, *strict;
    ngx_bedrock_tool_t  *tool;

    any = 0;
    none = 0;
    autom = 0;
    allowed = NULL;
    ngx_str_null(&forced);

    if (!ngx_bedrock_json_is_null(tools)
        && (tools->type != NGX_BEDROCK_JSON_ARRAY))
    {
        return ngx_bedrock_invalid(ctx, ngx_bedrock_param(ctx, "tools"),
                                   "tools must be an array");
    }

    has_tools = !ngx_bedrock_json_is_null(tools) && tools->n > 0;

    if (has_tools && tools->n > NGX_BEDROCK_TOOLS_MAX) {
        return ngx_bedrock_invalid(ctx, ngx_bedrock_param(ctx, "tools"),
                                   "at most %d tools are allowed",
                                   NGX_BEDROCK_TOOLS_MAX);
    }

    /* validate every tool first */

    for (t = has_tools ? tools->child : NULL, i = 0; t; t = t->next, i++) {
        type = ngx_bedrock_json_get(t, "type");
        fn = ngx_bedrock_json_get(t, "function");
        fname = ngx_bedrock_json_get(fn, "name");
        desc = ngx_bedrock_json_get(fn, "description");
        params = ngx_bedrock_json_get(fn, "parameters");
        strict = ngx_bedrock_json_get(fn, "strict");

        if (type == NULL || type->type != NGX_BEDROCK_JSON_STRING
            || type->value.len != 8
            || ngx_strncmp(type->value.data, "function", 8) != 0)
        {
            return ngx_bedrock_invalid(ctx,
                                 ngx_bedrock_param(ctx, "tools[%ui].type", i),
                                 "only function tools are supported");
        }

        if (fname == NULL || fname->type != NGX_BEDROCK_JSON_STRING
            || fname->value.len == 0
            || (!ngx_bedrock_json_is_null(desc)
                && desc->type != NGX_BEDROCK_JSON_STRING)
            || (!ngx_bedrock_json_is_null(params)
                && params->type != NGX_BEDROCK_JSON_OBJECT)
            || (!ngx_bedrock_json_is_null(strict)
                && strict->type != NGX_BEDROCK_JSON_TRUE
                && strict->type != NGX_BEDROCK_JSON_FALSE))
        {
            return ngx_bedrock_invalid(ctx,
                             ngx_bedrock_param(ctx, "tools[%ui].function", i),
                             "a function tool needs a string name, an "
                             "optional string description, an optional "
                             "object of parameters and an optional boolean "
                             "strict");
        }

        rc = ngx_bedrock_chat_cache(ctx, t, &ttl, "tools[%ui].cache_control",
                                    i, 0);
        if (rc != NGX_OK && rc != NGX_DONE) {
            return rc;
        }
    }

    /* tool_choice */

    if (!ngx_bedrock_json_is_null(choice)) {

        if (choice->type == NGX_BEDROCK_JSON_STRING) {

            if (choice->value.len == 4
                && ngx_strncmp(choice->value.data, "none", 4) == 0)
            {
                none = 1;

            } else if (choice->value.len == 8
                       && ngx_strncmp(choice->value.data, "required", 8) == 0)
            {
                any = 1;

            } else if (choice->value.len == 4
                       && ngx_strncmp(choice->value.data, "auto", 4) == 0)
            {
                autom = 1;

            } else {
                return ngx_bedrock_invalid(ctx,
                                    ngx_bedrock_param(ctx, "tool_choice"),
                                    "tool_choice must be 'none', 'auto', "
                                    "'required' or an object");
            }

        } else {
            type = ngx_bedrock_json_get(choice, "type");

            if (type && type->type == NGX_BEDROCK_JSON_STRING
                && type->value.len == 8
                && ngx_strncmp(type->value.data, "function", 8) == 0)
            {
                fname = ngx_bedrock_json_get(
                            ngx_bedrock_json_get(choice, "function"), "name");

                if (fname == NULL || fname->type != NGX_BEDROCK_JSON_STRING) {
                    return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "tool_choice.function.name must be "
                                       "a string");
                }

                forced = fname->value;

            } else if (type && type->type == NGX_BEDROCK_JSON_STRING
                       && type->value.len == 13
                       && ngx_strncmp(type->value.data, "allowed_tools", 13)
                          == 0)
            {
                allowed = ngx_bedrock_json_get(
                              ngx_bedrock_json_get(choice, "allowed_tools"),
                              "tools");
                mode = ngx_bedrock_json_get(
                           ngx_bedrock_json_get(choice, "allowed_tools"),
                           "mode");

                if (allowed == NULL || allowed->type != NGX_BEDROCK_JSON_ARRAY
                    || allowed->n > NGX_BEDROCK_TOOLS_MAX
                    || mode == NULL || mode->type != NGX_BEDROCK_JSON_STRING)
                {
                    return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "allowed_tools needs a mode and an "
                                       "array of tools");
                }

                any = ngx_bedrock_json_is_str(mode, "required");
                autom = !any;

            } else {
                return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "tool_choice must be 'none', 'auto', "
                                       "'required', a function or "
                                       "allowed_tools");
            }
        }

        if (!has_tools && (any || forced.data || allowed)) {
            return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "tool_choice requires tools");
        }
    }

    if (forced.data) {
        for (t = tools->child; t; t = t->next) {
            fname = ngx_bedrock_json_get(ngx_bedrock_json_get(t, "function"),
                                         "name");
            if (fname->value.len == forced.len
                && ngx_strncmp(fname->value.data, forced.data, forced.len)
                   == 0)
            {
                break;
            }
        }

        if (t == NULL) {
            return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "tool_choice names the function "
                                       "'%V', which is not in tools",
                                       &forced);
        }
    }

    /* Converse has no "none": the tools are left out */

    if (none || !has_tools) {
        return NGX_OK;
    }

    if (allowed) {
        for (t = tools->child; t; t = t->next) {
            fname = ngx_bedrock_json_get(ngx_bedrock_json_get(t, "function"),
                                         "name");

            rc = ngx_bedrock_chat_tool_allowed(ctx, allowed, &fname->value);

            if (rc == NGX_OK) {
                break;
            }

            if (rc != NGX_DONE) {
                return rc;
            }
        }

        if (t == NULL) {
            return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "allowed_tools names none of the "
                                       "tools");
        }
    }

    for (t = tools->child; t; t = t->next) {
        fn = ngx_bedrock_json_get(t, "function");
        fname = ngx_bedrock_json_get(fn, "name");
        desc = ngx_bedrock_json_get(fn, "description");
        params = ngx_bedrock_json_get(fn, "parameters");

        if (allowed
            && ngx_bedrock_chat_tool_allowed(ctx, allowed, &fname->value)
               != NGX_OK)
        {
            continue;
        }

        tool = ngx_bedrock_converse_tool(&ctx->conv, &fname->value);
        if (tool == NULL) {
            return NGX_ERROR;
        }

        if (!ngx_bedrock_json_is_null(desc)) {
            tool->description = desc->value;
        }

        if (!ngx_bedrock_json_is_null(params)) {
            tool->schema = params;
        }

        strict = ngx_bedrock_json_get(fn, "strict");
        tool->strict = (strict && strict->type == NGX_BEDROCK_JSON_TRUE);

        if (ngx_bedrock_chat_cache(ctx, t, &ttl, "tools", 0, 0) == NGX_OK) {
            tool->cache = 1;
            tool->cache_ttl = ttl;
        }
    }

    if (forced.data) {
        ctx->conv.tool_choice = NGX_BEDROCK_CHOICE_TOOL;
        ctx->conv.tool_name = forced;

    } else if (any) {
        ctx->conv.tool_choice = NGX_BEDROCK_CHOICE_ANY;

    } else if (autom) {
        ctx->conv.tool_choice = NGX_BEDROCK_CHOICE_AUTO;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_chat_tool_allowed(ngx_bedrock_chat_ctx_t *ctx,
    ngx_bedrock_json_t *allowed, ngx_str_t *name)
{
    ngx_bedrock_json_t  *t, *fname;

    for (t = allowed->child; t; t = t->next) {
        fname = ngx_bedrock_json_get(ngx_bedrock_json_get(t, "function"),
                                     "name");

        if (fname == NULL || fname->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_invalid(ctx,
                                       ngx_bedrock_param(ctx, "tool_choice"),
                                       "allowed_tools entries need "
                                       "function.name");
        }

        if (fname->value.len == name->len
            && ngx_strncmp(fname->value.data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DONE;
}




/* Converse response to chat.completion */

ngx_int_t
ngx_bedrock_chat_response(ngx_pool_t *pool, ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_chat_response_t *resp)
{
    ngx_int_t                 rc;
    ngx_str_t                 args, *text;
    ngx_uint_t                i;
    ngx_bedrock_jw_t          w;
    ngx_bedrock_json_t       *v;
    ngx_bedrock_answer_t      a;
    ngx_bedrock_tool_call_t  *call;

    rc = ngx_bedrock_converse_answer(temp, data, len, &a);
    if (rc != NGX_OK) {
        return rc;
    }

    resp->stop_reason = a.stop_reason;
    resp->usage = a.usage;

    if (ngx_bedrock_str_copy(pool, &resp->stop_reason) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_jw_init(&w, temp, len + 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "id");
    ngx_bedrock_jw_str(&w, &resp->id);
    ngx_bedrock_jw_key(&w, "object");
    ngx_bedrock_jw_cstr(&w, "chat.completion");
    ngx_bedrock_jw_key(&w, "created");
    ngx_bedrock_jw_int(&w, (ngx_int_t) resp->created);
    ngx_bedrock_jw_key(&w, "model");
    ngx_bedrock_jw_str(&w, &resp->model);

    ngx_bedrock_jw_key(&w, "choices");
    ngx_bedrock_jw_arr(&w);
    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "index");
    ngx_bedrock_jw_int(&w, 0);

    ngx_bedrock_jw_key(&w, "message");
    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "role");
    ngx_bedrock_jw_cstr(&w, "assistant");
    ngx_bedrock_jw_key(&w, "content");

    text = &a.text;

    if (text->data == NULL && a.calls.nelts) {
        ngx_bedrock_jw_null(&w);

    } else {
        if (text->data == NULL) {
            ngx_str_set(text, "");
        }

        ngx_bedrock_jw_str(&w, text);
    }

    ngx_bedrock_jw_key(&w, "refusal");
    ngx_bedrock_jw_null(&w);

    if (a.reasoning.data) {
        ngx_bedrock_jw_key(&w, "reasoning_content");
        ngx_bedrock_jw_str(&w, &a.reasoning);
    }

    ngx_bedrock_chat_thinking_json(&w, &a);

    if (a.calls.nelts) {
        ngx_bedrock_jw_key(&w, "tool_calls");
        ngx_bedrock_jw_arr(&w);

        call = a.calls.elts;

        for (i = 0; i < a.calls.nelts; i++) {
            v = call[i].input;

            if (v == NULL) {
                ngx_str_set(&args, "{}");

            } else if (ngx_bedrock_json_serialize(temp, v, &args) != NGX_OK) {
                return NGX_ERROR;
            }

            ngx_bedrock_jw_obj(&w);
            ngx_bedrock_jw_key(&w, "id");
            ngx_bedrock_jw_str(&w, &call[i].id);
            ngx_bedrock_jw_key(&w, "type");
            ngx_bedrock_jw_cstr(&w, "function");
            ngx_bedrock_jw_key(&w, "function");
            ngx_bedrock_jw_obj(&w);
            ngx_bedrock_jw_key(&w, "name");
            ngx_bedrock_jw_str(&w, &call[i].name);
            ngx_bedrock_jw_key(&w, "arguments");
            ngx_bedrock_jw_str(&w, &args);
            ngx_bedrock_jw_obj_end(&w);
            ngx_bedrock_jw_obj_end(&w);
        }

        ngx_bedrock_jw_arr_end(&w);
    }

    ngx_bedrock_jw_obj_end(&w);

    ngx_bedrock_jw_key(&w, "logprobs");
    ngx_bedrock_jw_null(&w);
    ngx_bedrock_jw_key(&w, "finish_reason");
    ngx_bedrock_jw_cstr(&w, ngx_bedrock_finish_reason(&resp->stop_reason));
    ngx_bedrock_jw_obj_end(&w);
    ngx_bedrock_jw_arr_end(&w);

    ngx_bedrock_jw_key(&w, "usage");
    ngx_bedrock_usage_json(&w, &resp->usage);

    ngx_bedrock_jw_key(&w, "system_fingerprint");
    ngx_bedrock_jw_null(&w);
    ngx_bedrock_jw_obj_end(&w);

    rc = ngx_bedrock_jw_finish(&w, &resp->body);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_bedrock_str_copy(pool, &resp->body);
}


/*
 * OpenAI's usage object: Bedrock counts cache reads and writes apart from
 * inputTokens, OpenAI's prompt_tokens include them
 */

void
ngx_bedrock_usage_json(ngx_bedrock_jw_t *w, ngx_bedrock_usage_t *u)
{
    ngx_int_t  prompt;

    prompt = ngx_bedrock_sum(ngx_bedrock_sum(u->input, u->cache_read),
                             u->cache_write);

    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "prompt_tokens");
    ngx_bedrock_jw_int(w, prompt);
    ngx_bedrock_jw_key(w, "completion_tokens");
    ngx_bedrock_jw_int(w, u->output);
    ngx_bedrock_jw_key(w, "total_tokens");
    ngx_bedrock_jw_int(w, ngx_bedrock_sum(prompt, u->output));
    ngx_bedrock_jw_key(w, "prompt_tokens_details");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "cached_tokens");
    ngx_bedrock_jw_int(w, u->cache_read);
    ngx_bedrock_jw_key(w, "cache_write_tokens");
    ngx_bedrock_jw_int(w, u->cache_write);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_obj_end(w);
}


/*
 * "thinking_blocks": the reasoning as a client sends it back, each block
 * with its signature, and the redacted ones; none without reasoning
 */

static void
ngx_bedrock_chat_thinking_json(ngx_bedrock_jw_t *w, ngx_bedrock_answer_t *a)
{
    ngx_uint_t            i, n;
    ngx_bedrock_block_t  *b;

    b = a->blocks.elts;
    n = 0;

    for (i = 0; i < a->blocks.nelts; i++) {
        if (b[i].kind != NGX_BEDROCK_BLOCK_REASONING
            && b[i].kind != NGX_BEDROCK_BLOCK_REDACTED)
        {
            continue;
        }

        if (n++ == 0) {
            ngx_bedrock_jw_key(w, "thinking_blocks");
            ngx_bedrock_jw_arr(w);
        }

        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");

        if (b[i].kind == NGX_BEDROCK_BLOCK_REDACTED) {
            ngx_bedrock_jw_cstr(w, "redacted_thinking");
            ngx_bedrock_jw_key(w, "data");
            ngx_bedrock_jw_str(w, &b[i].text);

        } else {
            ngx_bedrock_jw_cstr(w, "thinking");
            ngx_bedrock_jw_key(w, "thinking");
            ngx_bedrock_jw_str(w, &b[i].text);

            if (b[i].id.len) {
                ngx_bedrock_jw_key(w, "signature");
                ngx_bedrock_jw_str(w, &b[i].id);
            }
        }

        ngx_bedrock_jw_obj_end(w);
    }

    if (n) {
        ngx_bedrock_jw_arr_end(w);
    }
}


char *
ngx_bedrock_finish_reason(ngx_str_t *stop_reason)
{
    ngx_uint_t  i;

    static struct {
        ngx_str_t   stop_reason;
        char       *finish_reason;
    } map[] = {
        { ngx_string("end_turn"), "stop" },
        { ngx_string("stop_sequence"), "stop" },
        { ngx_string("max_tokens"), "length" },
        { ngx_string("model_context_window_exceeded"), "length" },
        { ngx_string("tool_use"), "tool_calls" },
        { ngx_string("malformed_tool_use"), "tool_calls" },
        { ngx_string("guardrail_intervened"), "content_filter" },
        { ngx_string("content_filtered"), "content_filter" },
        { ngx_null_string, NULL }
    };

    for (i = 0; map[i].finish_reason; i++) {
        if (map[i].stop_reason.len == stop_reason->len
            && ngx_strncmp(map[i].stop_reason.data, stop_reason->data,
                           stop_reason->len)
               == 0)
        {
            return map[i].finish_reason;
        }
    }

    /* malformed_model_output and reasons added later */

    return "stop";
}


static ngx_int_t
ngx_bedrock_invalid(ngx_bedrock_chat_ctx_t *ctx, ngx_str_t *param,
    const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_bedrock_error_invalid(ctx->out, ctx->err, param, fmt, args);
    va_end(args);

    return rc;
}


static ngx_str_t *
ngx_bedrock_param(ngx_bedrock_chat_ctx_t *ctx, const char *fmt, ...)
{
    va_list     args;
    ngx_str_t  *param;

    va_start(args, fmt);
    param = ngx_bedrock_error_param(ctx->out, fmt, args);
    va_end(args);

    return param;
}
