
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_converse.h"
#include "ngx_http_bedrock_url.h"


/* JSON values a Converse answer may hold */
#define NGX_BEDROCK_ANSWER_VALUES  (1024 * 1024)

/* JSON values one stream event may hold, and the tool blocks of a stream */
#define NGX_BEDROCK_EVENT_VALUES   (64 * 1024)
#define NGX_BEDROCK_EVENTS_BLOCKS  1024


static void ngx_bedrock_converse_document_name(ngx_str_t *name);
static void ngx_bedrock_converse_scratch_free(void *data);
static void ngx_bedrock_converse_image(ngx_bedrock_converse_t *conv,
    ngx_bedrock_block_t *b, ngx_bedrock_jw_t *w);
static void ngx_bedrock_converse_cache_point(ngx_str_t *ttl,
    ngx_bedrock_jw_t *w);
static void ngx_bedrock_converse_history_tools(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w);
static int ngx_cdecl ngx_bedrock_str_cmp(const void *one, const void *two);
static int ngx_cdecl ngx_bedrock_splice_cmp(const void *one,
    const void *two);
static ngx_bedrock_block_t *ngx_bedrock_answer_block(ngx_bedrock_answer_t *a,
    ngx_array_t *parts, ngx_bedrock_block_kind_e kind, ngx_str_t *value);


ngx_int_t
ngx_bedrock_converse_init(ngx_bedrock_converse_t *conv, ngx_pool_t *pool,
    ngx_uint_t nturns)
{
    ngx_memzero(conv, sizeof(ngx_bedrock_converse_t));

    conv->pool = pool;

    if (ngx_array_init(&conv->system, pool, 2, sizeof(ngx_bedrock_block_t))
        != NGX_OK
        || ngx_array_init(&conv->turns, pool, ngx_max(nturns, 1),
                          sizeof(ngx_bedrock_turn_t))
           != NGX_OK
        || ngx_array_init(&conv->history_tools, pool, 2, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&conv->stop, pool, 1, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&conv->tools, pool, 1, sizeof(ngx_bedrock_tool_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The memory for yajl's handle and buffers while a tool call's arguments
 * are parsed, reset after each (see ngx_bedrock_converse_tool_use());
 * destroyed with temp
 */

#define NGX_BEDROCK_SCRATCH_SIZE  4096

ngx_pool_t *
ngx_bedrock_converse_scratch(ngx_pool_t *temp)
{
    ngx_pool_t          *scratch;
    ngx_pool_cleanup_t  *cln;

    scratch = ngx_create_pool(NGX_BEDROCK_SCRATCH_SIZE, temp->log);
    if (scratch == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(temp, 0);
    if (cln == NULL) {
        ngx_destroy_pool(scratch);
        return NULL;
    }

    cln->handler = ngx_bedrock_converse_scratch_free;
    cln->data = scratch;

    return scratch;
}


static void
ngx_bedrock_converse_scratch_free(void *data)
{
    ngx_destroy_pool(data);
}


/* a tool the client offers, in the order it gave them */

ngx_bedrock_tool_t *
ngx_bedrock_converse_tool(ngx_bedrock_converse_t *conv, ngx_str_t *name)
{
    ngx_bedrock_tool_t  *t;

    t = ngx_array_push(&conv->tools);
    if (t == NULL) {
        return NULL;
    }

    ngx_memzero(t, sizeof(ngx_bedrock_tool_t));
    t->name = *name;

    return t;
}


/* "inferenceConfig", when anything is set */

void
ngx_bedrock_converse_inference(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w)
{
    ngx_str_t   *stop;
    ngx_uint_t   i;

    if (conv->max_tokens.data == NULL && conv->temperature.data == NULL
        && conv->top_p.data == NULL && conv->stop.nelts == 0)
    {
        return;
    }

    ngx_bedrock_jw_key(w, "inferenceConfig");
    ngx_bedrock_jw_obj(w);

    if (conv->max_tokens.data) {
        ngx_bedrock_jw_key(w, "maxTokens");
        ngx_bedrock_jw_number(w, &conv->max_tokens);
    }

    if (conv->temperature.data) {
        ngx_bedrock_jw_key(w, "temperature");
        ngx_bedrock_jw_number(w, &conv->temperature);
    }

    if (conv->top_p.data) {
        ngx_bedrock_jw_key(w, "topP");
        ngx_bedrock_jw_number(w, &conv->top_p);
    }

    if (conv->stop.nelts) {
        ngx_bedrock_jw_key(w, "stopSequences");
        ngx_bedrock_jw_arr(w);

        stop = conv->stop.elts;

        for (i = 0; i < conv->stop.nelts; i++) {
            ngx_bedrock_jw_str(w, &stop[i]);
        }

        ngx_bedrock_jw_arr_end(w);
    }

    ngx_bedrock_jw_obj_end(w);
}


/*
 * A reasoning effort ("minimal" to "max"; "none": off) in the model
 * family's own terms, from the Bedrock model id: Claude takes a thinking
 * budget (maxTokens must stay above it, and temperature and topP must go),
 * Amazon Nova a reasoningConfig, OpenAI's gpt-oss a reasoning_effort.
 * Other families have no such field: NGX_DECLINED.
 */

#define NGX_BEDROCK_FAMILY_NOVA    1
#define NGX_BEDROCK_FAMILY_GPT_OSS 2

ngx_int_t
ngx_bedrock_converse_effort(ngx_bedrock_converse_t *conv, ngx_str_t *effort,
    ngx_str_t *id, ngx_uint_t claude)
{
    u_char      *p;
    ngx_int_t    max;
    ngx_uint_t   i, budget;

    static struct {
        ngx_str_t    name;
        ngx_uint_t   budget;
        char        *level;
    } efforts[] = {
        { ngx_string("minimal"), 1024, "low" },
        { ngx_string("low"), 2048, "low" },
        { ngx_string("medium"), 8192, "medium" },
        { ngx_string("high"), 16384, "high" },
        { ngx_string("xhigh"), 32768, "high" },
        { ngx_string("max"), 32768, "high" },
        { ngx_null_string, 0, NULL }
    };

    if (effort->len == 4 && ngx_strncmp(effort->data, "none", 4) == 0) {
        return NGX_OK;
    }

    for (i = 0; efforts[i].name.len; i++) {
        if (efforts[i].name.len == effort->len
            && ngx_strncmp(efforts[i].name.data, effort->data, effort->len)
               == 0)
        {
            break;
        }
    }

    if (efforts[i].name.len == 0) {
        return NGX_ABORT;
    }

    if (claude) {
        budget = efforts[i].budget;
        conv->thinking_budget = budget;

        /* the answer's own room comes on top of the budget */

        if (conv->max_tokens.data == NULL
            || ngx_atoi(conv->max_tokens.data, conv->max_tokens.len)
               == NGX_ERROR)
        {
            max = 4096;

        } else {
            max = ngx_atoi(conv->max_tokens.data, conv->max_tokens.len);
        }

        p = ngx_pnalloc(conv->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        conv->max_tokens.data = p;
        conv->max_tokens.len = ngx_sprintf(p, "%i",
                                           ngx_bedrock_sum(max, budget))
                               - p;

        ngx_str_null(&conv->temperature);
        ngx_str_null(&conv->top_p);

        return NGX_OK;
    }

    if (id->len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_strlcasestrn(id->data, id->data + id->len,
                         (u_char *) "amazon.nova", sizeof("amazon.nova") - 2)
        != NULL)
    {
        conv->effort = efforts[i].level;
        conv->effort_family = NGX_BEDROCK_FAMILY_NOVA;

        if (ngx_strcmp(conv->effort, "high") == 0) {
            ngx_str_null(&conv->temperature);
            ngx_str_null(&conv->top_p);
        }

        return NGX_OK;
    }

    if (ngx_strlcasestrn(id->data, id->data + id->len,
                         (u_char *) "openai.gpt-oss",
                         sizeof("openai.gpt-oss") - 2)
        != NULL)
    {
        conv->effort = efforts[i].level;
        conv->effort_family = NGX_BEDROCK_FAMILY_GPT_OSS;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * "outputConfig", "serviceTier", "performanceConfig" and
 * "additionalModelRequestFields", when set
 */

void
ngx_bedrock_converse_extra(ngx_bedrock_converse_t *conv, ngx_bedrock_jw_t *w)
{
    if (conv->service_tier) {
        ngx_bedrock_jw_key(w, "serviceTier");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, conv->service_tier);
        ngx_bedrock_jw_obj_end(w);
    }

    if (conv->latency_optimized) {
        ngx_bedrock_jw_key(w, "performanceConfig");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "latency");
        ngx_bedrock_jw_cstr(w, "optimized");
        ngx_bedrock_jw_obj_end(w);
    }

    if (conv->schema.data) {
        ngx_bedrock_jw_key(w, "outputConfig");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "textFormat");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "json_schema");
        ngx_bedrock_jw_key(w, "structure");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "jsonSchema");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "schema");
        ngx_bedrock_jw_str(w, &conv->schema);

        if (conv->schema_name.len) {
            ngx_bedrock_jw_key(w, "name");
            ngx_bedrock_jw_str(w, &conv->schema_name);
        }

        if (conv->schema_description.len) {
            ngx_bedrock_jw_key(w, "description");
            ngx_bedrock_jw_str(w, &conv->schema_description);
        }

        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
    }

    if (conv->thinking_budget == 0 && conv->effort == NULL) {
        return;
    }

    ngx_bedrock_jw_key(w, "additionalModelRequestFields");
    ngx_bedrock_jw_obj(w);

    if (conv->thinking_budget) {
        ngx_bedrock_jw_key(w, "thinking");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "enabled");
        ngx_bedrock_jw_key(w, "budget_tokens");
        ngx_bedrock_jw_int(w, conv->thinking_budget);
        ngx_bedrock_jw_obj_end(w);

    } else if (conv->effort_family == NGX_BEDROCK_FAMILY_NOVA) {
        ngx_bedrock_jw_key(w, "reasoningConfig");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "enabled");
        ngx_bedrock_jw_key(w, "maxReasoningEffort");
        ngx_bedrock_jw_cstr(w, conv->effort);
        ngx_bedrock_jw_obj_end(w);

    } else {
        ngx_bedrock_jw_key(w, "reasoning_effort");
        ngx_bedrock_jw_cstr(w, conv->effort);
    }

    ngx_bedrock_jw_obj_end(w);
}


