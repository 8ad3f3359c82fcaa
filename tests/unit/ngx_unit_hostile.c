
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_chat.h"


/*
 * What hostile input meets in the protocol code: strict UTF-8 and the JSON
 * path named for it, U+FFFD on output, redaction of Bedrock's texts, log
 * escaping, saturating sums.  Expected values are written out by hand.
 */


typedef struct {
    char                *name;
    ngx_str_t            json;
    ngx_int_t            rc;         /* of a strict parse */
    char                *path;       /* NGX_ABORT: the path named */
} ngx_unit_strict_case_t;


static ngx_unit_strict_case_t  ngx_unit_strict_cases[] = {

    { "hostile/utf8-ascii", ngx_string("{\"a\":\"b\"}"), NGX_OK, NULL },
    { "hostile/utf8-valid-multibyte",
      ngx_string("[\"h\xc3\xa9llo \xe4\xb8\x96 \xf0\x9f\x98\x80\"]"),
      NGX_OK, NULL },
    { "hostile/utf8-escaped-pair",
      ngx_string("{\"a\":\"\\ud83d\\ude00\"}"), NGX_OK, NULL },
    { "hostile/utf8-escaped-backslash-u",
      ngx_string("{\"a\":\"\\\\udc00\"}"), NGX_OK, NULL },
    { "hostile/utf8-max", ngx_string("[\"\xf4\x8f\xbf\xbf\"]"),
      NGX_OK, NULL },

    { "hostile/utf8-overlong",
      ngx_string("{\"messages\":[{\"content\":\"a\xc0\xaf\"}]}"),
      NGX_ABORT, "messages[0].content" },
    { "hostile/utf8-overlong-3",
      ngx_string("{\"a\":[1,\"\xe0\x80\xaf\"]}"), NGX_ABORT, "a[1]" },
    { "hostile/utf8-surrogate-bytes",
      ngx_string("{\"a\":{\"b\":[\"x\",\"\xed\xa0\x80\"]}}"),
      NGX_ABORT, "a.b[1]" },
    { "hostile/utf8-past-max", ngx_string("[\"\xf4\x90\x80\x80\"]"),
      NGX_ABORT, "[0]" },
    { "hostile/utf8-f7", ngx_string("{\"m\":\"\xf7\xbf\xbf\xbf\"}"),
      NGX_ABORT, "m" },
    { "hostile/utf8-cut", ngx_string("{\"m\":\"\xe4\xb8\"}"),
      NGX_ABORT, "m" },
    { "hostile/utf8-ff", ngx_string("{\"m\":\"\xff\"}"), NGX_ABORT, "m" },
    { "hostile/utf8-root", ngx_string("\"\xc0\xaf\""), NGX_ABORT, "" },
    { "hostile/utf8-key",
      ngx_string("{\"a\":{\"\xc0\xaf\":1}}"), NGX_ABORT, "a" },
    { "hostile/utf8-lone-low-escape",
      ngx_string("{\"a\":\"ok\",\"b\":[\"x\\udc00\"]}"),
      NGX_ABORT, "b[0]" },
    { "hostile/utf8-lone-high-escape",
      ngx_string("{\"a\":\"\\ud800\"}"), NGX_ABORT, "a" },
    { "hostile/utf8-high-then-other-escape",
      ngx_string("{\"a\":\"\\ud800\\u0041\"}"), NGX_ABORT, "a" },

    { NULL, ngx_null_string, 0, NULL }
};


typedef struct {
    char                *name;
    ngx_str_t            in;
    char                *out;
} ngx_unit_text_case_t;


/* Bedrock's JSON strings as the writer puts them out */

static ngx_unit_text_case_t  ngx_unit_sanitize_cases[] = {
    { "hostile/out-valid", ngx_string("[\"h\xc3\xa9\"]"), "[\"h\xc3\xa9\"]" },
    { "hostile/out-lone-low", ngx_string("[\"a\\udc00b\"]"),
      "[\"a\xef\xbf\xbd" "b\"]" },
    { "hostile/out-lone-high", ngx_string("[\"a\\ud800b\"]"),
      "[\"a\xef\xbf\xbd" "b\"]" },
    { "hostile/out-pair", ngx_string("[\"\\ud83d\\ude00\"]"),
      "[\"\xf0\x9f\x98\x80\"]" },
    { "hostile/out-bytes", ngx_string("[\"x\xc0\xafy\xffz\"]"),
      "[\"x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbdz\"]" },
    { "hostile/out-cesu", ngx_string("[\"x\xed\xa0\x80y\"]"),
      "[\"x\xef\xbf\xbdy\"]" },
    { NULL, ngx_null_string, NULL }
};


static ngx_unit_text_case_t  ngx_unit_redact_cases[] = {
    { "hostile/redact-arn",
      ngx_string("The model arn:aws:bedrock:us-east-1:123456789012:"
                 "inference-profile/abc is invalid."),
      "The model <arn> is invalid." },
    { "hostile/redact-account",
      ngx_string("account 123456789012, not 1234567890123 or 12345"),
      "account <account>, not 1234567890123 or 12345" },
    { "hostile/redact-quoted",
      ngx_string("\"arn:aws:iam::123456789012:role/R\" (ARN:AWS:sts::1:x)"),
      "\"<arn>\" (<arn>)" },
    { "hostile/redact-words",
      ngx_string("warn: x123456789012 barn:y 123456789012abc"),
      "warn: x123456789012 barn:y 123456789012abc" },
    { "hostile/redact-none", ngx_string("Malformed input request"),
      "Malformed input request" },
    { NULL, ngx_null_string, NULL }
};


