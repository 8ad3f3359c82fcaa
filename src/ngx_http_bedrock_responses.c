
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_responses.h"
#include "ngx_http_bedrock_media.h"


#define NGX_BEDROCK_RESPONSES_BODY_MAX  (64 * 1024 * 1024)

/* JSON values one request may hold (each costs a node in the pool) */
#define NGX_BEDROCK_RESPONSES_VALUES    (256 * 1024)

/* OpenAI's own limit */
#define NGX_BEDROCK_RESPONSES_TOOLS     128

/* how a redacted reasoning rides in encrypted_content */
#define NGX_BEDROCK_REDACTED            "redacted:"


typedef struct {
    ngx_pool_t               *pool;     /* the parse: freed by the caller */
    ngx_pool_t               *out;      /* what outlives the call */
    ngx_pool_t               *scratch;  /* one arguments parse at a time */
    ngx_bedrock_json_opts_t   jo;
    ngx_bedrock_error_t      *err;
    ngx_bedrock_converse_t    conv;
    ngx_uint_t                budget;   /* JSON values left */
    ngx_uint_t                image_fetch;  /* http(s) image URLs taken */
} ngx_bedrock_responses_ctx_t;


static ngx_int_t ngx_bedrock_responses_invalid(
    ngx_bedrock_responses_ctx_t *ctx, ngx_str_t *param, const char *fmt, ...);
static ngx_str_t *ngx_bedrock_responses_param(
    ngx_bedrock_responses_ctx_t *ctx, const char *fmt, ...);
static ngx_int_t ngx_bedrock_responses_input(
    ngx_bedrock_responses_ctx_t *ctx, ngx_bedrock_json_t *input);
static ngx_int_t ngx_bedrock_responses_message(
    ngx_bedrock_responses_ctx_t *ctx, ngx_bedrock_json_t *item,
    ngx_uint_t i);
static ngx_int_t ngx_bedrock_responses_part(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *part, ngx_uint_t assistant, ngx_uint_t i,
    ngx_uint_t j);
static ngx_int_t ngx_bedrock_responses_file(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *part, ngx_uint_t image, ngx_uint_t i, ngx_uint_t j);
static ngx_int_t ngx_bedrock_responses_image_url(
    ngx_bedrock_responses_ctx_t *ctx, ngx_str_t *url, ngx_uint_t i,
    ngx_uint_t j);
static ngx_int_t ngx_bedrock_responses_call(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *item, ngx_uint_t i);
static ngx_int_t ngx_bedrock_responses_result(
    ngx_bedrock_responses_ctx_t *ctx, ngx_bedrock_json_t *item,
    ngx_uint_t i);
static ngx_int_t ngx_bedrock_responses_reasoning(
    ngx_bedrock_responses_ctx_t *ctx, ngx_bedrock_json_t *item,
    ngx_uint_t i);
static ngx_int_t ngx_bedrock_responses_texts(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *list, ngx_str_t *out);
static ngx_int_t ngx_bedrock_responses_tools(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *tools, ngx_bedrock_json_t *choice);
static ngx_bedrock_json_t *ngx_bedrock_responses_find_tool(
    ngx_bedrock_json_t *tools, ngx_str_t *name);
static ngx_int_t ngx_bedrock_responses_inference(
    ngx_bedrock_responses_ctx_t *ctx, ngx_bedrock_json_t *root);
static ngx_int_t ngx_bedrock_responses_format(
    ngx_bedrock_responses_ctx_t *ctx, ngx_bedrock_json_t *text);

static ngx_int_t ngx_bedrock_responses_item_id(
    ngx_bedrock_responses_stream_t *st, ngx_pool_t *pool, char *prefix,
    ngx_str_t *id);
static char *ngx_bedrock_responses_incomplete(ngx_str_t *stop_reason);
static void ngx_bedrock_responses_object(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, char *status, ngx_str_t *stop_reason,
    ngx_bedrock_usage_t *usage, ngx_bedrock_error_t *err);
static void ngx_bedrock_responses_item(ngx_bedrock_jw_t *w,
    ngx_bedrock_item_t *item, ngx_uint_t done);
static void ngx_bedrock_responses_usage(ngx_bedrock_jw_t *w,
    ngx_bedrock_usage_t *u);
static void ngx_bedrock_responses_begin(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, char *type);
static void ngx_bedrock_responses_ids(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_uint_t content);
static ngx_int_t ngx_bedrock_responses_start(
    ngx_bedrock_responses_stream_t *st, ngx_bedrock_jw_t *w);
static ngx_int_t ngx_bedrock_responses_open(
    ngx_bedrock_responses_stream_t *st, ngx_bedrock_jw_t *w,
    ngx_bedrock_item_kind_e kind, ngx_bedrock_event_t *ev);
static ngx_int_t ngx_bedrock_responses_close(
    ngx_bedrock_responses_stream_t *st, ngx_bedrock_jw_t *w);
static ngx_int_t ngx_bedrock_responses_append(ngx_array_t *a, ngx_str_t *s);
static void ngx_bedrock_responses_delta(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, char *type, ngx_str_t *delta);
static ngx_int_t ngx_bedrock_responses_final(
    ngx_bedrock_responses_stream_t *st, ngx_bedrock_events_t *es,
    ngx_bedrock_jw_t *w);


/*
 * The tree, the turns and the writer's buffer live in "temp", which the
 * caller destroys once the call returns; the model, the Converse body and
 * the error are copied to "pool".
 */