/*
 * A document block of a user turn, its name (changed in place; NULL or
 * empty: "document") as Converse allows it: letters, digits, hyphens,
 * parentheses, square brackets and single spaces; the rest become "-",
 * and at most 200 characters are kept
 */

ngx_bedrock_block_t *
ngx_bedrock_converse_document(ngx_bedrock_converse_t *conv,
    ngx_str_t *format, ngx_str_t *data, ngx_str_t *name)
{
    ngx_bedrock_block_t  *b;

    b = ngx_bedrock_converse_block(conv, 0, NGX_BEDROCK_BLOCK_DOCUMENT);
    if (b == NULL) {
        return NULL;
    }

    b->format = *format;
    b->text = *data;

    if (name && name->len) {
        ngx_bedrock_converse_document_name(name);
        b->name = *name;
    }

    if (b->name.len == 0) {
        ngx_str_set(&b->name, "document");
    }

    return b;
}


static void
ngx_bedrock_converse_document_name(ngx_str_t *name)
{
    u_char      c, *p, *q;
    ngx_uint_t  space;

    space = 1;
    q = name->data;

    for (p = name->data; p < name->data + name->len; p++) {
        c = *p;

        if (c == ' ') {
            if (space) {
                continue;
            }

            space = 1;
            *q++ = c;
            continue;
        }

        space = 0;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '('
              || c == ')' || c == '[' || c == ']'))
        {
            c = '-';
        }

        *q++ = c;
    }

    while (q > name->data && q[-1] == ' ') {
        q--;
    }

    name->len = ngx_min((size_t) (q - name->data), 200);

    if (name->len == 0) {
        ngx_str_set(name, "document");
    }
}


/*
 * A client's service tier in Converse's terms: "priority", "default" and
 * "flex" are sent, "auto" is Bedrock's default and left out; NGX_ABORT
 * for any other
 */

