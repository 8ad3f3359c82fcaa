
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_converse.h"


static int ngx_cdecl ngx_bedrock_str_cmp(const void *one, const void *two);


ngx_int_t
ngx_bedrock_converse_init(ngx_bedrock_converse_t *conv, ngx_pool_t *pool,
    ngx_uint_t nturns)
{
    ngx_memzero(conv, sizeof(ngx_bedrock_converse_t));

    conv->pool = pool;

    if (ngx_array_init(&conv->system, pool, 2, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&conv->turns, pool, ngx_max(nturns, 1),
                          sizeof(ngx_bedrock_turn_t))
           != NGX_OK
        || ngx_array_init(&conv->history_tools, pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* appends a block, opening a new turn when the role changes */

ngx_bedrock_block_t *
ngx_bedrock_converse_block(ngx_bedrock_converse_t *conv, ngx_uint_t assistant,
    ngx_bedrock_block_kind_e kind)
{
    ngx_bedrock_turn_t   *t;
    ngx_bedrock_block_t  *b;

    t = conv->turn;

    if (t == NULL || t->assistant != assistant) {
        t = ngx_array_push(&conv->turns);
        if (t == NULL) {
            return NULL;
        }

        t->assistant = assistant;

        if (ngx_array_init(&t->blocks, conv->pool, 2,
                           sizeof(ngx_bedrock_block_t))
            != NGX_OK)
        {
            return NULL;
        }

        conv->turn = t;
    }

    b = ngx_array_push(&t->blocks);
    if (b == NULL) {
        return NULL;
    }

    ngx_memzero(b, sizeof(ngx_bedrock_block_t));
    b->kind = kind;

    return b;
}


/* "messages": the turns */

void
ngx_bedrock_converse_messages(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w)
{
    ngx_uint_t            i, k;
    ngx_bedrock_turn_t   *t;
    ngx_bedrock_block_t  *b;

    t = conv->turns.elts;

    ngx_bedrock_jw_key(w, "messages");
    ngx_bedrock_jw_arr(w);

    for (i = 0; i < conv->turns.nelts; i++) {

        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "role");
        ngx_bedrock_jw_cstr(w, t[i].assistant ? "assistant" : "user");
        ngx_bedrock_jw_key(w, "content");
        ngx_bedrock_jw_arr(w);

        b = t[i].blocks.elts;

        for (k = 0; k < t[i].blocks.nelts; k++) {

            ngx_bedrock_jw_obj(w);

            switch (b[k].kind) {

            case NGX_BEDROCK_BLOCK_TEXT:
                ngx_bedrock_jw_key(w, "text");
                ngx_bedrock_jw_str(w, &b[k].text);
                break;

            case NGX_BEDROCK_BLOCK_IMAGE:
                ngx_bedrock_jw_key(w, "image");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "format");
                ngx_bedrock_jw_str(w, &b[k].format);
                ngx_bedrock_jw_key(w, "source");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "bytes");
                ngx_bedrock_jw_str(w, &b[k].text);
                ngx_bedrock_jw_obj_end(w);
                ngx_bedrock_jw_obj_end(w);
                break;

            case NGX_BEDROCK_BLOCK_TOOL_USE:
                ngx_bedrock_jw_key(w, "toolUse");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "toolUseId");
                ngx_bedrock_jw_str(w, &b[k].id);
                ngx_bedrock_jw_key(w, "name");
                ngx_bedrock_jw_str(w, &b[k].name);
                ngx_bedrock_jw_key(w, "input");

                if (b[k].input) {
                    ngx_bedrock_jw_value(w, b[k].input);

                } else {
                    ngx_bedrock_jw_obj(w);
                    ngx_bedrock_jw_obj_end(w);
                }

                ngx_bedrock_jw_obj_end(w);
                break;

            case NGX_BEDROCK_BLOCK_TOOL_RESULT:
                ngx_bedrock_jw_key(w, "toolResult");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "toolUseId");
                ngx_bedrock_jw_str(w, &b[k].id);
                ngx_bedrock_jw_key(w, "content");
                ngx_bedrock_jw_arr(w);
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "text");
                ngx_bedrock_jw_str(w, &b[k].text);
                ngx_bedrock_jw_obj_end(w);
                ngx_bedrock_jw_arr_end(w);
                ngx_bedrock_jw_obj_end(w);
                break;
            }

            ngx_bedrock_jw_obj_end(w);
        }

        ngx_bedrock_jw_arr_end(w);
        ngx_bedrock_jw_obj_end(w);
    }

    ngx_bedrock_jw_arr_end(w);
}


/* "system", if there is any */

void
ngx_bedrock_converse_system(ngx_bedrock_converse_t *conv, ngx_bedrock_jw_t *w)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (conv->system.nelts == 0) {
        return;
    }

    ngx_bedrock_jw_key(w, "system");
    ngx_bedrock_jw_arr(w);

    s = conv->system.elts;

    for (i = 0; i < conv->system.nelts; i++) {
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "text");
        ngx_bedrock_jw_str(w, &s[i]);
        ngx_bedrock_jw_obj_end(w);
    }

    ngx_bedrock_jw_arr_end(w);
}


/*
 * Converse accepts a history with tool calls only with a toolConfig that
 * names their tools: each of them once, inside "tools": [...]
 */

void
ngx_bedrock_converse_history_tools(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w)
{
    ngx_str_t   *names;
    ngx_uint_t   i, n;

    names = conv->history_tools.elts;
    n = conv->history_tools.nelts;

    /* the history may name many tools: O(n log n), not ngx_sort() */

    ngx_qsort(names, n, sizeof(ngx_str_t), ngx_bedrock_str_cmp);

    for (i = 0; i < n; i++) {

        if (i > 0 && ngx_bedrock_str_cmp(&names[i - 1], &names[i]) == 0) {
            continue;
        }

        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "toolSpec");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "name");
        ngx_bedrock_jw_str(w, &names[i]);
        ngx_bedrock_jw_key(w, "inputSchema");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "json");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "object");
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
    }
}


/* "guardrailConfig", where the location has a bedrock_guardrail */

void
ngx_bedrock_converse_guardrail(ngx_bedrock_guardrail_conf_t *g,
    ngx_uint_t stream, ngx_bedrock_jw_t *w)
{
    if (g->id.len == 0) {
        return;
    }

    ngx_bedrock_jw_key(w, "guardrailConfig");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "guardrailIdentifier");
    ngx_bedrock_jw_str(w, &g->id);
    ngx_bedrock_jw_key(w, "guardrailVersion");
    ngx_bedrock_jw_str(w, &g->version);

    if (g->trace.len) {
        ngx_bedrock_jw_key(w, "trace");
        ngx_bedrock_jw_str(w, &g->trace);
    }

    if (stream && g->stream_mode.len) {
        ngx_bedrock_jw_key(w, "streamProcessingMode");
        ngx_bedrock_jw_str(w, &g->stream_mode);
    }

    ngx_bedrock_jw_obj_end(w);
}


static int ngx_cdecl
ngx_bedrock_str_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one;
    const ngx_str_t  *b = two;

    return (int) ngx_memn2cmp(a->data, b->data, a->len, b->len);
}
