
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdlib.h>

#include "ngx_http_bedrock_embeddings.h"


/* JSON values one request may hold */
#define NGX_BEDROCK_EMBED_VALUES    (256 * 1024)

/* the longest number text read as a float */
#define NGX_BEDROCK_EMBED_NUMBER    64


typedef struct {
    ngx_pool_t                 *out;
    ngx_bedrock_error_t        *err;
} ngx_bedrock_embed_ctx_t;


static ngx_int_t ngx_bedrock_embed_invalid(ngx_bedrock_embed_ctx_t *ctx,
    char *param, const char *fmt, ...);
static ngx_int_t ngx_bedrock_embed_input(ngx_bedrock_embed_ctx_t *ctx,
    ngx_bedrock_json_t *input, ngx_bedrock_embeddings_t *e);
static ngx_int_t ngx_bedrock_embed_options(ngx_bedrock_embed_ctx_t *ctx,
    ngx_bedrock_json_t *root, ngx_bedrock_embeddings_t *e, ngx_str_t *id);
static ngx_int_t ngx_bedrock_embed_vector(ngx_pool_t *pool,
    ngx_bedrock_embeddings_t *e, ngx_bedrock_json_t *v, ngx_str_t *out);


ngx_int_t
ngx_bedrock_embeddings_request(ngx_pool_t *pool, ngx_pool_t *temp,
    u_char *data, size_t len, ngx_bedrock_embeddings_t *e,
    ngx_bedrock_error_t *err)
{
    ngx_int_t                 rc;
    ngx_str_t                 error, id;
    ngx_uint_t                budget;
    ngx_bedrock_json_t       *root, *v;
    ngx_bedrock_json_opts_t   jo;
    ngx_bedrock_embed_ctx_t   ctx;

    ctx.out = pool;
    ctx.err = err;

    if (memchr(data, '\0', len) != NULL) {
        return ngx_bedrock_embed_invalid(&ctx, NULL, "We could not parse the "
                                         "JSON body of your request: it "
                                         "contains a NUL byte.");
    }

    ngx_memzero(&jo, sizeof(ngx_bedrock_json_opts_t));
    budget = NGX_BEDROCK_EMBED_VALUES;
    jo.pool = temp;
    jo.budget = &budget;
    jo.strict = 1;

    rc = ngx_bedrock_json_parse_opts(&jo, data, len, &root, &error);

    if (rc == NGX_ABORT) {
        return ngx_bedrock_embed_invalid(&ctx, NULL, "The request body is "
                                         "not valid UTF-8: it must be UTF-8 "
                                         "JSON.");
    }

    if (rc == NGX_DECLINED) {
        return ngx_bedrock_embed_invalid(&ctx, NULL, "We could not parse the "
                                         "JSON body of your request (%V).",
                                         &error);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT) {
        return ngx_bedrock_embed_invalid(&ctx, NULL, "The request body must "
                                         "be a JSON object.");
    }

    v = ngx_bedrock_json_get(root, "model");

    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0)
    {
        return ngx_bedrock_embed_invalid(&ctx, "model", "you must provide a "
                                         "model parameter");
    }

    e->model = v->value;

    if (ngx_bedrock_str_copy(pool, &e->model) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&id);

    if (e->model_check) {
        rc = e->model_check(e->data, &e->model, &id);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_ABORT : NGX_ERROR;
        }
    }

#define ngx_bedrock_id_has(s)                                                \
    (ngx_strlcasestrn(id.data, id.data + id.len, (u_char *) s,               \
                      sizeof(s) - 2)                                         \
     != NULL)

    if (id.len == 0) {
        e->family = 0;

    } else if (ngx_bedrock_id_has("titan-embed")) {
        e->family = NGX_BEDROCK_EMBED_TITAN;

    } else if (ngx_bedrock_id_has("cohere.embed")) {
        e->family = NGX_BEDROCK_EMBED_COHERE;

    } else if (ngx_bedrock_id_has("nova") && ngx_bedrock_id_has("embed")) {
        e->family = NGX_BEDROCK_EMBED_NOVA;
    }

    if (e->family == 0) {
        return ngx_bedrock_embed_invalid(&ctx, "model", "'%V' is not an "
                                         "embedding model this gateway "
                                         "knows: use Amazon Titan Text "
                                         "Embeddings, Cohere Embed or Amazon "
                                         "Nova multimodal embeddings",
                                         &e->model);
    }

    rc = ngx_bedrock_embed_input(&ctx, ngx_bedrock_json_get(root, "input"),
                                 e);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_bedrock_embed_options(&ctx, root, e, &id);