static ngx_unit_text_case_t  ngx_unit_escape_cases[] = {
    { "hostile/escape-newline",
      ngx_string("throttlingException\n2026/12/02 [emerg] forged"),
      "throttlingException\\x0a2026/12/02 [emerg] forged" },
    { "hostile/escape-quote-backslash", ngx_string("a\"b\\c\r\x7f\xc3\xa9"),
      "a\\x22b\\x5cc\\x0d\\x7f\\xc3\\xa9" },
    { "hostile/escape-plain", ngx_string("ValidationException"),
      "ValidationException" },
    { NULL, ngx_null_string, NULL }
};


static void ngx_unit_hostile_strict(ngx_pool_t *pool);
static void ngx_unit_hostile_texts(ngx_pool_t *pool);
static void ngx_unit_check_text(ngx_unit_text_case_t *c, ngx_int_t rc,
    ngx_str_t *got);


void
ngx_unit_hostile(void)
{
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    ngx_unit_hostile_strict(pool);
    ngx_unit_hostile_texts(pool);

    /* usage sums stop at the top instead of wrapping */

    if (ngx_bedrock_sum(NGX_MAX_INT_T_VALUE, NGX_MAX_INT_T_VALUE)
        == NGX_MAX_INT_T_VALUE
        && ngx_bedrock_sum(NGX_MAX_INT_T_VALUE - 1, 1) == NGX_MAX_INT_T_VALUE
        && ngx_bedrock_sum(NGX_MAX_INT_T_VALUE, 1) == NGX_MAX_INT_T_VALUE
        && ngx_bedrock_sum(2, 3) == 5)
    {
        ngx_unit_ok("hostile/usage-saturates");

    } else {
        ngx_unit_fail("hostile/usage-saturates", "a sum wrapped");
    }

    ngx_destroy_pool(pool);
}


static void
ngx_unit_hostile_strict(ngx_pool_t *pool)
{
    ngx_int_t                 rc;
    ngx_str_t                 error;
    ngx_uint_t                budget;
    ngx_bedrock_json_t       *root;
    ngx_unit_strict_case_t   *c;
    ngx_bedrock_json_opts_t   opts;

    for (c = ngx_unit_strict_cases; c->name; c++) {

        ngx_memzero(&opts, sizeof(ngx_bedrock_json_opts_t));
        opts.pool = pool;
        opts.budget = &budget;
        opts.strict = 1;
        budget = 1000;

        ngx_str_null(&error);

        rc = ngx_bedrock_json_parse_opts(&opts, c->json.data, c->json.len,
                                         &root, &error);

        if (rc != c->rc) {
            ngx_unit_fail(c->name, "returned %i (%V), want %i", rc, &error,
                          c->rc);

        } else if (rc == NGX_ABORT
                   && (error.len != ngx_strlen(c->path)
                       || ngx_strncmp(error.data, c->path, error.len) != 0))
        {
            ngx_unit_fail(c->name, "named \"%V\", want \"%s\"", &error,
                          c->path);

        } else {
            ngx_unit_ok(c->name);
        }
    }
}


static void
ngx_unit_hostile_texts(ngx_pool_t *pool)
{
    ngx_int_t              rc;
    ngx_str_t              error, out;
    ngx_uint_t             budget;
    ngx_bedrock_json_t    *root;
    ngx_unit_text_case_t  *c;

    /* a lax parse, as for Bedrock's answers, then the writer */

    for (c = ngx_unit_sanitize_cases; c->name; c++) {
        budget = 1000;

        rc = ngx_bedrock_json_parse(pool, c->in.data, c->in.len, &budget,
                                    &root, &error);

        if (rc == NGX_OK) {
            rc = ngx_bedrock_json_serialize(pool, root, &out);
        }

        ngx_unit_check_text(c, rc, &out);
    }

    for (c = ngx_unit_redact_cases; c->name; c++) {
        out = c->in;
        rc = ngx_bedrock_redact(pool, &out);
        ngx_unit_check_text(c, rc, &out);
    }

    for (c = ngx_unit_escape_cases; c->name; c++) {
        rc = ngx_bedrock_log_escape(pool, &c->in, &out);
        ngx_unit_check_text(c, rc, &out);
    }

    /* into the string it reads from, as for a header value */

    c = &ngx_unit_escape_cases[1];
    out = c->in;
    rc = ngx_bedrock_log_escape(pool, &out, &out);
    ngx_unit_check_text(&(ngx_unit_text_case_t) { "hostile/escape-in-place",
                                                  c->in, c->out },
                        rc, &out);
}


static void
ngx_unit_check_text(ngx_unit_text_case_t *c, ngx_int_t rc, ngx_str_t *got)
{
    if (rc != NGX_OK) {
        ngx_unit_fail(c->name, "returned %i", rc);

    } else if (got->len != ngx_strlen(c->out)
               || ngx_strncmp(got->data, c->out, got->len) != 0)
    {
        ngx_unit_fail(c->name, "got \"%V\", want \"%s\"", got, c->out);

    } else {
        ngx_unit_ok(c->name);
    }
}
