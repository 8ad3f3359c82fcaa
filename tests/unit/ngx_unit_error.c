
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_error.h"


/*
 * ngx_bedrock_error_render(): one error in each client dialect.  The
 * expected bodies are written out by hand, from OpenAI's and Anthropic's
 * documented shapes.
 */


typedef struct {
    char                   *name;
    ngx_uint_t              status;
    char                   *type;
    char                   *code;
    char                   *message;
    ngx_bedrock_dialect_e   dialect;
    char                   *want;
} ngx_unit_error_case_t;


static ngx_unit_error_case_t  ngx_unit_error_cases[] = {

    { "error/openai-404", 404, "invalid_request_error", "model_not_found",
      "The model x does not exist.", NGX_BEDROCK_DIALECT_OPENAI,
      "{\"error\":{\"message\":\"The model x does not exist.\","
      "\"type\":\"invalid_request_error\",\"param\":null,"
      "\"code\":\"model_not_found\"}}" },

    { "error/anthropic-404", 404, "invalid_request_error", "model_not_found",
      "The model x does not exist.", NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
      "\"message\":\"The model x does not exist.\"}}" },

    { "error/anthropic-400", 400, "invalid_request_error", NULL, "bad",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
      "\"message\":\"bad\"}}" },

    { "error/anthropic-405", 405, "invalid_request_error", NULL, "POST",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
      "\"message\":\"POST\"}}" },

    { "error/anthropic-401", 401, "invalid_request_error", "invalid_api_key",
      "no key", NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
      "\"message\":\"no key\"}}" },

    { "error/anthropic-403", 403, "permission_error", "access_denied", "no",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\","
      "\"message\":\"no\"}}" },

    { "error/anthropic-413", 413, "invalid_request_error", NULL, "big",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large\","
      "\"message\":\"big\"}}" },

    { "error/anthropic-429", 429, "rate_limit_error", "rate_limit_exceeded",
      "slow down", NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
      "\"message\":\"slow down\"}}" },

    { "error/anthropic-502", 502, "server_error", "upstream_error", "down",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
      "\"message\":\"down\"}}" },

    { "error/anthropic-504", 504, "server_error", "upstream_timeout", "late",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"timeout_error\","
      "\"message\":\"late\"}}" },

    { "error/anthropic-529", 529, "server_error", NULL, "Overloaded",
      NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}" },

    { "error/anthropic-bad-utf8", 400, "invalid_request_error", NULL,
      "a\xc0\xaf", NGX_BEDROCK_DIALECT_ANTHROPIC,
      "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
      "\"message\":\"a\xef\xbf\xbd\xef\xbf\xbd\"}}" },

    { NULL, 0, NULL, NULL, NULL, 0, NULL }
};


void
ngx_unit_error(void)
{
    ngx_str_t               out;
    ngx_pool_t             *pool;
    ngx_bedrock_error_t     err;
    ngx_unit_error_case_t  *c;

    pool = ngx_unit_pool();

    for (c = ngx_unit_error_cases; c->name; c++) {
        ngx_bedrock_error_set(&err, c->status, c->type, c->code, c->message);

        if (ngx_bedrock_error_render(pool, &err, c->dialect, &out)
            != NGX_OK)
        {
            ngx_unit_fail(c->name, "render failed");

        } else if (out.len != ngx_strlen(c->want)
                   || ngx_strncmp(out.data, c->want, out.len) != 0)
        {
            ngx_unit_fail(c->name, "got %V", &out);

        } else {
            ngx_unit_ok(c->name);
        }
    }

    ngx_destroy_pool(pool);
}