#undef ngx_bedrock_id_has

    if (rc != NGX_OK) {
        return rc;
    }

    if (e->family == NGX_BEDROCK_EMBED_COHERE) {
        e->calls = (e->inputs.nelts + NGX_BEDROCK_EMBED_BATCH - 1)
                   / NGX_BEDROCK_EMBED_BATCH;

    } else {
        e->calls = e->inputs.nelts;
    }

    e->vectors = ngx_pcalloc(pool, e->inputs.nelts * sizeof(ngx_str_t));
    if (e->vectors == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* "input": a string or an array of strings, none empty; copied */

static ngx_int_t
ngx_bedrock_embed_input(ngx_bedrock_embed_ctx_t *ctx,
    ngx_bedrock_json_t *input, ngx_bedrock_embeddings_t *e)
{
    ngx_str_t           *s;
    ngx_uint_t           n;
    ngx_bedrock_json_t  *v;

    if (input == NULL || input->type == NGX_BEDROCK_JSON_NULL) {
        return ngx_bedrock_embed_invalid(ctx, "input", "you must provide an "
                                         "input parameter");
    }

    if (input->type == NGX_BEDROCK_JSON_ARRAY) {
        if (input->n == 0 || input->n > NGX_BEDROCK_EMBED_INPUTS) {
            return ngx_bedrock_embed_invalid(ctx, "input", "input must hold "
                                             "1 to %d strings",
                                             NGX_BEDROCK_EMBED_INPUTS);
        }

        n = input->n;
        v = input->child;

    } else {
        n = 1;
        v = input;
    }

    if (ngx_array_init(&e->inputs, ctx->out, n, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for ( /* void */ ; v; v = (input->type == NGX_BEDROCK_JSON_ARRAY)
                              ? v->next : NULL)
    {
        if (v->type == NGX_BEDROCK_JSON_NUMBER
            || v->type == NGX_BEDROCK_JSON_ARRAY)
        {
            return ngx_bedrock_embed_invalid(ctx, "input", "token arrays are "
                                             "not supported by Bedrock's "
                                             "embedding models: send the "
                                             "text");
        }

        if (v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0) {
            return ngx_bedrock_embed_invalid(ctx, "input", "input must be a "
                                             "non-empty string or an array "
                                             "of non-empty strings");
        }

        s = ngx_array_push(&e->inputs);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = v->value;

        if (ngx_bedrock_str_copy(ctx->out, s) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_embed_options(ngx_bedrock_embed_ctx_t *ctx,
    ngx_bedrock_json_t *root, ngx_bedrock_embeddings_t *e, ngx_str_t *id)
{
    ngx_int_t            n;
    ngx_uint_t           i;
    ngx_uint_t          *dims;
    ngx_bedrock_json_t  *v;

    static ngx_uint_t  titan[] = { 256, 512, 1024, 0 };
    static ngx_uint_t  cohere4[] = { 256, 512, 1024, 1536, 0 };
    static ngx_uint_t  nova[] = { 256, 384, 1024, 3072, 0 };
    static ngx_uint_t  none[] = { 0 };

    static char  *types[] = { "search_document", "search_query",
                              "classification", "clustering", NULL };

    v = ngx_bedrock_json_get(root, "encoding_format");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_is_str(v, "base64")) {
            e->base64 = 1;

        } else if (!ngx_bedrock_json_is_str(v, "float")) {
            return ngx_bedrock_embed_invalid(ctx, "encoding_format",
                                             "encoding_format must be "
                                             "'float' or 'base64'");
        }
    }

    e->normalize = -1;

    v = ngx_bedrock_json_get(root, "normalize");

    if (!ngx_bedrock_json_is_null(v)) {
        if (v->type != NGX_BEDROCK_JSON_TRUE
            && v->type != NGX_BEDROCK_JSON_FALSE)
        {
            return ngx_bedrock_embed_invalid(ctx, "normalize", "normalize "
                                             "must be a boolean");
        }

        e->normalize = (v->type == NGX_BEDROCK_JSON_TRUE);
    }

    switch (e->family) {

    case NGX_BEDROCK_EMBED_TITAN:
        dims = titan;
        break;

    case NGX_BEDROCK_EMBED_NOVA:
        dims = nova;
        break;

    default:
        dims = (ngx_strlcasestrn(id->data, id->data + id->len,
                                 (u_char *) "embed-v4",
                                 sizeof("embed-v4") - 2)
                != NULL)
               ? cohere4 : none;
        break;
    }

    v = ngx_bedrock_json_get(root, "dimensions");

    if (!ngx_bedrock_json_is_null(v)) {
        if (ngx_bedrock_json_int(v, &n) != NGX_OK || n < 1) {
            return ngx_bedrock_embed_invalid(ctx, "dimensions", "dimensions "
                                             "must be a positive integer");
        }

        for (i = 0; dims[i]; i++) {
            if (dims[i] == (ngx_uint_t) n) {
                break;
            }
        }

        if (dims[i] == 0) {
            return ngx_bedrock_embed_invalid(ctx, "dimensions", "%V does not "
                                             "offer %i dimensions%s",
                                             &e->model, n,
                                             dims[0] ? "" : ": it has one "
                                             "size only");
        }

        e->dimensions = n;
    }

    ngx_str_set(&e->input_type, "search_document");

    v = ngx_bedrock_json_get(root, "input_type");

    if (!ngx_bedrock_json_is_null(v)) {
        for (i = 0; types[i]; i++) {
            if (v->type == NGX_BEDROCK_JSON_STRING
                && v->value.len == ngx_strlen(types[i])
                && ngx_strncmp(v->value.data, types[i], v->value.len) == 0)
            {
                break;
            }
        }

        if (types[i] == NULL) {
            return ngx_bedrock_embed_invalid(ctx, "input_type", "input_type "
                                             "must be 'search_document', "
                                             "'search_query', "
                                             "'classification' or "
                                             "'clustering'");
        }

        e->input_type = v->value;
    }

    v = ngx_bedrock_json_get(root, "truncate");

    if (!ngx_bedrock_json_is_null(v)) {
        if (!ngx_bedrock_json_is_str(v, "NONE")
            && !ngx_bedrock_json_is_str(v, "START")
            && !ngx_bedrock_json_is_str(v, "END")
            && !ngx_bedrock_json_is_str(v, "LEFT")
            && !ngx_bedrock_json_is_str(v, "RIGHT"))
        {
            return ngx_bedrock_embed_invalid(ctx, "truncate", "truncate must "
                                             "be 'NONE', 'START', 'END', "
                                             "'LEFT' or 'RIGHT'");
        }

        e->truncate = v->value;
    }

    return ngx_bedrock_str_copy(ctx->out, &e->input_type) == NGX_OK
           && ngx_bedrock_str_copy(ctx->out, &e->truncate) == NGX_OK
           ? NGX_OK : NGX_ERROR;
}


/* the InvokeModel body of one call */

ngx_int_t
ngx_bedrock_embeddings_body(ngx_pool_t *pool, ngx_bedrock_embeddings_t *e,
    ngx_uint_t call, ngx_str_t *body)
{
    size_t             size;
    ngx_str_t         *in;
    ngx_uint_t         i, first, last;
    ngx_bedrock_jw_t   w;

    in = e->inputs.elts;

    if (e->family == NGX_BEDROCK_EMBED_COHERE) {
        first = call * NGX_BEDROCK_EMBED_BATCH;
        last = ngx_min(first + NGX_BEDROCK_EMBED_BATCH, e->inputs.nelts);

    } else {
        first = call;
        last = call + 1;
    }

    size = 256;

    for (i = first; i < last; i++) {
        size += in[i].len + 8;
    }

    if (ngx_bedrock_jw_init(&w, pool, size, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);

    switch (e->family) {

    case NGX_BEDROCK_EMBED_TITAN:
        ngx_bedrock_jw_key(&w, "inputText");
        ngx_bedrock_jw_str(&w, &in[first]);

        if (e->dimensions) {
            ngx_bedrock_jw_key(&w, "dimensions");
            ngx_bedrock_jw_int(&w, e->dimensions);
        }

        if (e->normalize != -1) {
            ngx_bedrock_jw_key(&w, "normalize");
            ngx_bedrock_jw_bool(&w, e->normalize);
        }

        break;

    case NGX_BEDROCK_EMBED_NOVA:
        ngx_bedrock_jw_key(&w, "schemaVersion");
        ngx_bedrock_jw_cstr(&w, "nova-multimodal-embed-v1");
        ngx_bedrock_jw_key(&w, "taskType");
        ngx_bedrock_jw_cstr(&w, "SINGLE_EMBEDDING");
        ngx_bedrock_jw_key(&w, "singleEmbeddingParams");
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "embeddingPurpose");
        ngx_bedrock_jw_cstr(&w, "GENERIC_INDEX");
        ngx_bedrock_jw_key(&w, "embeddingDimension");
        ngx_bedrock_jw_int(&w, e->dimensions ? e->dimensions : 3072);
        ngx_bedrock_jw_key(&w, "text");
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "truncationMode");
        ngx_bedrock_jw_cstr(&w, "END");
        ngx_bedrock_jw_key(&w, "value");
        ngx_bedrock_jw_str(&w, &in[first]);
        ngx_bedrock_jw_obj_end(&w);
        ngx_bedrock_jw_obj_end(&w);
        break;

    default: /* NGX_BEDROCK_EMBED_COHERE */
        ngx_bedrock_jw_key(&w, "texts");
        ngx_bedrock_jw_arr(&w);

        for (i = first; i < last; i++) {
            ngx_bedrock_jw_str(&w, &in[i]);
        }

        ngx_bedrock_jw_arr_end(&w);
        ngx_bedrock_jw_key(&w, "input_type");
        ngx_bedrock_jw_str(&w, &e->input_type);

        if (e->truncate.len) {
            ngx_bedrock_jw_key(&w, "truncate");
            ngx_bedrock_jw_str(&w, &e->truncate);
        }

        ngx_bedrock_jw_key(&w, "embedding_types");
        ngx_bedrock_jw_arr(&w);
        ngx_bedrock_jw_cstr(&w, "float");
        ngx_bedrock_jw_arr_end(&w);

        if (e->dimensions) {
            ngx_bedrock_jw_key(&w, "output_dimension");
            ngx_bedrock_jw_int(&w, e->dimensions);
        }

        break;
    }

    ngx_bedrock_jw_obj_end(&w);

    return ngx_bedrock_jw_copy(&w, pool, body);
}


/*
 * One call's answer: its vectors, written in the client's encoding, and
 * its tokens (Bedrock's header when it sent one, else the body's count).
 * NGX_DECLINED for an answer that is not what the family sends.
 */

ngx_int_t
ngx_bedrock_embeddings_answer(ngx_pool_t *pool, ngx_pool_t *temp,
    ngx_bedrock_embeddings_t *e, ngx_uint_t call, u_char *data, size_t len,
    ngx_int_t header_tokens)
{
    ngx_int_t            rc, n;
    ngx_str_t            error;
    ngx_uint_t           first, count, i;
    ngx_bedrock_json_t  *root, *v, *tokens;

    rc = ngx_bedrock_json_parse(temp, data, len, NULL, &root, &error);

    if (rc != NGX_OK) {
        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_DECLINED;
    }

    if (root->type != NGX_BEDROCK_JSON_OBJECT) {
        return NGX_DECLINED;
    }

    tokens = NULL;

    switch (e->family) {

    case NGX_BEDROCK_EMBED_TITAN:
        v = ngx_bedrock_json_get(root, "embedding");
        tokens = ngx_bedrock_json_get(root, "inputTextTokenCount");

        if (ngx_bedrock_embed_vector(pool, e, v, &e->vectors[call]) != NGX_OK)
        {
            return NGX_DECLINED;
        }

        break;

    case NGX_BEDROCK_EMBED_NOVA:
        v = ngx_bedrock_json_get(root, "embeddings");

        if (v == NULL || v->type != NGX_BEDROCK_JSON_ARRAY || v->n == 0) {
            return NGX_DECLINED;
        }

        v = ngx_bedrock_json_get(v->child, "embedding");
        tokens = ngx_bedrock_json_get(root, "inputTokenCount");

        if (ngx_bedrock_embed_vector(pool, e, v, &e->vectors[call]) != NGX_OK)
        {
            return NGX_DECLINED;
        }

        break;

    default: /* NGX_BEDROCK_EMBED_COHERE */
        v = ngx_bedrock_json_get(root, "embeddings");

        if (v && v->type == NGX_BEDROCK_JSON_OBJECT) {
            v = ngx_bedrock_json_get(v, "float");
        }

        first = call * NGX_BEDROCK_EMBED_BATCH;
        count = ngx_min(NGX_BEDROCK_EMBED_BATCH, e->inputs.nelts - first);

        if (v == NULL || v->type != NGX_BEDROCK_JSON_ARRAY || v->n != count) {
            return NGX_DECLINED;
        }

        for (v = v->child, i = first; v; v = v->next, i++) {
            if (ngx_bedrock_embed_vector(pool, e, v, &e->vectors[i])
                != NGX_OK)
            {
                return NGX_DECLINED;
            }
        }

        break;
    }

    if (header_tokens >= 0) {
        e->tokens += header_tokens;

    } else if (ngx_bedrock_json_int(tokens, &n) == NGX_OK && n >= 0) {
        e->tokens += n;
    }

    return NGX_OK;
}


/*
 * A vector as the client gets it: the JSON array of Bedrock's numbers as
 * they were written, or base64 of little-endian float32, as OpenAI's
 * encoding_format "base64" is
 */

static ngx_int_t
ngx_bedrock_embed_vector(ngx_pool_t *pool, ngx_bedrock_embeddings_t *e,
    ngx_bedrock_json_t *v, ngx_str_t *out)
{
    u_char              *p, num[NGX_BEDROCK_EMBED_NUMBER + 1];
    size_t               size;
    float                f;
    uint32_t             bits;
    ngx_str_t            raw;
    ngx_bedrock_json_t  *x;

    if (v == NULL || v->type != NGX_BEDROCK_JSON_ARRAY || v->n == 0) {
        return NGX_DECLINED;
    }

    size = 2;

    for (x = v->child; x; x = x->next) {
        if (x->type != NGX_BEDROCK_JSON_NUMBER
            || x->value.len > NGX_BEDROCK_EMBED_NUMBER)
        {
            return NGX_DECLINED;
        }

        size += x->value.len + 1;
    }

    if (!e->base64) {
        p = ngx_pnalloc(pool, size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->data = p;
        *p++ = '[';

        for (x = v->child; x; x = x->next) {
            p = ngx_cpymem(p, x->value.data, x->value.len);
            *p++ = x->next ? ',' : ']';
        }

        out->len = p - out->data;

        return NGX_OK;
    }

    raw.len = v->n * 4;
    raw.data = ngx_pnalloc(pool, raw.len);
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    p = raw.data;

    for (x = v->child; x; x = x->next) {
        ngx_memcpy(num, x->value.data, x->value.len);
        num[x->value.len] = '\0';

        f = strtof((char *) num, NULL);
        ngx_memcpy(&bits, &f, 4);

        *p++ = (u_char) bits;
        *p++ = (u_char) (bits >> 8);
        *p++ = (u_char) (bits >> 16);
        *p++ = (u_char) (bits >> 24);
    }

    out->len = ngx_base64_encoded_length(raw.len) + 2;
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->data[0] = '"';
    out->len -= 2;
    out->data++;

    ngx_encode_base64(out, &raw);

    out->data--;
    out->data[out->len + 1] = '"';
    out->len += 2;

    ngx_pfree(pool, raw.data);

    return NGX_OK;
}


/* the OpenAI list, in input order */

ngx_int_t
ngx_bedrock_embeddings_response(ngx_pool_t *pool,
    ngx_bedrock_embeddings_t *e, ngx_str_t *body)
{
    u_char      *p;
    size_t       size;
    uintptr_t    escape;
    ngx_uint_t   i;

    escape = ngx_escape_json(NULL, e->model.data, e->model.len);

    size = sizeof("{\"object\":\"list\",\"data\":[],\"model\":\"\","
                  "\"usage\":{\"prompt_tokens\":,\"total_tokens\":}}") - 1
           + e->model.len + escape + 2 * NGX_INT_T_LEN;

    for (i = 0; i < e->inputs.nelts; i++) {
        size += sizeof("{\"object\":\"embedding\",\"index\":,"
                       "\"embedding\":},") - 1
                + NGX_INT_T_LEN + e->vectors[i].len;
    }

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    p = ngx_cpymem(p, "{\"object\":\"list\",\"data\":[",
                   sizeof("{\"object\":\"list\",\"data\":[") - 1);

    for (i = 0; i < e->inputs.nelts; i++) {
        p = ngx_sprintf(p, "%s{\"object\":\"embedding\",\"index\":%ui,"
                        "\"embedding\":", i ? "," : "", i);
        p = ngx_cpymem(p, e->vectors[i].data, e->vectors[i].len);
        *p++ = '}';
    }

    p = ngx_cpymem(p, "],\"model\":\"", sizeof("],\"model\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, e->model.data, e->model.len);
    p = ngx_sprintf(p, "\",\"usage\":{\"prompt_tokens\":%i,"
                    "\"total_tokens\":%i}}", e->tokens, e->tokens);

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_embed_invalid(ngx_bedrock_embed_ctx_t *ctx, char *param,
    const char *fmt, ...)
{
    ngx_int_t   rc;
    va_list     args;
    ngx_str_t  *p;

    p = NULL;

    if (param) {
        p = ngx_palloc(ctx->out, sizeof(ngx_str_t));
        if (p == NULL) {
            return NGX_ERROR;
        }

        p->data = (u_char *) param;
        p->len = ngx_strlen(param);
    }

    va_start(args, fmt);
    rc = ngx_bedrock_error_invalid(ctx->out, ctx->err, p, fmt, args);
    va_end(args);

    return rc;
}