ngx_int_t
ngx_bedrock_converse_service_tier(ngx_bedrock_converse_t *conv,
    ngx_str_t *tier)
{
    ngx_uint_t  i;

    static char  *tiers[] = { "priority", "default", "flex", NULL };

    if (tier->len == 4 && ngx_strncmp(tier->data, "auto", 4) == 0) {
        return NGX_OK;
    }

    for (i = 0; tiers[i]; i++) {
        if (ngx_strlen(tiers[i]) == tier->len
            && ngx_strncmp(tiers[i], tier->data, tier->len) == 0)
        {
            conv->service_tier = tiers[i];
            return NGX_OK;
        }
    }

    return NGX_ABORT;
}


/*
 * "cache_control": {"type": "ephemeral", "ttl": "5m" | "1h"}, as the
 * Anthropic API and OpenAI-compatible clients send it: NGX_OK with the
 * ttl (empty: Bedrock's default), NGX_DECLINED when there is none,
 * NGX_ABORT when it is not of that shape
 */

ngx_int_t
ngx_bedrock_converse_cache_control(ngx_bedrock_json_t *cc, ngx_str_t *ttl)
{
    ngx_bedrock_json_t  *type, *v;

    ngx_str_null(ttl);

    if (ngx_bedrock_json_is_null(cc)) {
        return NGX_DECLINED;
    }

    if (cc->type != NGX_BEDROCK_JSON_OBJECT) {
        return NGX_ABORT;
    }

    type = ngx_bedrock_json_get(cc, "type");

    if (type != NULL && !ngx_bedrock_json_is_str(type, "ephemeral")) {
        return NGX_ABORT;
    }

    v = ngx_bedrock_json_get(cc, "ttl");

    if (ngx_bedrock_json_is_null(v)) {
        return NGX_OK;
    }

    if (!ngx_bedrock_json_is_str(v, "5m") && !ngx_bedrock_json_is_str(v, "1h"))
    {
        return NGX_ABORT;
    }

    *ttl = v->value;

    return NGX_OK;
}


/*
 * The location's additions: performanceConfig, and cache points after
 * the tools, the system prompt and the conversation so far, as many as
 * fit under Bedrock's limit of 4 with the client's own.  Bedrock refuses
 * a longer ttl after a shorter one (tools, system, messages is the
 * order), so a point added takes "1h" when a client's later one has it.
 */

ngx_int_t
ngx_bedrock_converse_conf(ngx_bedrock_converse_t *conv,
    ngx_bedrock_converse_conf_t *conf)
{
    ngx_uint_t            i, j, n, hour_system, hour_messages;
    ngx_bedrock_turn_t   *turn;
    ngx_bedrock_tool_t   *tool;
    ngx_bedrock_block_t  *b;

    if (conf->latency_optimized) {
        conv->latency_optimized = 1;
    }

    if (conf->cache == 0) {
        return NGX_OK;
    }

    n = 0;
    hour_system = 0;
    hour_messages = 0;

    tool = conv->tools.elts;

    for (i = 0; i < conv->tools.nelts; i++) {
        n += tool[i].cache;
    }

    b = conv->system.elts;

    for (i = 0; i < conv->system.nelts; i++) {
        if (b[i].kind == NGX_BEDROCK_BLOCK_CACHE_POINT) {
            n++;
            hour_system |= (b[i].format.len == 2);
        }
    }

    turn = conv->turns.elts;

    for (i = 0; i < conv->turns.nelts; i++) {
        b = turn[i].blocks.elts;

        for (j = 0; j < turn[i].blocks.nelts; j++) {
            if (b[j].kind == NGX_BEDROCK_BLOCK_CACHE_POINT) {
                n++;
                hour_messages |= (b[j].format.len == 2);
            }
        }
    }

    if ((conf->cache & NGX_BEDROCK_CACHE_TOOLS)
        && conv->tools.nelts
        && n < NGX_BEDROCK_CACHE_MAX)
    {
        tool = &tool[conv->tools.nelts - 1];

        if (!tool->cache) {
            tool->cache = 1;
            n++;

            if (hour_system || hour_messages) {
                ngx_str_set(&tool->cache_ttl, "1h");
            }
        }
    }

    b = conv->system.elts;

    if ((conf->cache & NGX_BEDROCK_CACHE_SYSTEM)
        && conv->system.nelts
        && b[conv->system.nelts - 1].kind != NGX_BEDROCK_BLOCK_CACHE_POINT
        && n < NGX_BEDROCK_CACHE_MAX)
    {
        b = ngx_bedrock_converse_system(conv, NGX_BEDROCK_BLOCK_CACHE_POINT);
        if (b == NULL) {
            return NGX_ERROR;
        }

        n++;

        if (hour_messages) {
            ngx_str_set(&b->format, "1h");
        }
    }

    if ((conf->cache & NGX_BEDROCK_CACHE_MESSAGES)
        && conv->turn
        && conv->turn->blocks.nelts
        && n < NGX_BEDROCK_CACHE_MAX)
    {
        b = conv->turn->blocks.elts;

        if (b[conv->turn->blocks.nelts - 1].kind
            != NGX_BEDROCK_BLOCK_CACHE_POINT)
        {
            b = ngx_bedrock_converse_block(conv, conv->turn->assistant,
                                           NGX_BEDROCK_BLOCK_CACHE_POINT);
            if (b == NULL) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * "toolConfig": the client's tools and its choice.  Converse has no
 * "none" (the parsers then offer no tools), but accepts a history with
 * tool calls only together with a toolConfig, which then names just the
 * history's tools.
 */

void
ngx_bedrock_converse_tools(ngx_bedrock_converse_t *conv, ngx_bedrock_jw_t *w)
{
    ngx_uint_t           i;
    ngx_bedrock_tool_t  *t;

    if (conv->tools.nelts == 0 && conv->history_tools.nelts == 0) {
        return;
    }

    ngx_bedrock_jw_key(w, "toolConfig");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "tools");
    ngx_bedrock_jw_arr(w);

    if (conv->tools.nelts == 0) {
        ngx_bedrock_converse_history_tools(conv, w);
        ngx_bedrock_jw_arr_end(w);
        ngx_bedrock_jw_obj_end(w);
        return;
    }

    t = conv->tools.elts;

    for (i = 0; i < conv->tools.nelts; i++) {
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "toolSpec");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "name");
        ngx_bedrock_jw_str(w, &t[i].name);

        if (t[i].description.len) {
            ngx_bedrock_jw_key(w, "description");
            ngx_bedrock_jw_str(w, &t[i].description);
        }

        if (t[i].strict) {
            ngx_bedrock_jw_key(w, "strict");
            ngx_bedrock_jw_bool(w, 1);
        }

        ngx_bedrock_jw_key(w, "inputSchema");
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "json");

        if (t[i].schema) {
            ngx_bedrock_jw_value(w, t[i].schema);

        } else {
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_jw_key(w, "type");
            ngx_bedrock_jw_cstr(w, "object");
            ngx_bedrock_jw_key(w, "properties");
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_jw_obj_end(w);
            ngx_bedrock_jw_obj_end(w);
        }

        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);
        ngx_bedrock_jw_obj_end(w);

        if (t[i].cache) {
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_converse_cache_point(&t[i].cache_ttl, w);
            ngx_bedrock_jw_obj_end(w);
        }
    }

    ngx_bedrock_jw_arr_end(w);

    if (conv->tool_choice != NGX_BEDROCK_CHOICE_UNSET) {
        ngx_bedrock_jw_key(w, "toolChoice");
        ngx_bedrock_jw_obj(w);

        switch (conv->tool_choice) {

        case NGX_BEDROCK_CHOICE_TOOL:
            ngx_bedrock_jw_key(w, "tool");
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_jw_key(w, "name");
            ngx_bedrock_jw_str(w, &conv->tool_name);
            ngx_bedrock_jw_obj_end(w);
            break;

        default:
            ngx_bedrock_jw_key(w, (conv->tool_choice
                                   == NGX_BEDROCK_CHOICE_ANY)
                                  ? "any" : "auto");
            ngx_bedrock_jw_obj(w);
            ngx_bedrock_jw_obj_end(w);
            break;
        }

        ngx_bedrock_jw_obj_end(w);
    }

    ngx_bedrock_jw_obj_end(w);
}