ngx_int_t
ngx_bedrock_responses_request(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_responses_request_t *req,
    ngx_bedrock_error_t *err)
{
    ngx_int_t                     rc, n;
    ngx_str_t                     error, id;
    ngx_uint_t                    claude;
    ngx_bedrock_jw_t              w;
    ngx_bedrock_json_t           *root, *v, *effort;
    ngx_bedrock_block_t          *b;
    ngx_bedrock_responses_ctx_t   ctx;

    ngx_memzero(&ctx, sizeof(ngx_bedrock_responses_ctx_t));
    ctx.pool = temp;
    ctx.out = pool;
    ctx.err = err;
    ctx.budget = NGX_BEDROCK_RESPONSES_VALUES;
    ctx.image_fetch = req->conf.image_fetch;

    if (memchr(data, '\0', len) != NULL) {
        return ngx_bedrock_responses_invalid(&ctx, NULL,
                                             "We could not parse the JSON "
                                             "body of your request: it "
                                             "contains a NUL byte.");
    }

    ctx.jo.pool = temp;
    ctx.jo.budget = &ctx.budget;
    ctx.jo.strict = 1;

    rc = ngx_bedrock_json_parse_opts(&ctx.jo, data, len, &root, &error);

    if (rc == NGX_ABORT) {
        return ngx_bedrock_responses_invalid(&ctx, NULL,
                                             "The request body is not valid "
                                             "UTF-8: it must be UTF-8 "
                                             "JSON.");
    }

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_responses_invalid(&ctx, NULL,
                                             "We could not parse the JSON "
                                             "body of your request (%V).",
                                             &error);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_responses_invalid(&ctx, NULL,
                                             "The request body must be a "
                                             "JSON object.");
    }

    /* model: one outside the allowlist is refused before any other work */

    v = ngx_bedrock_json_get(root, "model");

    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0)
    {
        return ngx_bedrock_responses_invalid(&ctx,
                               ngx_bedrock_responses_param(&ctx, "model"),
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

    v = ngx_bedrock_json_get(root, "stream");

    if (!ngx_bedrock_json_is_null(v)) {
        if (v->type != NGX_BEDROCK_JSON_TRUE
            && v->type != NGX_BEDROCK_JSON_FALSE)
        {
            return ngx_bedrock_responses_invalid(&ctx,
                               ngx_bedrock_responses_param(&ctx, "stream"),
                               "stream must be a boolean");
        }

        req->stream = (v->type == NGX_BEDROCK_JSON_TRUE);
    }

    /* stateless: what needs a stored response or conversation is refused */

    if (!ngx_bedrock_json_is_null(ngx_bedrock_json_get(root,
                                                       "previous_response_id")))
    {
        return ngx_bedrock_responses_invalid(&ctx,
                  ngx_bedrock_responses_param(&ctx, "previous_response_id"),
                  "This gateway stores no responses: previous_response_id "
                  "is not supported. Send the whole conversation in input "
                  "(store: false).");
    }

    if (!ngx_bedrock_json_is_null(ngx_bedrock_json_get(root, "conversation")))
    {
        return ngx_bedrock_responses_invalid(&ctx,
                  ngx_bedrock_responses_param(&ctx, "conversation"),
                  "This gateway stores no conversations: send the whole "
                  "conversation in input.");
    }

    v = ngx_bedrock_json_get(root, "background");

    if (v && v->type == NGX_BEDROCK_JSON_TRUE) {
        return ngx_bedrock_responses_invalid(&ctx,
                  ngx_bedrock_responses_param(&ctx, "background"),
                  "Background responses need stored responses, which this "
                  "gateway does not keep.");
    }

    v = ngx_bedrock_json_get(root, "top_logprobs");

    if (!ngx_bedrock_json_is_null(v)
        && (ngx_bedrock_json_int(v, &n) != NGX_OK || n != 0))
    {
        return ngx_bedrock_responses_invalid(&ctx,
                  ngx_bedrock_responses_param(&ctx, "top_logprobs"),
                  "logprobs are not available from Bedrock Converse.");
    }

    if (ngx_bedrock_converse_init(&ctx.conv, temp, 4) != NGX_OK) {
        return NGX_ERROR;
    }

    v = ngx_bedrock_json_get(root, "instructions");

    if (!ngx_bedrock_json_is_null(v)) {
        if (v->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_responses_invalid(&ctx,
                          ngx_bedrock_responses_param(&ctx, "instructions"),
                          "instructions must be a string");
        }

        if (v->value.len) {
            b = ngx_bedrock_converse_system(&ctx.conv, NGX_BEDROCK_BLOCK_TEXT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = v->value;
        }
    }

    rc = ngx_bedrock_responses_input(&ctx, ngx_bedrock_json_get(root,
                                                                "input"));
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_responses_inference(&ctx, root);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_responses_tools(&ctx, ngx_bedrock_json_get(root, "tools"),
                                     ngx_bedrock_json_get(root,
                                                          "tool_choice"));
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_responses_format(&ctx, ngx_bedrock_json_get(root,
                                                                 "text"));
    if (rc != NGX_OK) {
        return rc;
    }

    v = ngx_bedrock_json_get(root, "reasoning");
    effort = ngx_bedrock_json_get(v, "effort");

    if (!ngx_bedrock_json_is_null(v) && v->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_responses_invalid(&ctx,
                               ngx_bedrock_responses_param(&ctx, "reasoning"),
                               "reasoning must be an object");
    }

    if (!ngx_bedrock_json_is_null(effort)) {
        rc = NGX_ABORT;

        if (effort->type == NGX_BEDROCK_JSON_STRING) {
            rc = ngx_bedrock_converse_effort(&ctx.conv, &effort->value, &id,
                                             claude);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_ABORT) {
            return ngx_bedrock_responses_invalid(&ctx,
                        ngx_bedrock_responses_param(&ctx, "reasoning.effort"),
                        "reasoning.effort must be 'none', 'minimal', 'low', "
                        "'medium', 'high', 'xhigh' or 'max'");
        }

        /* NGX_DECLINED: the model family has no reasoning setting */
    }

    v = ngx_bedrock_json_get(root, "service_tier");

    if (!ngx_bedrock_json_is_null(v)
        && (v->type != NGX_BEDROCK_JSON_STRING
            || ngx_bedrock_converse_service_tier(&ctx.conv, &v->value)
               != NGX_OK))
    {
        return ngx_bedrock_responses_invalid(&ctx,
                            ngx_bedrock_responses_param(&ctx, "service_tier"),
                            "service_tier must be 'auto', 'default', 'flex' "
                            "or 'priority'");
    }

    if (ngx_bedrock_converse_conf(&ctx.conv, &req->conf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the Converse request */

    if (ngx_bedrock_jw_init(&w, temp, len + 256,
                            NGX_BEDROCK_RESPONSES_BODY_MAX)
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

    rc = ngx_bedrock_jw_copy(&w, pool, &req->body);

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_responses_invalid(&ctx, NULL,
                                             "The request is too large.");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_bedrock_converse_images(&ctx.conv, pool, &req->images);
}


/* "input": a string (one user message) or a list of items */

static ngx_int_t
ngx_bedrock_responses_input(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *input)
{
    ngx_int_t             rc;
    ngx_uint_t            i;
    ngx_bedrock_json_t   *item, *type;
    ngx_bedrock_block_t  *b;

    if (input && input->type == NGX_BEDROCK_JSON_STRING) {
        if (input->value.len) {
            b = ngx_bedrock_converse_block(&ctx->conv, 0,
                                           NGX_BEDROCK_BLOCK_TEXT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = input->value;
        }

    } else if (input && input->type == NGX_BEDROCK_JSON_ARRAY) {

        for (item = input->child, i = 0; item; item = item->next, i++) {

            if (item->type != NGX_BEDROCK_JSON_OBJECT) {
                return ngx_bedrock_responses_invalid(ctx,
                             ngx_bedrock_responses_param(ctx, "input[%ui]", i),
                             "each input item must be an object");
            }

            type = ngx_bedrock_json_get(item, "type");

            if (ngx_bedrock_json_is_null(type)
                || ngx_bedrock_json_is_str(type, "message"))
            {
                rc = ngx_bedrock_responses_message(ctx, item, i);

            } else if (ngx_bedrock_json_is_str(type, "function_call")) {
                rc = ngx_bedrock_responses_call(ctx, item, i);

            } else if (ngx_bedrock_json_is_str(type, "function_call_output"))
            {
                rc = ngx_bedrock_responses_result(ctx, item, i);

            } else if (ngx_bedrock_json_is_str(type, "reasoning")) {
                rc = ngx_bedrock_responses_reasoning(ctx, item, i);

            } else if (ngx_bedrock_json_is_str(type, "item_reference")) {
                return ngx_bedrock_responses_invalid(ctx,
                        ngx_bedrock_responses_param(ctx, "input[%ui]", i),
                        "item_reference needs stored items, which this "
                        "gateway does not keep: send the items themselves");

            } else {
                return ngx_bedrock_responses_invalid(ctx,
                        ngx_bedrock_responses_param(ctx, "input[%ui].type",
                                                    i),
                        "input items of type '%V' are not supported; use "
                        "message, function_call, function_call_output or "
                        "reasoning",
                        (type->type == NGX_BEDROCK_JSON_STRING)
                        ? &type->value : &type->key);
            }

            if (rc != NGX_OK) {
                return rc;
            }
        }

    } else if (!ngx_bedrock_json_is_null(input)) {
        return ngx_bedrock_responses_invalid(ctx,
                               ngx_bedrock_responses_param(ctx, "input"),
                               "input must be a string or an array of items");
    }

    if (ctx->conv.turns.nelts == 0) {
        return ngx_bedrock_responses_invalid(ctx,
                               ngx_bedrock_responses_param(ctx, "input"),
                               "input must contain at least one message");
    }

    return NGX_OK;
}


/* a message item: user and assistant turns, system and developer texts */

static ngx_int_t
ngx_bedrock_responses_message(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *item, ngx_uint_t i)
{
    ngx_int_t             rc;
    ngx_uint_t            j, assistant, system;
    ngx_bedrock_json_t   *role, *content, *part, *text;
    ngx_bedrock_block_t  *b;

    role = ngx_bedrock_json_get(item, "role");
    content = ngx_bedrock_json_get(item, "content");

    system = ngx_bedrock_json_is_str(role, "system")
             || ngx_bedrock_json_is_str(role, "developer");
    assistant = ngx_bedrock_json_is_str(role, "assistant");

    if (!system && !assistant && !ngx_bedrock_json_is_str(role, "user")) {
        return ngx_bedrock_responses_invalid(ctx,
                      ngx_bedrock_responses_param(ctx, "input[%ui].role", i),
                      "role must be 'user', 'assistant', 'system' or "
                      "'developer'");
    }

    if (content && content->type == NGX_BEDROCK_JSON_STRING) {
        if (content->value.len == 0) {
            return NGX_OK;
        }

        b = system ? ngx_bedrock_converse_system(&ctx->conv,
                                                 NGX_BEDROCK_BLOCK_TEXT)
                   : ngx_bedrock_converse_block(&ctx->conv, assistant,
                                                NGX_BEDROCK_BLOCK_TEXT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = content->value;

        return NGX_OK;
    }

    if (content == NULL || content->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_responses_invalid(ctx,
                   ngx_bedrock_responses_param(ctx, "input[%ui].content", i),
                   "content must be a string or an array of parts");
    }

    for (part = content->child, j = 0; part; part = part->next, j++) {

        if (!system) {
            rc = ngx_bedrock_responses_part(ctx, part, assistant, i, j);
            if (rc != NGX_OK) {
                return rc;
            }

            continue;
        }

        text = ngx_bedrock_json_get(part, "text");

        if (text == NULL || text->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_responses_invalid(ctx,
                       ngx_bedrock_responses_param(ctx,
                                                   "input[%ui].content[%ui]",
                                                   i, j),
                       "system and developer messages take text parts only");
        }

        if (text->value.len) {
            b = ngx_bedrock_converse_system(&ctx->conv,
                                            NGX_BEDROCK_BLOCK_TEXT);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->text = text->value;
        }
    }

    return NGX_OK;
}


/* a part's parameter, written only for an error */

#define NGX_BEDROCK_PART_PARAM                                               \
    ngx_bedrock_responses_param(ctx, "input[%ui].content[%ui]", i, j)


static ngx_int_t
ngx_bedrock_responses_part(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *part, ngx_uint_t assistant, ngx_uint_t i,
    ngx_uint_t j)
{
    ngx_bedrock_json_t   *type, *text;
    ngx_bedrock_block_t  *b;

    type = ngx_bedrock_json_get(part, "type");
    text = ngx_bedrock_json_get(part, "text");

    if (ngx_bedrock_json_is_str(type, "input_text")
        || ngx_bedrock_json_is_str(type, "output_text")
        || ngx_bedrock_json_is_str(type, "refusal"))
    {
        if (ngx_bedrock_json_is_str(type, "refusal")) {
            text = ngx_bedrock_json_get(part, "refusal");
        }

        if (text == NULL || text->type != NGX_BEDROCK_JSON_STRING) {
            return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                                                 "a text part must have a "
                                                 "string text");
        }

        if (text->value.len == 0) {
            return NGX_OK;
        }

        b = ngx_bedrock_converse_block(&ctx->conv, assistant,
                                       NGX_BEDROCK_BLOCK_TEXT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text = text->value;

        return NGX_OK;
    }

    if (!assistant && ngx_bedrock_json_is_str(type, "input_image")) {
        return ngx_bedrock_responses_file(ctx, part, 1, i, j);
    }

    if (!assistant && ngx_bedrock_json_is_str(type, "input_file")) {
        return ngx_bedrock_responses_file(ctx, part, 0, i, j);
    }

    return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                                         "%s messages take %s parts",
                                         assistant ? "assistant" : "user",
                                         assistant ? "output_text and "
                                                     "refusal"
                                                   : "input_text, "
                                                     "input_image and "
                                                     "input_file");
}


/* input_image and input_file: inline data only, images and PDFs */

static ngx_int_t
ngx_bedrock_responses_file(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *part, ngx_uint_t image, ngx_uint_t i, ngx_uint_t j)
{
    char                 *msg;
    ngx_int_t             rc;
    ngx_str_t             type, data, format;
    ngx_bedrock_json_t   *url, *name;
    ngx_bedrock_block_t  *b;

    url = ngx_bedrock_json_get(part, image ? "image_url" : "file_data");

    if (url == NULL || url->type != NGX_BEDROCK_JSON_STRING) {
        return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                      "%s: only inline data is supported (a data: URL in "
                      "%s); this gateway neither fetches URLs nor keeps "
                      "files", image ? "input_image" : "input_file",
                      image ? "image_url" : "file_data");
    }

    rc = ngx_bedrock_data_url(&url->value, &type, &data);

    if (rc == NGX_DECLINED && image && ctx->image_fetch) {
        return ngx_bedrock_responses_image_url(ctx, &url->value, i, j);
    }

    if (rc != NGX_OK) {
        return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                      "%s must be a base64 data: URL; this gateway does not "
                      "fetch URLs", image ? "image_url" : "file_data");
    }

    if (image) {
        if (ngx_bedrock_image_format(&type, &format) != NGX_OK) {
            return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                                                 "image type '%V' is not "
                                                 "supported; use png, jpeg, "
                                                 "gif or webp", &type);
        }

        msg = ngx_bedrock_image_check(&format, data.data, data.len);

        if (msg != NULL) {
            return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                                             "%s", msg);
        }

        b = ngx_bedrock_converse_block(&ctx->conv, 0,
                                       NGX_BEDROCK_BLOCK_IMAGE);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->format = format;
        b->text = data;

        return NGX_OK;
    }

    msg = ngx_bedrock_document_check(&type, data.data, data.len, &format);

    if (msg != NULL) {
        return ngx_bedrock_responses_invalid(ctx, NGX_BEDROCK_PART_PARAM,
                                             "%s", msg);
    }

    name = ngx_bedrock_json_get(part, "filename");

    if (ngx_bedrock_converse_document(&ctx->conv, &format, &data,
                                      (name
                                       && name->type == NGX_BEDROCK_JSON_STRING)
                                      ? &name->value : NULL)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an http(s) image URL, fetched by the gateway once the body is written */

static ngx_int_t
ngx_bedrock_responses_image_url(ngx_bedrock_responses_ctx_t *ctx,
    ngx_str_t *url, ngx_uint_t i, ngx_uint_t j)
{
    char       *msg;
    ngx_int_t   rc;
    ngx_str_t  *param;

    param = ngx_bedrock_responses_param(ctx,
                                        "input[%ui].content[%ui].image_url",
                                        i, j);
    if (param == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_bedrock_converse_image_url(&ctx->conv, url, param, &msg);

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_responses_invalid(ctx, param, "%s", msg);
    }

    return rc;
}


#undef NGX_BEDROCK_PART_PARAM


/* function_call: the model's tool call of an earlier turn */

static ngx_int_t
ngx_bedrock_responses_call(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *item, ngx_uint_t i)
{
    ngx_int_t             rc;
    ngx_str_t             error;
    ngx_bedrock_json_t   *id, *fname, *args;

    id = ngx_bedrock_json_get(item, "call_id");
    fname = ngx_bedrock_json_get(item, "name");
    args = ngx_bedrock_json_get(item, "arguments");

    if (id == NULL || id->type != NGX_BEDROCK_JSON_STRING
        || id->value.len == 0
        || fname == NULL || fname->type != NGX_BEDROCK_JSON_STRING
        || fname->value.len == 0
        || (args && args->type != NGX_BEDROCK_JSON_STRING))
    {
        return ngx_bedrock_responses_invalid(ctx,
                             ngx_bedrock_responses_param(ctx, "input[%ui]", i),
                             "a function_call needs a string call_id, name "
                             "and arguments");
    }

    rc = ngx_bedrock_converse_tool_use(&ctx->conv, &ctx->jo, ctx->scratch,
                                       &id->value, &fname->value,
                                       args ? &args->value : NULL, &error);

    if (rc == NGX_ABORT || rc == NGX_DECLINED) {
        return ngx_bedrock_responses_invalid(ctx,
                      ngx_bedrock_responses_param(ctx, "input[%ui].arguments",
                                                  i),
                      "arguments is not valid JSON");
    }

    return rc;
}


/* function_call_output: the client's result, in a user turn */

static ngx_int_t
ngx_bedrock_responses_result(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *item, ngx_uint_t i)
{
    ngx_int_t             rc;
    ngx_bedrock_json_t   *id, *output;
    ngx_bedrock_block_t  *b;

    id = ngx_bedrock_json_get(item, "call_id");
    output = ngx_bedrock_json_get(item, "output");

    if (id == NULL || id->type != NGX_BEDROCK_JSON_STRING
        || id->value.len == 0
        || output == NULL
        || (output->type != NGX_BEDROCK_JSON_STRING
            && output->type != NGX_BEDROCK_JSON_ARRAY))
    {
        return ngx_bedrock_responses_invalid(ctx,
                             ngx_bedrock_responses_param(ctx, "input[%ui]", i),
                             "a function_call_output needs a string call_id "
                             "and an output string or array");
    }

    b = ngx_bedrock_converse_block(&ctx->conv, 0,
                                   NGX_BEDROCK_BLOCK_TOOL_RESULT);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->id = id->value;

    if (output->type == NGX_BEDROCK_JSON_STRING) {
        b->text = output->value;

    } else {
        rc = ngx_bedrock_responses_texts(ctx, output, &b->text);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/*
 * A reasoning item comes back as Bedrock wrote it: encrypted_content holds
 * the signature (or the redacted data), the summary or content its text.
 * One without encrypted_content cannot be replayed and is left out.
 */

static ngx_int_t
ngx_bedrock_responses_reasoning(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *item, ngx_uint_t i)
{
    size_t                n;
    ngx_int_t             rc;
    ngx_bedrock_json_t   *enc, *list;
    ngx_bedrock_block_t  *b;

    enc = ngx_bedrock_json_get(item, "encrypted_content");

    if (enc == NULL || enc->type != NGX_BEDROCK_JSON_STRING
        || enc->value.len == 0)
    {
        return NGX_OK;
    }

    n = sizeof(NGX_BEDROCK_REDACTED) - 1;

    if (enc->value.len > n
        && ngx_strncmp(enc->value.data, NGX_BEDROCK_REDACTED, n) == 0)
    {
        b = ngx_bedrock_converse_block(&ctx->conv, 1,
                                       NGX_BEDROCK_BLOCK_REDACTED);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->text.data = enc->value.data + n;
        b->text.len = enc->value.len - n;

        return NGX_OK;
    }

    b = ngx_bedrock_converse_block(&ctx->conv, 1, NGX_BEDROCK_BLOCK_REASONING);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->id = enc->value;

    list = ngx_bedrock_json_get(item, "content");

    if (list == NULL || list->type != NGX_BEDROCK_JSON_ARRAY || list->n == 0) {
        list = ngx_bedrock_json_get(item, "summary");
    }

    if (list == NULL || list->type != NGX_BEDROCK_JSON_ARRAY) {
        return ngx_bedrock_responses_invalid(ctx,
                       ngx_bedrock_responses_param(ctx, "input[%ui].summary",
                                                   i),
                       "a reasoning item needs a summary array");
    }

    rc = ngx_bedrock_responses_texts(ctx, list, &b->text);
    if (rc != NGX_OK) {
        return rc;
    }

    return NGX_OK;
}


/* the "text" members of a list of parts, concatenated */

static ngx_int_t
ngx_bedrock_responses_texts(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *list, ngx_str_t *out)
{
    ngx_str_t           *s;
    ngx_array_t          parts;
    ngx_bedrock_json_t  *p, *text;

    if (ngx_array_init(&parts, ctx->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    for (p = list->child; p; p = p->next) {
        text = ngx_bedrock_json_get(p, "text");

        if (text && text->type == NGX_BEDROCK_JSON_STRING) {
            s = ngx_array_push(&parts);
            if (s == NULL) {
                return NGX_ERROR;
            }

            *s = text->value;
        }
    }

    ngx_str_set(out, "");

    if (parts.nelts == 0) {
        return NGX_OK;
    }

    return ngx_bedrock_concat(ctx->pool, &parts, out);
}


/* tools, flat: {"type":"function","name","description","parameters"} */

static ngx_int_t
ngx_bedrock_responses_tools(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *tools, ngx_bedrock_json_t *choice)
{
    ngx_str_t            *param, forced;
    ngx_uint_t            i, none, any, autom;
    ngx_bedrock_json_t   *t, *type, *name, *desc, *params, *allowed, *mode;
    ngx_bedrock_tool_t   *tool;

    if (!ngx_bedrock_json_is_null(tools)
        && tools->type != NGX_BEDROCK_JSON_ARRAY)
    {
        return ngx_bedrock_responses_invalid(ctx,
                               ngx_bedrock_responses_param(ctx, "tools"),
                               "tools must be an array");
    }

    if (tools && tools->type == NGX_BEDROCK_JSON_ARRAY
        && tools->n > NGX_BEDROCK_RESPONSES_TOOLS)
    {
        return ngx_bedrock_responses_invalid(ctx,
                               ngx_bedrock_responses_param(ctx, "tools"),
                               "at most %d tools are allowed",
                               NGX_BEDROCK_RESPONSES_TOOLS);
    }

    for (t = tools ? tools->child : NULL, i = 0; t; t = t->next, i++) {
        type = ngx_bedrock_json_get(t, "type");
        name = ngx_bedrock_json_get(t, "name");
        desc = ngx_bedrock_json_get(t, "description");
        params = ngx_bedrock_json_get(t, "parameters");

        if (!ngx_bedrock_json_is_str(type, "function")) {
            return ngx_bedrock_responses_invalid(ctx,
                         ngx_bedrock_responses_param(ctx, "tools[%ui].type",
                                                     i),
                         "only function tools are supported, not '%V'",
                         (type && type->type == NGX_BEDROCK_JSON_STRING)
                         ? &type->value : &t->key);
        }

        if (name == NULL || name->type != NGX_BEDROCK_JSON_STRING
            || name->value.len == 0
            || (!ngx_bedrock_json_is_null(desc)
                && desc->type != NGX_BEDROCK_JSON_STRING)
            || (!ngx_bedrock_json_is_null(params)
                && params->type != NGX_BEDROCK_JSON_OBJECT))
        {
            return ngx_bedrock_responses_invalid(ctx,
                         ngx_bedrock_responses_param(ctx, "tools[%ui]", i),
                         "a function tool needs a string name, an optional "
                         "string description and an optional object of "
                         "parameters");
        }
    }

    none = 0;
    any = 0;
    autom = 0;
    allowed = NULL;
    ngx_str_null(&forced);

    param = ngx_bedrock_responses_param(ctx, "tool_choice");
    if (param == NULL) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_json_is_null(choice)) {
        /* Bedrock's default: auto */

    } else if (choice->type == NGX_BEDROCK_JSON_STRING) {
        none = ngx_bedrock_json_is_str(choice, "none");
        any = ngx_bedrock_json_is_str(choice, "required");
        autom = ngx_bedrock_json_is_str(choice, "auto");

        if (!none && !any && !autom) {
            return ngx_bedrock_responses_invalid(ctx, param,
                                                 "tool_choice must be "
                                                 "'none', 'auto', 'required' "
                                                 "or an object");
        }

    } else {
        type = ngx_bedrock_json_get(choice, "type");

        if (ngx_bedrock_json_is_str(type, "function")) {
            name = ngx_bedrock_json_get(choice, "name");

            if (name == NULL || name->type != NGX_BEDROCK_JSON_STRING) {
                return ngx_bedrock_responses_invalid(ctx, param,
                                                     "tool_choice.name must "
                                                     "be a string");
            }

            forced = name->value;

            if (ngx_bedrock_responses_find_tool(tools, &forced) == NULL) {
                return ngx_bedrock_responses_invalid(ctx, param,
                                                     "tool_choice names the "
                                                     "function '%V', which "
                                                     "is not in tools",
                                                     &forced);
            }

        } else if (ngx_bedrock_json_is_str(type, "allowed_tools")) {
            allowed = ngx_bedrock_json_get(choice, "tools");
            mode = ngx_bedrock_json_get(choice, "mode");

            if (allowed == NULL || allowed->type != NGX_BEDROCK_JSON_ARRAY
                || (!ngx_bedrock_json_is_str(mode, "auto")
                    && !ngx_bedrock_json_is_str(mode, "required")))
            {
                return ngx_bedrock_responses_invalid(ctx, param,
                                                     "allowed_tools needs a "
                                                     "mode ('auto' or "
                                                     "'required') and an "
                                                     "array of tools");
            }

            any = ngx_bedrock_json_is_str(mode, "required");
            autom = !any;

        } else {
            return ngx_bedrock_responses_invalid(ctx, param,
                                                 "tool_choice must be "
                                                 "'none', 'auto', "
                                                 "'required', a function or "
                                                 "allowed_tools: only "
                                                 "function tools are "
                                                 "supported");
        }
    }

    if ((any || forced.data || allowed)
        && (tools == NULL || tools->type != NGX_BEDROCK_JSON_ARRAY
            || tools->n == 0))
    {
        return ngx_bedrock_responses_invalid(ctx, param,
                                             "tool_choice requires tools");
    }

    /* Converse has no "none": the tools are left out */

    if (none || tools == NULL || tools->type != NGX_BEDROCK_JSON_ARRAY) {
        return NGX_OK;
    }

    for (t = tools->child; t; t = t->next) {
        name = ngx_bedrock_json_get(t, "name");
        desc = ngx_bedrock_json_get(t, "description");
        params = ngx_bedrock_json_get(t, "parameters");

        if (allowed
            && ngx_bedrock_responses_find_tool(allowed, &name->value) == NULL)
        {
            continue;
        }

        tool = ngx_bedrock_converse_tool(&ctx->conv, &name->value);
        if (tool == NULL) {
            return NGX_ERROR;
        }

        if (!ngx_bedrock_json_is_null(desc)) {
            tool->description = desc->value;
        }

        if (!ngx_bedrock_json_is_null(params)) {
            tool->schema = params;
        }

        /* only an explicit true: Converse models without it refuse it */

        params = ngx_bedrock_json_get(t, "strict");
        tool->strict = (params && params->type == NGX_BEDROCK_JSON_TRUE);
    }

    if (allowed && ctx->conv.tools.nelts == 0) {
        return ngx_bedrock_responses_invalid(ctx, param,
                                             "allowed_tools names none of "
                                             "the tools");
    }

    if (forced.data) {
        ctx->conv.tool_choice = NGX_BEDROCK_CHOICE_TOOL;
        ctx->conv.tool_name = forced;

    } else if (any) {
        ctx->conv.tool_choice = NGX_BEDROCK_CHOICE_ANY;

    } else if (autom && ctx->conv.tools.nelts) {
        ctx->conv.tool_choice = NGX_BEDROCK_CHOICE_AUTO;
    }

    return NGX_OK;
}


static ngx_bedrock_json_t *
ngx_bedrock_responses_find_tool(ngx_bedrock_json_t *tools, ngx_str_t *name)
{
    ngx_bedrock_json_t  *t, *n;

    if (tools == NULL || tools->type != NGX_BEDROCK_JSON_ARRAY) {
        return NULL;
    }

    for (t = tools->child; t; t = t->next) {
        n = ngx_bedrock_json_get(t, "name");

        if (n && n->type == NGX_BEDROCK_JSON_STRING
            && n->value.len == name->len
            && ngx_strncmp(n->value.data, name->data, name->len) == 0)
        {
            return t;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_bedrock_responses_inference(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *root)
{
    double               d;
    ngx_int_t            n;
    ngx_bedrock_json_t  *v;

    v = ngx_bedrock_json_get(root, "max_output_tokens");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_int(v, &n) != NGX_OK || n < 1) {
            return ngx_bedrock_responses_invalid(ctx,
                          ngx_bedrock_responses_param(ctx,
                                                      "max_output_tokens"),
                          "max_output_tokens must be a positive integer");
        }

        ctx->conv.max_tokens = v->value;
    }

    v = ngx_bedrock_json_get(root, "temperature");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_double(v, &d) != NGX_OK || d < 0 || d > 2) {
            return ngx_bedrock_responses_invalid(ctx,
                          ngx_bedrock_responses_param(ctx, "temperature"),
                          "temperature must be a number between 0 and 2");
        }

        /* OpenAI's range is 0..2, Bedrock's is 0..1: clamp */

        if (d > 1) {
            ngx_str_set(&ctx->conv.temperature, "1");

        } else {
            ctx->conv.temperature = v->value;
        }
    }

    v = ngx_bedrock_json_get(root, "top_p");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_double(v, &d) != NGX_OK || d < 0 || d > 1) {
            return ngx_bedrock_responses_invalid(ctx,
                          ngx_bedrock_responses_param(ctx, "top_p"),
                          "top_p must be a number between 0 and 1");
        }

        ctx->conv.top_p = v->value;
    }

    return NGX_OK;
}


/* text.format: a JSON schema becomes Converse's outputConfig */

static ngx_int_t
ngx_bedrock_responses_format(ngx_bedrock_responses_ctx_t *ctx,
    ngx_bedrock_json_t *text)
{
    ngx_str_t           *param;
    ngx_bedrock_json_t  *format, *type, *schema, *name, *desc;

    format = ngx_bedrock_json_get(text, "format");

    if (ngx_bedrock_json_is_null(format)) {
        return NGX_OK;
    }

    type = ngx_bedrock_json_get(format, "type");

    if (ngx_bedrock_json_is_str(type, "text")
        || ngx_bedrock_json_is_str(type, "json_object"))
    {
        /* json_object: the model is not constrained, as for chat */
        return NGX_OK;
    }

    param = ngx_bedrock_responses_param(ctx, "text.format");
    if (param == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_bedrock_json_is_str(type, "json_schema")) {
        return ngx_bedrock_responses_invalid(ctx, param,
                                             "text.format.type must be "
                                             "'text', 'json_object' or "
                                             "'json_schema'");
    }

    schema = ngx_bedrock_json_get(format, "schema");
    name = ngx_bedrock_json_get(format, "name");
    desc = ngx_bedrock_json_get(format, "description");

    if (schema == NULL || schema->type != NGX_BEDROCK_JSON_OBJECT
        || (!ngx_bedrock_json_is_null(name)
            && name->type != NGX_BEDROCK_JSON_STRING)
        || (!ngx_bedrock_json_is_null(desc)
            && desc->type != NGX_BEDROCK_JSON_STRING))
    {
        return ngx_bedrock_responses_invalid(ctx, param,
                                             "a json_schema format needs a "
                                             "schema object and an "
                                             "optional string name and "
                                             "description");
    }

    if (ngx_bedrock_json_serialize(ctx->pool, schema, &ctx->conv.schema)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!ngx_bedrock_json_is_null(name)) {
        ctx->conv.schema_name = name->value;
    }

    if (!ngx_bedrock_json_is_null(desc)) {
        ctx->conv.schema_description = desc->value;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_responses_invalid(ngx_bedrock_responses_ctx_t *ctx,
    ngx_str_t *param, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_bedrock_error_invalid(ctx->out, ctx->err, param, fmt, args);
    va_end(args);

    return rc;
}


static ngx_str_t *
ngx_bedrock_responses_param(ngx_bedrock_responses_ctx_t *ctx,
    const char *fmt, ...)
{
    va_list     args;
    ngx_str_t  *param;

    va_start(args, fmt);
    param = ngx_bedrock_error_param(ctx->out, fmt, args);
    va_end(args);

    return param;
}


/* the response side */

ngx_int_t
ngx_bedrock_responses_init(ngx_bedrock_responses_stream_t *st,
    ngx_pool_t *pool)
{
    st->pool = pool;
    st->block = -1;

    if (ngx_array_init(&st->items, pool, 4, sizeof(ngx_bedrock_item_t))
        != NGX_OK
        || ngx_array_init(&st->text, pool, 256, 1) != NGX_OK
        || ngx_array_init(&st->signature, pool, 64, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A Converse answer as a response object: its blocks in order, adjacent
 * texts in one message item.  NGX_DECLINED: not an answer.
 */

ngx_int_t
ngx_bedrock_responses_answer(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_responses_stream_t *st,
    ngx_str_t *out, ngx_str_t *stop_reason, ngx_bedrock_usage_t *usage)
{
    char                  *status;
    ngx_int_t              rc;
    ngx_str_t             *s;
    ngx_uint_t             i;
    ngx_array_t            texts;
    ngx_bedrock_jw_t       w;
    ngx_bedrock_item_t    *item;
    ngx_bedrock_block_t   *b;
    ngx_bedrock_answer_t   a;

    rc = ngx_bedrock_converse_answer(temp, data, len, &a);
    if (rc != NGX_OK) {
        return rc;
    }

    *stop_reason = a.stop_reason;
    *usage = a.usage;

    st->pool = temp;

    if (ngx_array_init(&st->items, temp, a.blocks.nelts + 1,
                       sizeof(ngx_bedrock_item_t))
        != NGX_OK
        || ngx_array_init(&texts, temp, 2, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    b = a.blocks.elts;

    for (i = 0; i < a.blocks.nelts; i++) {

        if (b[i].kind == NGX_BEDROCK_BLOCK_TEXT) {
            s = ngx_array_push(&texts);
            if (s == NULL) {
                return NGX_ERROR;
            }

            *s = b[i].text;

            if (i + 1 < a.blocks.nelts
                && b[i + 1].kind == NGX_BEDROCK_BLOCK_TEXT)
            {
                continue;
            }
        }

        item = ngx_array_push(&st->items);
        if (item == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(item, sizeof(ngx_bedrock_item_t));

        switch (b[i].kind) {

        case NGX_BEDROCK_BLOCK_TEXT:
            item->kind = NGX_BEDROCK_ITEM_MESSAGE;
            rc = ngx_bedrock_responses_item_id(st, temp, "msg", &item->id);

            if (rc == NGX_OK) {
                rc = ngx_bedrock_concat(temp, &texts, &item->text);
                texts.nelts = 0;
            }

            break;

        case NGX_BEDROCK_BLOCK_TOOL_USE:
            item->kind = NGX_BEDROCK_ITEM_CALL;
            item->call_id = b[i].id;
            item->name = b[i].name;
            ngx_str_set(&item->text, "{}");

            rc = ngx_bedrock_responses_item_id(st, temp, "fc", &item->id);

            if (rc == NGX_OK && b[i].input) {
                rc = ngx_bedrock_json_serialize(temp, b[i].input,
                                                &item->text);
            }

            break;

        case NGX_BEDROCK_BLOCK_REDACTED:
            item->kind = NGX_BEDROCK_ITEM_REASONING;
            item->encrypted.len = sizeof(NGX_BEDROCK_REDACTED) - 1
                                  + b[i].text.len;
            item->encrypted.data = ngx_pnalloc(temp, item->encrypted.len);

            if (item->encrypted.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(ngx_cpymem(item->encrypted.data, NGX_BEDROCK_REDACTED,
                                  sizeof(NGX_BEDROCK_REDACTED) - 1),
                       b[i].text.data, b[i].text.len);

            rc = ngx_bedrock_responses_item_id(st, temp, "rs", &item->id);
            break;

        default: /* NGX_BEDROCK_BLOCK_REASONING */
            item->kind = NGX_BEDROCK_ITEM_REASONING;
            item->text = b[i].text;
            item->encrypted = b[i].id;

            rc = ngx_bedrock_responses_item_id(st, temp, "rs", &item->id);
            break;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_bedrock_jw_init(&w, temp, len + 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    status = ngx_bedrock_responses_incomplete(&a.stop_reason) ? "incomplete"
                                                               : "completed";

    ngx_bedrock_responses_object(st, &w, status, &a.stop_reason, &a.usage,
                                 NULL);

    return ngx_bedrock_jw_copy(&w, pool, out);
}


/* "<prefix>_<the response id's own part>_<n>" */

static ngx_int_t
ngx_bedrock_responses_item_id(ngx_bedrock_responses_stream_t *st,
    ngx_pool_t *pool, char *prefix, ngx_str_t *id)
{
    size_t     skip;
    ngx_str_t  own;

    skip = sizeof("resp_") - 1;

    own = st->id;

    if (own.len > skip) {
        own.data += skip;
        own.len -= skip;
    }

    id->data = ngx_pnalloc(pool, ngx_strlen(prefix) + own.len
                                 + 2 + NGX_INT_T_LEN);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    id->len = ngx_sprintf(id->data, "%s_%V_%ui", prefix, &own, st->nitems++)
              - id->data;

    return NGX_OK;
}


/* why an answer is incomplete, or NULL */

static char *
ngx_bedrock_responses_incomplete(ngx_str_t *stop_reason)
{
    ngx_uint_t  i;

    static struct {
        ngx_str_t   converse;
        char       *reason;
    } map[] = {
        { ngx_string("max_tokens"), "max_output_tokens" },
        { ngx_string("model_context_window_exceeded"), "max_output_tokens" },
        { ngx_string("guardrail_intervened"), "content_filter" },
        { ngx_string("content_filtered"), "content_filter" },
        { ngx_null_string, NULL }
    };

    for (i = 0; map[i].reason; i++) {
        if (map[i].converse.len == stop_reason->len
            && ngx_strncmp(map[i].converse.data, stop_reason->data,
                           stop_reason->len)
               == 0)
        {
            return map[i].reason;
        }
    }

    return NULL;
}


/* the response object, with the items done so far */

static void
ngx_bedrock_responses_object(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, char *status, ngx_str_t *stop_reason,
    ngx_bedrock_usage_t *usage, ngx_bedrock_error_t *err)
{
    char                *reason;
    ngx_uint_t           i;
    ngx_bedrock_item_t  *item;

    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "id");
    ngx_bedrock_jw_str(w, &st->id);
    ngx_bedrock_jw_key(w, "object");
    ngx_bedrock_jw_cstr(w, "response");
    ngx_bedrock_jw_key(w, "created_at");
    ngx_bedrock_jw_int(w, (ngx_int_t) st->created);
    ngx_bedrock_jw_key(w, "status");
    ngx_bedrock_jw_cstr(w, status);
    ngx_bedrock_jw_key(w, "error");

    if (err) {
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "code");

        /* the codes of the Responses API, which clients dispatch on */

        ngx_bedrock_jw_cstr(w, (err->status == 429) ? "rate_limit_exceeded"
                               : (err->status == 400) ? "invalid_prompt"
                                                      : "server_error");

        ngx_bedrock_jw_key(w, "message");
        ngx_bedrock_jw_str(w, &err->message);
        ngx_bedrock_jw_obj_end(w);

    } else {
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_key(w, "incomplete_details");

    reason = stop_reason ? ngx_bedrock_responses_incomplete(stop_reason)
                         : NULL;

    if (reason) {
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "reason");
        ngx_bedrock_jw_cstr(w, reason);
        ngx_bedrock_jw_obj_end(w);

    } else {
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_key(w, "instructions");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_key(w, "metadata");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_key(w, "model");
    ngx_bedrock_jw_str(w, &st->model);
    ngx_bedrock_jw_key(w, "output");
    ngx_bedrock_jw_arr(w);

    item = st->items.elts;

    for (i = 0; i < st->items.nelts; i++) {
        ngx_bedrock_responses_item(w, &item[i], 1);
    }

    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_jw_key(w, "parallel_tool_calls");
    ngx_bedrock_jw_bool(w, 1);
    ngx_bedrock_jw_key(w, "previous_response_id");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_key(w, "store");
    ngx_bedrock_jw_bool(w, 0);
    ngx_bedrock_jw_key(w, "temperature");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_key(w, "tool_choice");
    ngx_bedrock_jw_cstr(w, "auto");
    ngx_bedrock_jw_key(w, "tools");
    ngx_bedrock_jw_arr(w);
    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_jw_key(w, "top_p");
    ngx_bedrock_jw_null(w);
    ngx_bedrock_jw_key(w, "truncation");
    ngx_bedrock_jw_cstr(w, "disabled");
    ngx_bedrock_jw_key(w, "usage");

    if (usage) {
        ngx_bedrock_responses_usage(w, usage);

    } else {
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_obj_end(w);
}


/* an output item; not done: as output_item.added shows it */

static void
ngx_bedrock_responses_item(ngx_bedrock_jw_t *w, ngx_bedrock_item_t *item,
    ngx_uint_t done)
{
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "id");
    ngx_bedrock_jw_str(w, &item->id);
    ngx_bedrock_jw_key(w, "type");

    switch (item->kind) {

    case NGX_BEDROCK_ITEM_CALL:
        ngx_bedrock_jw_cstr(w, "function_call");
        ngx_bedrock_jw_key(w, "status");
        ngx_bedrock_jw_cstr(w, done ? "completed" : "in_progress");
        ngx_bedrock_jw_key(w, "arguments");

        if (done) {
            ngx_bedrock_jw_str(w, &item->text);

        } else {
            ngx_bedrock_jw_cstr(w, "");
        }

        ngx_bedrock_jw_key(w, "call_id");
        ngx_bedrock_jw_str(w, &item->call_id);
        ngx_bedrock_jw_key(w, "name");
        ngx_bedrock_jw_str(w, &item->name);
        break;

    case NGX_BEDROCK_ITEM_REASONING:
        ngx_bedrock_jw_cstr(w, "reasoning");
        ngx_bedrock_jw_key(w, "summary");
        ngx_bedrock_jw_arr(w);

        if (done && item->text.len) {
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_jw_key(w, "type");
            ngx_bedrock_jw_cstr(w, "summary_text");
            ngx_bedrock_jw_key(w, "text");
            ngx_bedrock_jw_str(w, &item->text);
            ngx_bedrock_jw_obj_end(w);
        }

        ngx_bedrock_jw_arr_end(w);

        if (done && item->encrypted.len) {
            ngx_bedrock_jw_key(w, "encrypted_content");
            ngx_bedrock_jw_str(w, &item->encrypted);
        }

        break;

    default: /* NGX_BEDROCK_ITEM_MESSAGE */
        ngx_bedrock_jw_cstr(w, "message");
        ngx_bedrock_jw_key(w, "status");
        ngx_bedrock_jw_cstr(w, done ? "completed" : "in_progress");
        ngx_bedrock_jw_key(w, "role");
        ngx_bedrock_jw_cstr(w, "assistant");
        ngx_bedrock_jw_key(w, "content");
        ngx_bedrock_jw_arr(w);

        if (done) {
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_jw_key(w, "type");
            ngx_bedrock_jw_cstr(w, "output_text");
            ngx_bedrock_jw_key(w, "text");
            ngx_bedrock_jw_str(w, &item->text);
            ngx_bedrock_jw_key(w, "annotations");
            ngx_bedrock_jw_arr(w);
            ngx_bedrock_jw_arr_end(w);
            ngx_bedrock_jw_key(w, "logprobs");
            ngx_bedrock_jw_arr(w);
            ngx_bedrock_jw_arr_end(w);
            ngx_bedrock_jw_obj_end(w);
        }

        ngx_bedrock_jw_arr_end(w);
        break;
    }

    ngx_bedrock_jw_obj_end(w);
}


static void
ngx_bedrock_responses_usage(ngx_bedrock_jw_t *w, ngx_bedrock_usage_t *u)
{
    ngx_int_t  input;

    input = ngx_bedrock_sum(ngx_bedrock_sum(u->input, u->cache_read),
                            u->cache_write);

    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "input_tokens");
    ngx_bedrock_jw_int(w, input);
    ngx_bedrock_jw_key(w, "input_tokens_details");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "cached_tokens");
    ngx_bedrock_jw_int(w, u->cache_read);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_key(w, "output_tokens");
    ngx_bedrock_jw_int(w, u->output);
    ngx_bedrock_jw_key(w, "output_tokens_details");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "reasoning_tokens");
    ngx_bedrock_jw_int(w, 0);
    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_key(w, "total_tokens");
    ngx_bedrock_jw_int(w, ngx_bedrock_sum(input, u->output));
    ngx_bedrock_jw_obj_end(w);
}


/*
 * The stream.  Its done events repeat what the deltas sent, and
 * response.completed repeats every item: the open item's text and the
 * items done are kept, in st->pool, as the protocol asks; nothing else.
 */

ngx_int_t
ngx_bedrock_responses_event(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_events_t *es, ngx_bedrock_event_t *ev, ngx_pool_t *scratch,
    ngx_str_t *sse)
{
    ngx_int_t         rc;
    ngx_str_t         redacted;
    ngx_bedrock_jw_t  w;

    ngx_str_null(sse);
    st->content = 0;

    if (st->finished || ev->type == NGX_BEDROCK_EVENT_NONE) {
        return NGX_OK;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_responses_start(st, &w) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    switch (ev->type) {

    case NGX_BEDROCK_EVENT_TEXT:
        if (st->item.kind != NGX_BEDROCK_ITEM_MESSAGE
            || st->block != ev->block)
        {
            rc = ngx_bedrock_responses_open(st, &w, NGX_BEDROCK_ITEM_MESSAGE,
                                            ev);
        }

        if (rc == NGX_OK && ev->text.len) {
            ngx_bedrock_responses_delta(st, &w, "response.output_text.delta",
                                        &ev->text);
            rc = ngx_bedrock_responses_append(&st->text, &ev->text);
        }

        break;

    case NGX_BEDROCK_EVENT_TOOL_START:
        rc = ngx_bedrock_responses_open(st, &w, NGX_BEDROCK_ITEM_CALL, ev);
        st->content = 1;
        break;

    case NGX_BEDROCK_EVENT_TOOL_INPUT:
        if (st->item.kind == NGX_BEDROCK_ITEM_CALL && st->block == ev->block
            && ev->text.len)
        {
            ngx_bedrock_responses_delta(st, &w,
                                 "response.function_call_arguments.delta",
                                 &ev->text);
            rc = ngx_bedrock_responses_append(&st->text, &ev->text);
        }

        break;

    case NGX_BEDROCK_EVENT_REASONING:
        if (st->item.kind != NGX_BEDROCK_ITEM_REASONING
            || st->block != ev->block)
        {
            rc = ngx_bedrock_responses_open(st, &w,
                                            NGX_BEDROCK_ITEM_REASONING, ev);
        }

        if (rc == NGX_OK && ev->text.len) {
            ngx_bedrock_responses_delta(st, &w,
                                 "response.reasoning_summary_text.delta",
                                 &ev->text);
            rc = ngx_bedrock_responses_append(&st->text, &ev->text);
        }

        if (rc == NGX_OK && ev->signature.len) {
            rc = ngx_bedrock_responses_append(&st->signature,
                                              &ev->signature);
        }

        break;

    case NGX_BEDROCK_EVENT_REDACTED:
        rc = ngx_bedrock_responses_open(st, &w, NGX_BEDROCK_ITEM_REASONING,
                                        ev);

        if (rc == NGX_OK) {
            ngx_str_set(&redacted, NGX_BEDROCK_REDACTED);
            rc = ngx_bedrock_responses_append(&st->signature, &redacted);
        }

        if (rc == NGX_OK) {
            rc = ngx_bedrock_responses_append(&st->signature, &ev->text);
        }

        if (rc == NGX_OK) {
            rc = ngx_bedrock_responses_close(st, &w);
        }

        st->content = 1;
        break;

    case NGX_BEDROCK_EVENT_BLOCK_STOP:
    case NGX_BEDROCK_EVENT_STOP:
        rc = ngx_bedrock_responses_close(st, &w);
        break;

    case NGX_BEDROCK_EVENT_USAGE:
        if (es->stopped) {
            rc = ngx_bedrock_responses_final(st, es, &w);
        }

        break;

    default: /* NGX_BEDROCK_EVENT_START */
        break;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_bedrock_jw_finish(&w, sse);
}


/* a stream that ended after messageStop without its metadata */

ngx_int_t
ngx_bedrock_responses_end(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_events_t *es, ngx_pool_t *scratch, ngx_str_t *sse)
{
    ngx_bedrock_jw_t  w;

    ngx_str_null(sse);

    if (st->finished || !es->stopped) {
        return NGX_OK;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_responses_start(st, &w) != NGX_OK
        || ngx_bedrock_responses_final(st, es, &w) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_bedrock_jw_finish(&w, sse);
}


/*
 * A failure once the stream has begun: response.failed, with the items
 * done so far; never response.completed
 */

ngx_int_t
ngx_bedrock_responses_stream_error(ngx_bedrock_responses_stream_t *st,
    ngx_pool_t *scratch, ngx_bedrock_error_t *err, ngx_str_t *sse)
{
    ngx_bedrock_jw_t  w;

    ngx_str_null(sse);

    if (st->finished) {
        return NGX_OK;
    }

    if (ngx_bedrock_jw_init(&w, scratch, 512, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_responses_start(st, &w) != NGX_OK) {
        return NGX_ERROR;
    }

    st->finished = 1;

    ngx_bedrock_responses_begin(st, &w, "response.failed");
    ngx_bedrock_jw_key(&w, "response");
    ngx_bedrock_responses_object(st, &w, "failed", NULL, NULL, err);
    ngx_bedrock_jw_event_end(&w);

    return ngx_bedrock_jw_finish(&w, sse);
}


/* "event: <type>\ndata: {"type":<type>,"sequence_number":n" */

static void
ngx_bedrock_responses_begin(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, char *type)
{
    ngx_bedrock_jw_event(w, type);
    ngx_bedrock_jw_key(w, "sequence_number");
    ngx_bedrock_jw_int(w, st->seq++);
}


/* "item_id", "output_index" and, for parts, "content_index" */

static void
ngx_bedrock_responses_ids(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_uint_t content)
{
    ngx_bedrock_jw_key(w, "item_id");
    ngx_bedrock_jw_str(w, &st->item.id);
    ngx_bedrock_jw_key(w, "output_index");
    ngx_bedrock_jw_int(w, st->items.nelts);

    if (content) {
        ngx_bedrock_jw_key(w, content == 1 ? "content_index"
                                           : "summary_index");
        ngx_bedrock_jw_int(w, 0);
    }
}


/* response.created and response.in_progress, before anything else */

static ngx_int_t
ngx_bedrock_responses_start(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w)
{
    if (st->started) {
        return NGX_OK;
    }

    st->started = 1;

    ngx_bedrock_responses_begin(st, w, "response.created");
    ngx_bedrock_jw_key(w, "response");
    ngx_bedrock_responses_object(st, w, "in_progress", NULL, NULL, NULL);
    ngx_bedrock_jw_event_end(w);

    ngx_bedrock_responses_begin(st, w, "response.in_progress");
    ngx_bedrock_jw_key(w, "response");
    ngx_bedrock_responses_object(st, w, "in_progress", NULL, NULL, NULL);
    ngx_bedrock_jw_event_end(w);

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_responses_open(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, ngx_bedrock_item_kind_e kind,
    ngx_bedrock_event_t *ev)
{
    char                *prefix;
    ngx_bedrock_item_t  *item;

    if (ngx_bedrock_responses_close(st, w) != NGX_OK) {
        return NGX_ERROR;
    }

    item = &st->item;
    ngx_memzero(item, sizeof(ngx_bedrock_item_t));

    item->kind = kind;
    st->block = ev->block;

    prefix = (kind == NGX_BEDROCK_ITEM_MESSAGE) ? "msg"
             : (kind == NGX_BEDROCK_ITEM_CALL) ? "fc" : "rs";

    if (ngx_bedrock_responses_item_id(st, st->pool, prefix, &item->id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (kind == NGX_BEDROCK_ITEM_CALL) {
        item->call_id.data = ngx_pstrdup(st->pool, &ev->id);
        item->call_id.len = ev->id.len;
        item->name.data = ngx_pstrdup(st->pool, &ev->name);
        item->name.len = ev->name.len;

        if ((ev->id.len && item->call_id.data == NULL)
            || (ev->name.len && item->name.data == NULL))
        {
            return NGX_ERROR;
        }
    }

    ngx_bedrock_responses_begin(st, w, "response.output_item.added");
    ngx_bedrock_jw_key(w, "output_index");
    ngx_bedrock_jw_int(w, st->items.nelts);
    ngx_bedrock_jw_key(w, "item");
    ngx_bedrock_responses_item(w, item, 0);
    ngx_bedrock_jw_event_end(w);

    if (kind == NGX_BEDROCK_ITEM_MESSAGE) {
        ngx_bedrock_responses_begin(st, w, "response.content_part.added");
        ngx_bedrock_responses_ids(st, w, 1);
        ngx_bedrock_jw_key(w, "part");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "output_text");
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_cstr(w, "");
        ngx_bedrock_jw_key(w, "annotations");
        ngx_bedrock_jw_arr(w);
        ngx_bedrock_jw_arr_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_event_end(w);

    } else if (kind == NGX_BEDROCK_ITEM_REASONING) {
        ngx_bedrock_responses_begin(st, w,
                                    "response.reasoning_summary_part.added");
        ngx_bedrock_responses_ids(st, w, 2);
        ngx_bedrock_jw_key(w, "part");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "summary_text");
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_cstr(w, "");
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_event_end(w);
    }

    return NGX_OK;
}


/* the open item's done events; the item is kept for response.completed */

static ngx_int_t
ngx_bedrock_responses_close(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w)
{
    ngx_bedrock_item_t  *item, *done;

    item = &st->item;

    if (item->kind == NGX_BEDROCK_ITEM_NONE) {
        return NGX_OK;
    }

    item->text.len = st->text.nelts;
    item->text.data = ngx_pnalloc(st->pool, st->text.nelts + 1);
    item->encrypted.len = st->signature.nelts;
    item->encrypted.data = ngx_pnalloc(st->pool, st->signature.nelts + 1);

    if (item->text.data == NULL || item->encrypted.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(item->text.data, st->text.elts, st->text.nelts);
    ngx_memcpy(item->encrypted.data, st->signature.elts,
               st->signature.nelts);

    st->text.nelts = 0;
    st->signature.nelts = 0;

    switch (item->kind) {

    case NGX_BEDROCK_ITEM_MESSAGE:
        ngx_bedrock_responses_begin(st, w, "response.output_text.done");
        ngx_bedrock_responses_ids(st, w, 1);
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_str(w, &item->text);
        ngx_bedrock_jw_key(w, "logprobs");
        ngx_bedrock_jw_arr(w);
        ngx_bedrock_jw_arr_end(w);
        ngx_bedrock_jw_event_end(w);

        ngx_bedrock_responses_begin(st, w, "response.content_part.done");
        ngx_bedrock_responses_ids(st, w, 1);
        ngx_bedrock_jw_key(w, "part");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "output_text");
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_str(w, &item->text);
        ngx_bedrock_jw_key(w, "annotations");
        ngx_bedrock_jw_arr(w);
        ngx_bedrock_jw_arr_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_event_end(w);
        break;

    case NGX_BEDROCK_ITEM_CALL:
        if (item->text.len == 0) {
            ngx_str_set(&item->text, "{}");
        }

        ngx_bedrock_responses_begin(st, w,
                                    "response.function_call_arguments.done");
        ngx_bedrock_responses_ids(st, w, 0);
        ngx_bedrock_jw_key(w, "name");
        ngx_bedrock_jw_str(w, &item->name);
        ngx_bedrock_jw_key(w, "arguments");
        ngx_bedrock_jw_str(w, &item->text);
        ngx_bedrock_jw_event_end(w);
        break;

    default: /* NGX_BEDROCK_ITEM_REASONING */
        if (item->text.len) {
            ngx_bedrock_responses_begin(st, w,
                                 "response.reasoning_summary_text.done");
            ngx_bedrock_responses_ids(st, w, 2);
            ngx_bedrock_jw_key(w, "text");
            ngx_bedrock_jw_str(w, &item->text);
            ngx_bedrock_jw_event_end(w);
        }

        ngx_bedrock_responses_begin(st, w,
                                    "response.reasoning_summary_part.done");
        ngx_bedrock_responses_ids(st, w, 2);
        ngx_bedrock_jw_key(w, "part");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "summary_text");
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_str(w, &item->text);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_event_end(w);
        break;
    }

    ngx_bedrock_responses_begin(st, w, "response.output_item.done");
    ngx_bedrock_jw_key(w, "output_index");
    ngx_bedrock_jw_int(w, st->items.nelts);
    ngx_bedrock_jw_key(w, "item");
    ngx_bedrock_responses_item(w, item, 1);
    ngx_bedrock_jw_event_end(w);

    done = ngx_array_push(&st->items);
    if (done == NULL) {
        return NGX_ERROR;
    }

    *done = *item;

    item->kind = NGX_BEDROCK_ITEM_NONE;
    st->block = -1;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_responses_append(ngx_array_t *a, ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return NGX_OK;
    }

    p = ngx_array_push_n(a, s->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, s->len);

    return NGX_OK;
}


static void
ngx_bedrock_responses_delta(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_jw_t *w, char *type, ngx_str_t *delta)
{
    ngx_uint_t  content;

    content = (st->item.kind == NGX_BEDROCK_ITEM_MESSAGE) ? 1
              : (st->item.kind == NGX_BEDROCK_ITEM_REASONING) ? 2 : 0;

    ngx_bedrock_responses_begin(st, w, type);
    ngx_bedrock_responses_ids(st, w, content);
    ngx_bedrock_jw_key(w, "delta");
    ngx_bedrock_jw_str(w, delta);

    if (content == 1) {
        ngx_bedrock_jw_key(w, "logprobs");
        ngx_bedrock_jw_arr(w);
        ngx_bedrock_jw_arr_end(w);
    }

    ngx_bedrock_jw_event_end(w);

    st->content = 1;
}


/* response.completed, or response.incomplete, with everything */

static ngx_int_t
ngx_bedrock_responses_final(ngx_bedrock_responses_stream_t *st,
    ngx_bedrock_events_t *es, ngx_bedrock_jw_t *w)
{
    char  *status;

    if (ngx_bedrock_responses_close(st, w) != NGX_OK) {
        return NGX_ERROR;
    }

    status = ngx_bedrock_responses_incomplete(&es->stop_reason)
             ? "incomplete" : "completed";

    ngx_bedrock_responses_begin(st, w, (*status == 'c')
                                       ? "response.completed"
                                       : "response.incomplete");
    ngx_bedrock_jw_key(w, "response");
    ngx_bedrock_responses_object(st, w, status, &es->stop_reason,
                                 es->has_usage ? &es->usage : NULL, NULL);
    ngx_bedrock_jw_event_end(w);

    st->finished = 1;

    return NGX_OK;
}