/*
 * An assistant's tool call of an earlier turn: a toolUse block with its
 * arguments (JSON text; NULL or empty: none) parsed into jo's pool, with
 * yajl's memory in scratch, reset after; its name joins the history's
 * tools.  NGX_ABORT: the arguments are not UTF-8, NGX_DECLINED: not JSON
 * (error says why).
 */

ngx_int_t
ngx_bedrock_converse_tool_use(ngx_bedrock_converse_t *conv,
    ngx_bedrock_json_opts_t *jo, ngx_pool_t *scratch, ngx_str_t *id,
    ngx_str_t *name, ngx_str_t *args, ngx_str_t *error)
{
    ngx_int_t             rc;
    ngx_str_t            *used;
    ngx_bedrock_block_t  *b;

    b = ngx_bedrock_converse_block(conv, 1, NGX_BEDROCK_BLOCK_TOOL_USE);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->id = *id;
    b->name = *name;

    if (args && args->len) {
        jo->scratch = scratch;

        rc = ngx_bedrock_json_parse_opts(jo, args->data, args->len, &b->input,
                                         error);

        /* the parser's own memory serves the next one */

        ngx_reset_pool(scratch);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    used = ngx_array_push(&conv->history_tools);
    if (used == NULL) {
        return NGX_ERROR;
    }

    *used = *name;

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


/*
 * An image block; for an image the gateway fetches, its format and bytes
 * are empty strings, and the offsets of their insides are kept for
 * ngx_bedrock_converse_splice()
 */

static void
ngx_bedrock_converse_image(ngx_bedrock_converse_t *conv,
    ngx_bedrock_block_t *b, ngx_bedrock_jw_t *w)
{
    ngx_bedrock_image_url_t  *img;

    img = b->fetch ? (ngx_bedrock_image_url_t *) conv->images.elts
                     + b->fetch - 1
                   : NULL;

    ngx_bedrock_jw_key(w, "image");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "format");
    ngx_bedrock_jw_str(w, &b->format);

    if (img) {
        /* the writer has just written the closing quote */
        img->format_at = w->pos - w->start - 1;
    }

    ngx_bedrock_jw_key(w, "source");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "bytes");
    ngx_bedrock_jw_str(w, &b->text);

    if (img) {
        img->bytes_at = w->pos - w->start - 1;
    }

    ngx_bedrock_jw_obj_end(w);
    ngx_bedrock_jw_obj_end(w);
}


/*
 * An image the gateway is to fetch: a block whose format and bytes come
 * later.  NGX_DECLINED, with why in *msg, for a URL that is not one to
 * fetch or past NGX_BEDROCK_IMAGE_URLS_MAX.
 */

ngx_int_t
ngx_bedrock_converse_image_url(ngx_bedrock_converse_t *conv, ngx_str_t *url,
    ngx_str_t *param, char **msg)
{
    ngx_bedrock_url_t         u;
    ngx_bedrock_block_t      *b;
    ngx_bedrock_image_url_t  *img;

    *msg = ngx_bedrock_url_parse(url, &u);

    if (*msg != NULL) {
        return NGX_DECLINED;
    }

    if (conv->images.nalloc == 0
        && ngx_array_init(&conv->images, conv->pool, 1,
                          sizeof(ngx_bedrock_image_url_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (conv->images.nelts == NGX_BEDROCK_IMAGE_URLS_MAX) {
        *msg = "at most " ngx_bedrock_stringify(NGX_BEDROCK_IMAGE_URLS_MAX)
               " image URLs are fetched for one request";
        return NGX_DECLINED;
    }

    img = ngx_array_push(&conv->images);
    if (img == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(img, sizeof(ngx_bedrock_image_url_t));
    img->url = *url;
    img->param = *param;

    b = ngx_bedrock_converse_block(conv, 0, NGX_BEDROCK_BLOCK_IMAGE);
    if (b == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&b->format, "");
    ngx_str_set(&b->text, "");
    b->fetch = conv->images.nelts;

    return NGX_OK;
}


/*
 * The images to fetch, copied with their URLs and parameter names from
 * the translation's pool to "pool"; *images is NULL when there are none.
 * Called once the body is written.
 */

ngx_int_t
ngx_bedrock_converse_images(ngx_bedrock_converse_t *conv, ngx_pool_t *pool,
    ngx_array_t **images)
{
    ngx_uint_t                i;
    ngx_bedrock_image_url_t  *src, *dst;

    *images = NULL;

    if (conv->images.nelts == 0) {
        return NGX_OK;
    }

    *images = ngx_array_create(pool, conv->images.nelts,
                               sizeof(ngx_bedrock_image_url_t));
    if (*images == NULL) {
        return NGX_ERROR;
    }

    src = conv->images.elts;

    for (i = 0; i < conv->images.nelts; i++) {
        dst = ngx_array_push(*images);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        *dst = src[i];

        if (ngx_bedrock_str_copy(pool, &dst->url) != NGX_OK
            || ngx_bedrock_str_copy(pool, &dst->param) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static int ngx_cdecl
ngx_bedrock_splice_cmp(const void *one, const void *two)
{
    const ngx_bedrock_image_url_t  *a = *(ngx_bedrock_image_url_t **) one;
    const ngx_bedrock_image_url_t  *b = *(ngx_bedrock_image_url_t **) two;

    return (a->format_at > b->format_at) - (a->format_at < b->format_at);
}


/*
 * The body with each fetched image's format and base64 bytes put where
 * the writer left their empty strings.  Neither needs JSON escapes: a
 * format is a word and base64 is of its own alphabet.
 */

ngx_int_t
ngx_bedrock_converse_splice(ngx_pool_t *pool, ngx_str_t *body,
    ngx_array_t *images, ngx_str_t *out)
{
    u_char                    *p;
    size_t                     len, at;
    ngx_uint_t                 i;
    ngx_bedrock_image_url_t   *img, **sorted;

    img = images->elts;
    len = body->len;

    sorted = ngx_palloc(pool,
                        images->nelts * sizeof(ngx_bedrock_image_url_t *));
    if (sorted == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < images->nelts; i++) {
        if (img[i].format_at >= img[i].bytes_at
            || img[i].bytes_at >= body->len)
        {
            return NGX_ERROR;
        }

        sorted[i] = &img[i];
        len += img[i].format.len + img[i].data.len;
    }

    ngx_qsort(sorted, images->nelts, sizeof(ngx_bedrock_image_url_t *),
              ngx_bedrock_splice_cmp);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    at = 0;

    for (i = 0; i < images->nelts; i++) {
        if (sorted[i]->format_at < at) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(p, body->data + at, sorted[i]->format_at - at);
        p = ngx_cpymem(p, sorted[i]->format.data, sorted[i]->format.len);
        p = ngx_cpymem(p, body->data + sorted[i]->format_at,
                       sorted[i]->bytes_at - sorted[i]->format_at);
        p = ngx_cpymem(p, sorted[i]->data.data, sorted[i]->data.len);
        at = sorted[i]->bytes_at;
    }

    p = ngx_cpymem(p, body->data + at, body->len - at);

    out->len = p - out->data;

    return NGX_OK;
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
                ngx_bedrock_converse_image(conv, &b[k], w);
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

                if (b[k].format.len) {
                    ngx_bedrock_jw_key(w, "status");
                    ngx_bedrock_jw_str(w, &b[k].format);
                }

                ngx_bedrock_jw_obj_end(w);
                break;

            case NGX_BEDROCK_BLOCK_REASONING:
                ngx_bedrock_jw_key(w, "reasoningContent");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "reasoningText");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "text");
                ngx_bedrock_jw_str(w, &b[k].text);

                if (b[k].id.len) {
                    ngx_bedrock_jw_key(w, "signature");
                    ngx_bedrock_jw_str(w, &b[k].id);
                }

                ngx_bedrock_jw_obj_end(w);
                ngx_bedrock_jw_obj_end(w);
                break;

            case NGX_BEDROCK_BLOCK_REDACTED:
                ngx_bedrock_jw_key(w, "reasoningContent");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "redactedContent");
                ngx_bedrock_jw_str(w, &b[k].text);
                ngx_bedrock_jw_obj_end(w);
                break;

            case NGX_BEDROCK_BLOCK_CACHE_POINT:
                ngx_bedrock_converse_cache_point(&b[k].format, w);
                break;

            case NGX_BEDROCK_BLOCK_DOCUMENT:
                ngx_bedrock_jw_key(w, "document");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "format");
                ngx_bedrock_jw_str(w, &b[k].format);
                ngx_bedrock_jw_key(w, "name");
                ngx_bedrock_jw_str(w, &b[k].name);
                ngx_bedrock_jw_key(w, "source");
                ngx_bedrock_jw_obj(w);
                ngx_bedrock_jw_key(w, "bytes");
                ngx_bedrock_jw_str(w, &b[k].text);
                ngx_bedrock_jw_obj_end(w);
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


/* "cachePoint": {"type": "default"}, with a ttl when one is given */

static void
ngx_bedrock_converse_cache_point(ngx_str_t *ttl, ngx_bedrock_jw_t *w)
{
    ngx_bedrock_jw_key(w, "cachePoint");
    ngx_bedrock_jw_obj(w);
    ngx_bedrock_jw_key(w, "type");
    ngx_bedrock_jw_cstr(w, "default");

    if (ttl->len) {
        ngx_bedrock_jw_key(w, "ttl");
        ngx_bedrock_jw_str(w, ttl);
    }

    ngx_bedrock_jw_obj_end(w);
}


/* a system block: a text, or a cache point (its ttl in "format") */

ngx_bedrock_block_t *
ngx_bedrock_converse_system(ngx_bedrock_converse_t *conv,
    ngx_bedrock_block_kind_e kind)
{
    ngx_bedrock_block_t  *b;

    b = ngx_array_push(&conv->system);
    if (b == NULL) {
        return NULL;
    }

    ngx_memzero(b, sizeof(ngx_bedrock_block_t));
    b->kind = kind;

    return b;
}


/* "system", if there is any */

void
ngx_bedrock_converse_system_json(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w)
{
    ngx_uint_t            i;
    ngx_bedrock_block_t  *b;

    if (conv->system.nelts == 0) {
        return;
    }

    ngx_bedrock_jw_key(w, "system");
    ngx_bedrock_jw_arr(w);

    b = conv->system.elts;

    for (i = 0; i < conv->system.nelts; i++) {
        ngx_bedrock_jw_obj(w);

        if (b[i].kind == NGX_BEDROCK_BLOCK_CACHE_POINT) {
            ngx_bedrock_converse_cache_point(&b[i].format, w);

        } else {
            ngx_bedrock_jw_key(w, "text");
            ngx_bedrock_jw_str(w, &b[i].text);
        }

        ngx_bedrock_jw_obj_end(w);
    }

    ngx_bedrock_jw_arr_end(w);
}


/*
 * Converse accepts a history with tool calls only with a toolConfig that
 * names their tools: each of them once, inside "tools": [...]
 */

static void
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


/*
 * A Converse answer read into its parts, in "temp": its blocks in order,
 * the text and the reasoning each concatenated (data NULL: none), the
 * client's tool calls, the stop reason and the usage.  A server-side
 * tool's call and result are Bedrock's own and left out.  NGX_DECLINED:
 * not an answer a client can be given.
 */

ngx_int_t
ngx_bedrock_converse_answer(ngx_pool_t *temp, u_char *data, size_t len,
    ngx_bedrock_answer_t *a)
{
    ngx_int_t                 rc;
    ngx_str_t                 error;
    ngx_uint_t                budget;
    ngx_array_t               texts, thoughts;
    ngx_bedrock_json_t       *root, *content, *b, *v, *fn, *tool, *r;
    ngx_bedrock_block_t      *blk;
    ngx_bedrock_tool_call_t  *call;

    ngx_memzero(a, sizeof(ngx_bedrock_answer_t));

    budget = NGX_BEDROCK_ANSWER_VALUES;

    rc = ngx_bedrock_json_parse(temp, data, len, &budget, &root, &error);
    if (rc != NGX_OK) {
        return rc;
    }

    content = ngx_bedrock_json_get(
                  ngx_bedrock_json_get(ngx_bedrock_json_get(root, "output"),
                                       "message"),
                  "content");

    v = ngx_bedrock_json_get(root, "stopReason");

    if (content == NULL || content->type != NGX_BEDROCK_JSON_ARRAY
        || v == NULL || v->type != NGX_BEDROCK_JSON_STRING)
    {
        return NGX_DECLINED;
    }

    a->stop_reason = v->value;

    ngx_bedrock_usage(ngx_bedrock_json_get(root, "usage"), &a->usage);

    if (ngx_array_init(&texts, temp, 2, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&thoughts, temp, 1, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&a->blocks, temp, 4, sizeof(ngx_bedrock_block_t))
           != NGX_OK
        || ngx_array_init(&a->calls, temp, 1,
                          sizeof(ngx_bedrock_tool_call_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (b = content->child; b; b = b->next) {

        v = ngx_bedrock_json_get(b, "text");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            if (ngx_bedrock_answer_block(a, &texts, NGX_BEDROCK_BLOCK_TEXT,
                                         &v->value)
                == NULL)
            {
                return NGX_ERROR;
            }

            continue;
        }

        r = ngx_bedrock_json_get(b, "reasoningContent");

        if (r) {
            v = ngx_bedrock_json_get(r, "redactedContent");

            if (v && v->type == NGX_BEDROCK_JSON_STRING) {
                if (ngx_bedrock_answer_block(a, NULL,
                                             NGX_BEDROCK_BLOCK_REDACTED,
                                             &v->value)
                    == NULL)
                {
                    return NGX_ERROR;
                }

                continue;
            }

            r = ngx_bedrock_json_get(r, "reasoningText");
            v = ngx_bedrock_json_get(r, "text");

            if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
                continue;
            }

            blk = ngx_bedrock_answer_block(a, &thoughts,
                                           NGX_BEDROCK_BLOCK_REASONING,
                                           &v->value);
            if (blk == NULL) {
                return NGX_ERROR;
            }

            v = ngx_bedrock_json_get(r, "signature");

            if (v && v->type == NGX_BEDROCK_JSON_STRING) {
                blk->id = v->value;
            }

            continue;
        }

        /* citationsContent carries its text in generated content blocks */

        v = ngx_bedrock_json_get(ngx_bedrock_json_get(b, "citationsContent"),
                                 "content");

        for (v = v ? v->child : NULL; v; v = v->next) {
            tool = ngx_bedrock_json_get(v, "text");

            if (tool && tool->type == NGX_BEDROCK_JSON_STRING) {
                if (ngx_bedrock_answer_block(a, &texts,
                                             NGX_BEDROCK_BLOCK_TEXT,
                                             &tool->value)
                    == NULL)
                {
                    return NGX_ERROR;
                }
            }
        }

        tool = ngx_bedrock_json_get(b, "toolUse");

        if (tool == NULL
            || ngx_bedrock_json_is_str(ngx_bedrock_json_get(tool, "type"),
                                       "server_tool_use"))
        {
            continue;
        }

        /* what every dialect's tool call needs, or the answer is unusable */

        v = ngx_bedrock_json_get(tool, "toolUseId");
        fn = ngx_bedrock_json_get(tool, "name");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || fn == NULL || fn->type != NGX_BEDROCK_JSON_STRING)
        {
            return NGX_DECLINED;
        }

        call = ngx_array_push(&a->calls);
        blk = ngx_bedrock_answer_block(a, NULL, NGX_BEDROCK_BLOCK_TOOL_USE,
                                       &v->value);

        if (call == NULL || blk == NULL) {
            return NGX_ERROR;
        }

        call->id = v->value;
        call->name = fn->value;
        call->input = ngx_bedrock_json_get(tool, "input");

        blk->id = call->id;
        blk->name = call->name;
        blk->input = call->input;
    }

    if ((texts.nelts && ngx_bedrock_concat(temp, &texts, &a->text) != NGX_OK)
        || (thoughts.nelts
            && ngx_bedrock_concat(temp, &thoughts, &a->reasoning) != NGX_OK))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an answer's block, its text added to "parts" (if not NULL) as well */

static ngx_bedrock_block_t *
ngx_bedrock_answer_block(ngx_bedrock_answer_t *a, ngx_array_t *parts,
    ngx_bedrock_block_kind_e kind, ngx_str_t *value)
{
    ngx_str_t            *s;
    ngx_bedrock_block_t  *blk;

    if (parts) {
        s = ngx_array_push(parts);
        if (s == NULL) {
            return NULL;
        }

        *s = *value;
    }

    blk = ngx_array_push(&a->blocks);
    if (blk == NULL) {
        return NULL;
    }

    ngx_memzero(blk, sizeof(ngx_bedrock_block_t));
    blk->kind = kind;
    blk->text = *value;

    return blk;
}


/* Bedrock's TokenUsage; missing counts are 0 */

void
ngx_bedrock_usage(ngx_bedrock_json_t *usage, ngx_bedrock_usage_t *u)
{
    ngx_memzero(u, sizeof(ngx_bedrock_usage_t));

    (void) ngx_bedrock_json_int(ngx_bedrock_json_get(usage, "inputTokens"),
                                &u->input);
    (void) ngx_bedrock_json_int(ngx_bedrock_json_get(usage, "outputTokens"),
                                &u->output);
    (void) ngx_bedrock_json_int(ngx_bedrock_json_get(usage,
                                                     "cacheReadInputTokens"),
                                &u->cache_read);
    (void) ngx_bedrock_json_int(ngx_bedrock_json_get(usage,
                                                     "cacheWriteInputTokens"),
                                &u->cache_write);
}


/* counts are never negative (ngx_atoi()); a sum past the top stays there */

ngx_int_t
ngx_bedrock_sum(ngx_int_t a, ngx_int_t b)
{
    if (a < 0 || b < 0 || a > NGX_MAX_INT_T_VALUE - b) {
        return NGX_MAX_INT_T_VALUE;
    }

    return a + b;
}


/* the parts as one string; one part is not copied */

ngx_int_t
ngx_bedrock_concat(ngx_pool_t *pool, ngx_array_t *parts, ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = parts->elts;

    if (parts->nelts == 1) {
        *out = s[0];
        return NGX_OK;
    }

    len = 0;

    for (i = 0; i < parts->nelts; i++) {
        len += s[i].len;
    }

    out->len = len;
    out->data = (u_char *) "";

    if (len == 0) {
        return NGX_OK;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < parts->nelts; i++) {
        p = ngx_cpymem(p, s[i].data, s[i].len);
    }

    return NGX_OK;
}


static int ngx_cdecl
ngx_bedrock_str_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one;
    const ngx_str_t  *b = two;

    return (int) ngx_memn2cmp(a->data, b->data, a->len, b->len);
}


/*
 * A client's own Converse body with the location's guardrail: its
 * "guardrailConfig" replaced, or added.  NGX_DECLINED: not a JSON object.
 */

ngx_int_t
ngx_bedrock_converse_set_guardrail(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_guardrail_conf_t *g,
    ngx_uint_t stream, ngx_str_t *out)
{
    ngx_int_t                 rc;
    ngx_str_t                 error;
    ngx_uint_t                budget;
    ngx_bedrock_jw_t          w;
    ngx_bedrock_json_t       *root, *c;
    ngx_bedrock_json_opts_t   jo;

    ngx_memzero(&jo, sizeof(ngx_bedrock_json_opts_t));

    budget = NGX_BEDROCK_ANSWER_VALUES;

    jo.pool = temp;
    jo.budget = &budget;
    jo.strict = 1;

    rc = ngx_bedrock_json_parse_opts(&jo, data, len, &root, &error);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK || root->type != NGX_BEDROCK_JSON_OBJECT) {
        return NGX_DECLINED;
    }

    if (ngx_bedrock_jw_init(&w, temp, len + 256, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);

    for (c = root->child; c; c = c->next) {
        if (c->key.len == sizeof("guardrailConfig") - 1
            && ngx_strncmp(c->key.data, "guardrailConfig", c->key.len) == 0)
        {
            continue;
        }

        ngx_bedrock_jw_str(&w, &c->key);
        ngx_bedrock_jw_value(&w, c);
    }

    ngx_bedrock_converse_guardrail(g, stream, &w);
    ngx_bedrock_jw_obj_end(&w);

    return ngx_bedrock_jw_copy(&w, pool, out);
}


/*
 * The ConverseStream decoder: one frame at a time, the JSON parsed in a
 * scratch pool the caller resets after each frame.  NGX_OK with ev set
 * (NGX_BEDROCK_EVENT_NONE when there is nothing to send), NGX_DECLINED
 * with err when the stream must end with an error, NGX_ERROR.
 */

ngx_int_t
ngx_bedrock_events_init(ngx_bedrock_events_t *es, ngx_pool_t *pool)
{
    ngx_memzero(es, sizeof(ngx_bedrock_events_t));

    return ngx_array_init(&es->blocks, pool, 4,
                          sizeof(ngx_bedrock_events_block_t));
}


ngx_int_t
ngx_bedrock_events_next(ngx_bedrock_events_t *es, ngx_pool_t *scratch,
    ngx_bedrock_es_message_t *msg, ngx_bedrock_event_t *ev,
    ngx_bedrock_error_t *err)
{
    ngx_int_t                    rc;
    ngx_str_t                   *type;
    ngx_uint_t                   i;
    ngx_bedrock_json_t          *root, *v, *d, *t;
    ngx_bedrock_events_block_t  *b;

    ngx_memzero(ev, sizeof(ngx_bedrock_event_t));
    ev->block = -1;
    ev->tool = -1;

    type = &msg->event_type;

#define ngx_bedrock_event_is(s)                                              \
    (type->len == sizeof(s) - 1 && ngx_strncmp(type->data, s, type->len) == 0)

    /*
     * after messageStop only the metadata (usage) has a place: other
     * events are not even parsed
     */

    if (es->stopped
        && msg->message_type.len == 5
        && ngx_strncmp(msg->message_type.data, "event", 5) == 0
        && !ngx_bedrock_event_is("metadata"))
    {
        return NGX_OK;
    }

    rc = ngx_bedrock_events_frame(scratch, msg, &root, err);

    if (rc != NGX_OK) {
        return (rc == NGX_DONE) ? NGX_OK : rc;
    }

    if (root == NULL || root->type != NGX_BEDROCK_JSON_OBJECT) {
        ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                              "Bedrock sent an event that is not a JSON "
                              "object.");
        return NGX_DECLINED;
    }

    if (ngx_bedrock_json_int(ngx_bedrock_json_get(root, "contentBlockIndex"),
                             &ev->block)
        != NGX_OK)
    {
        ev->block = -1;
    }

    if (ngx_bedrock_event_is("messageStart")) {

        if (!es->started) {
            es->started = 1;
            ev->type = NGX_BEDROCK_EVENT_START;
        }

    } else if (ngx_bedrock_event_is("contentBlockStart")) {

        t = ngx_bedrock_json_get(ngx_bedrock_json_get(root, "start"),
                                 "toolUse");

        if (t == NULL) {
            return NGX_OK;
        }

        if (es->blocks.nelts >= NGX_BEDROCK_EVENTS_BLOCKS) {
            ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                                  "Bedrock sent more content blocks than "
                                  "this gateway accepts.");
            return NGX_DECLINED;
        }

        b = ngx_array_push(&es->blocks);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->block = ev->block;
        b->tool = -1;

        /*
         * only the client's tools become tool calls: a server-side tool
         * and its result are Bedrock's own business
         */

        if (ngx_bedrock_json_is_str(ngx_bedrock_json_get(t, "type"),
                                    "server_tool_use"))
        {
            return NGX_OK;
        }

        v = ngx_bedrock_json_get(t, "toolUseId");
        d = ngx_bedrock_json_get(t, "name");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING
            || d == NULL || d->type != NGX_BEDROCK_JSON_STRING)
        {
            ngx_bedrock_error_set(err, 502, "server_error", "upstream_error",
                                  "Bedrock sent a tool call without a "
                                  "string toolUseId and name.");
            return NGX_DECLINED;
        }

        b->tool = es->tools++;

        ev->type = NGX_BEDROCK_EVENT_TOOL_START;
        ev->tool = b->tool;
        ev->id = v->value;
        ev->name = d->value;

    } else if (ngx_bedrock_event_is("contentBlockDelta")) {

        d = ngx_bedrock_json_get(root, "delta");

        v = ngx_bedrock_json_get(d, "text");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            ev->type = NGX_BEDROCK_EVENT_TEXT;
            ev->text = v->value;
            return NGX_OK;
        }

        v = ngx_bedrock_json_get(ngx_bedrock_json_get(d, "toolUse"),
                                 "input");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            b = es->blocks.elts;

            for (i = es->blocks.nelts; i > 0; i--) {
                if (b[i - 1].block == ev->block) {
                    break;
                }
            }

            if (i == 0 || b[i - 1].tool < 0) {
                return NGX_OK;
            }

            ev->type = NGX_BEDROCK_EVENT_TOOL_INPUT;
            ev->tool = b[i - 1].tool;
            ev->text = v->value;
            return NGX_OK;
        }

        t = ngx_bedrock_json_get(d, "reasoningContent");

        if (t == NULL) {

            /* citations, tool results, types added later: not shown */

            return NGX_OK;
        }

        v = ngx_bedrock_json_get(t, "redactedContent");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            ev->type = NGX_BEDROCK_EVENT_REDACTED;
            ev->text = v->value;
            return NGX_OK;
        }

        ev->type = NGX_BEDROCK_EVENT_REASONING;

        v = ngx_bedrock_json_get(t, "text");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            ev->text = v->value;
        }

        v = ngx_bedrock_json_get(t, "signature");

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            ev->signature = v->value;
        }

    } else if (ngx_bedrock_event_is("contentBlockStop")) {
        ev->type = NGX_BEDROCK_EVENT_BLOCK_STOP;

    } else if (ngx_bedrock_event_is("messageStop")) {
        v = ngx_bedrock_json_get(root, "stopReason");

        es->stop_reason.data = es->stop_reason_data;
        es->stop_reason.len = 0;

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            es->stop_reason.len = ngx_min(v->value.len,
                                          sizeof(es->stop_reason_data));
            ngx_memcpy(es->stop_reason_data, v->value.data,
                       es->stop_reason.len);
        }

        es->stopped = 1;
        ev->type = NGX_BEDROCK_EVENT_STOP;

    } else if (ngx_bedrock_event_is("metadata")) {
        v = ngx_bedrock_json_get(root, "usage");

        if (v) {
            ngx_bedrock_usage(v, &es->usage);
            es->has_usage = 1;
            ev->type = NGX_BEDROCK_EVENT_USAGE;
        }
    }

    /* event types added later: nothing to send */

#undef ngx_bedrock_event_is

    return NGX_OK;
}


/*
 * A stream frame's payload parsed, for ConverseStream and for
 * InvokeModelWithResponseStream alike: NGX_OK for an event (root may be
 * NULL), NGX_DONE for a frame of another kind, NGX_DECLINED with err for
 * an exception or error frame
 */

ngx_int_t
ngx_bedrock_events_frame(ngx_pool_t *scratch, ngx_bedrock_es_message_t *msg,
    ngx_bedrock_json_t **root, ngx_bedrock_error_t *err)
{
    ngx_int_t            rc;
    ngx_str_t           *type, detail, error;
    ngx_uint_t           budget;
    ngx_bedrock_json_t  *v;

    *root = NULL;
    budget = NGX_BEDROCK_EVENT_VALUES;

    if (msg->payload.len) {
        rc = ngx_bedrock_json_parse(scratch, msg->payload.data,
                                    msg->payload.len, &budget, root, &error);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if ((msg->message_type.len == 9
         && ngx_strncmp(msg->message_type.data, "exception", 9) == 0)
        || (msg->message_type.len == 5
            && ngx_strncmp(msg->message_type.data, "error", 5) == 0))
    {
        type = msg->exception_type.len ? &msg->exception_type
                                       : &msg->error_code;

        ngx_str_null(&detail);

        v = ngx_bedrock_json_get(*root, "message");

        if (v && v->type == NGX_BEDROCK_JSON_STRING && v->value.len) {
            detail = v->value;

        } else if (msg->error_message.len) {
            detail = msg->error_message;
        }

        rc = ngx_bedrock_exception_error(scratch, type, &detail, err);

        return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
    }

    if (msg->message_type.len != 5
        || ngx_strncmp(msg->message_type.data, "event", 5) != 0)
    {
        return NGX_DONE;
    }

    return NGX_OK;
}
