
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_error.h"


/* JSON values an error answer may hold */
#define NGX_BEDROCK_ERROR_VALUES  (1024 * 1024)

/* the longest message of a refused request */
#define NGX_BEDROCK_INVALID_LEN   1024
#define NGX_BEDROCK_PARAM_LEN     128


#define ngx_bedrock_is_word(c)                                               \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')               \
     || ((c) >= '0' && (c) <= '9') || (c) == '_')


static void ngx_bedrock_aws_type(ngx_str_t *type);
static ngx_uint_t ngx_bedrock_name_valid(ngx_str_t *name);


/* Bedrock's error responses */

/*
 * The tree lives in "temp", which the caller destroys once the call
 * returns; the error's strings are in "pool" or static.
 */

ngx_int_t
ngx_bedrock_upstream_error(ngx_pool_t *pool, ngx_pool_t *temp,
    ngx_uint_t status, ngx_str_t *aws_type, u_char *data, size_t len,
    ngx_bedrock_error_t *err)
{
    ngx_str_t            type, error;
    ngx_uint_t           i, budget;
    ngx_bedrock_json_t  *root, *v;

    static struct {
        ngx_str_t    aws_type;
        ngx_uint_t   status;
        char        *type;
        char        *code;
        ngx_uint_t   auth;
        char        *message;   /* NULL: Bedrock's own, redacted */
    } map[] = {
        { ngx_string("ValidationException"), 400,
          "invalid_request_error", NULL, 0, NULL },
        { ngx_string("AccessDeniedException"), 403,
          "permission_error", "access_denied", 0,
          "Bedrock denied the gateway access to this model or operation; "
          "the gateway's error log has the details." },
        { ngx_string("ResourceNotFoundException"), 404,
          "invalid_request_error", "model_not_found", 0,
          "Bedrock could not find the model or a resource this request "
          "names; the gateway's error log has the details." },
        { ngx_string("ModelTimeoutException"), 504,
          "server_error", "model_timeout", 0,
          "The model did not answer in time." },
        { ngx_string("ThrottlingException"), 429,
          "rate_limit_error", "rate_limit_exceeded", 0,
          "Bedrock is throttling requests; retry after a while." },
        { ngx_string("ModelNotReadyException"), 429,
          "rate_limit_error", "model_not_ready", 0,
          "The model is not ready yet; retry after a while." },
        { ngx_string("ServiceQuotaExceededException"), 429,
          "rate_limit_error", "insufficient_quota", 0,
          "The gateway's Bedrock quota is exhausted." },
        { ngx_string("ModelErrorException"), 502,
          "server_error", "model_error", 0,
          "The model failed to process the request." },
        { ngx_string("InternalServerException"), 500,
          "server_error", NULL, 0,
          "Bedrock had an internal error; retry the request." },
        { ngx_string("ServiceUnavailableException"), 503,
          "server_error", NULL, 0,
          "Bedrock is unavailable; retry after a while." },
        { ngx_string("InvalidSignatureException"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_string("SignatureDoesNotMatch"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_string("IncompleteSignatureException"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_string("MissingAuthenticationTokenException"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_string("UnrecognizedClientException"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_string("InvalidClientTokenId"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_string("ExpiredTokenException"), 502,
          "server_error", "upstream_authentication_failed", 1, NULL },
        { ngx_null_string, 0, NULL, NULL, 0, NULL }
    };

    ngx_memzero(err, sizeof(ngx_bedrock_error_t));

    root = NULL;
    budget = NGX_BEDROCK_ERROR_VALUES;

    if (len && ngx_bedrock_json_parse(temp, data, len, &budget, &root, &error)
               == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    type = *aws_type;

    if (type.len == 0) {
        v = ngx_bedrock_json_get(root, "code");

        if (v == NULL) {
            v = ngx_bedrock_json_get(root, "__type");
        }

        if (v && v->type == NGX_BEDROCK_JSON_STRING) {
            type = v->value;
        }
    }

    ngx_bedrock_aws_type(&type);

    /* for $bedrock_error_type and the log; long names are cut */

    type.len = ngx_min(type.len, NGX_BEDROCK_ERROR_TEXT_MAX);
    err->aws_type = type;

    if (ngx_bedrock_str_copy(pool, &err->aws_type) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; map[i].type; i++) {
        if (map[i].aws_type.len == type.len
            && ngx_strncasecmp(map[i].aws_type.data, type.data, type.len)
               == 0)
        {
            break;
        }
    }

    if (map[i].type) {
        err->status = map[i].status;
        err->type.data = (u_char *) map[i].type;
        err->type.len = ngx_strlen(map[i].type);
        err->auth = map[i].auth;

        if (map[i].code) {
            err->code.data = (u_char *) map[i].code;
            err->code.len = ngx_strlen(map[i].code);
        }

    } else if (status == 401 || status == 403) {

        /* an unknown refusal of our signature or credentials */

        err->status = 502;
        ngx_str_set(&err->type, "server_error");
        ngx_str_set(&err->code, "upstream_authentication_failed");
        err->auth = 1;

    } else if (status >= 400 && status < 500) {
        err->status = status;
        ngx_str_set(&err->type, "invalid_request_error");

    } else {
        err->status = (status == 500 || status == 503) ? status : 502;
        ngx_str_set(&err->type, "server_error");
    }

    v = ngx_bedrock_json_get(root, "message");

    if (v == NULL) {
        v = ngx_bedrock_json_get(root, "Message");
    }

    if (v && v->type == NGX_BEDROCK_JSON_STRING) {

        /* for the error log (escaped there) and a ValidationException */

        err->detail = v->value;
        err->detail.len = ngx_min(err->detail.len,
                                  NGX_BEDROCK_ERROR_TEXT_MAX);

        if (ngx_bedrock_str_copy(pool, &err->detail) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (err->auth) {

        /*
         * AWS's text for signature errors quotes the canonical request,
         * which may hold a session token: it is neither passed on nor
         * logged
         */

        ngx_str_null(&err->detail);

        ngx_str_set(&err->message, "Bedrock refused the gateway's AWS "
                    "credentials or signature; the gateway's error log has "
                    "the details.");
        return NGX_OK;
    }

    if (map[i].type && map[i].message) {
        err->message.data = (u_char *) map[i].message;
        err->message.len = ngx_strlen(map[i].message);
        return NGX_OK;
    }

    /*
     * Bedrock's text reaches the client only where the client needs it to
     * fix its request, and without the gateway's account and ARNs
     */

    if (map[i].type && err->detail.len) {
        err->message = err->detail;
        return ngx_bedrock_redact(pool, &err->message);
    }

    err->message.data = ngx_pnalloc(pool, 64 + type.len);
    if (err->message.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_name_valid(&type)) {
        err->message.len = ngx_sprintf(err->message.data,
                                       "Bedrock returned HTTP %ui %V.",
                                       status, &type)
                           - err->message.data;

    } else {
        err->message.len = ngx_sprintf(err->message.data,
                                       "Bedrock returned HTTP %ui.", status)
                           - err->message.data;
    }

    return NGX_OK;
}


/* an AWS error name: letters, digits, "_" and "."; at most 64 */

static ngx_uint_t
ngx_bedrock_name_valid(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > 64) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A copy of Bedrock's text with every ARN ("arn:" to the next space,
 * quote or comma) as "<arn>" and every run of exactly 12 digits, an
 * account id, as "<account>"
 */

ngx_int_t
ngx_bedrock_redact(ngx_pool_t *pool, ngx_str_t *text)
{
    u_char  *p, *q, *last, *dst, *start;

    dst = ngx_pnalloc(pool, text->len * 2 + 16);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    start = dst;
    p = text->data;
    last = p + text->len;

    while (p < last) {

        if (last - p >= 4 && ngx_strncasecmp(p, (u_char *) "arn:", 4) == 0
            && (p == text->data || !ngx_bedrock_is_word(p[-1])))
        {
            for (q = p; q < last; q++) {
                if (*q == ' ' || *q == '"' || *q == '\'' || *q == ','
                    || *q == ')' || *q == ']' || *q < 0x20)
                {
                    break;
                }
            }

            /* a sentence's full stop is not part of the ARN */

            while (q > p + 4 && q[-1] == '.') {
                q--;
            }

            dst = ngx_cpymem(dst, "<arn>", 5);
            p = q;
            continue;
        }

        if (*p >= '0' && *p <= '9'
            && (p == text->data || !ngx_bedrock_is_word(p[-1])))
        {
            for (q = p; q < last && *q >= '0' && *q <= '9'; q++) {
                /* void */
            }

            if (q - p == 12 && (q == last || !ngx_bedrock_is_word(*q))) {
                dst = ngx_cpymem(dst, "<account>", 9);

            } else {
                dst = ngx_cpymem(dst, p, q - p);
            }

            p = q;
            continue;
        }

        *dst++ = *p++;
    }

    text->data = start;
    text->len = dst - start;

    return NGX_OK;
}


/*
 * For the error log: control characters, backslashes, quotes and bytes
 * past 0x7e as \xNN, so that an upstream's text cannot forge log lines
 */

ngx_int_t
ngx_bedrock_log_escape(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    u_char      *d, c;
    size_t       n;
    ngx_uint_t   i;

    ngx_str_t   in;

    static u_char  hex[] = "0123456789abcdef";

    /* src and dst may be the same string */

    in = *src;
    n = 0;

    for (i = 0; i < in.len; i++) {
        c = in.data[i];
        n += (c < 0x20 || c > 0x7e || c == '\\' || c == '"') ? 4 : 1;
    }

    if (n == in.len) {
        *dst = in;
        return NGX_OK;
    }

    d = ngx_pnalloc(pool, n);
    if (d == NULL) {
        return NGX_ERROR;
    }

    dst->data = d;
    dst->len = n;

    for (i = 0; i < in.len; i++) {
        c = in.data[i];

        if (c < 0x20 || c > 0x7e || c == '\\' || c == '"') {
            *d++ = '\\';
            *d++ = 'x';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 0xf];

        } else {
            *d++ = c;
        }
    }

    return NGX_OK;
}


/* "ns#Name:http://...,..." to "Name", as the AWS SDKs do */

static void
ngx_bedrock_aws_type(ngx_str_t *type)
{
    u_char  *p, *last;

    if (type->len == 0) {
        return;
    }

    last = type->data + type->len;

    p = ngx_strlchr(type->data, last, ',');
    if (p) {
        last = p;
    }

    p = ngx_strlchr(type->data, last, ':');
    if (p) {
        last = p;
    }

    p = ngx_strlchr(type->data, last, '#');
    if (p) {
        type->data = p + 1;
    }

    type->len = last - type->data;
}


void
ngx_bedrock_error_set(ngx_bedrock_error_t *err, ngx_uint_t status,
    char *type, char *code, char *message)
{
    ngx_memzero(err, sizeof(ngx_bedrock_error_t));

    err->status = status;
    err->type.data = (u_char *) type;
    err->type.len = ngx_strlen(type);
    err->message.data = (u_char *) message;
    err->message.len = ngx_strlen(message);

    if (code) {
        err->code.data = (u_char *) code;
        err->code.len = ngx_strlen(code);
    }
}


ngx_int_t
ngx_bedrock_error_json(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_str_t *out)
{
    ngx_bedrock_jw_t  w;

    if (ngx_bedrock_jw_init(&w, pool, 256 + err->message.len, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "error");
    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "message");
    ngx_bedrock_jw_str(&w, &err->message);
    ngx_bedrock_jw_key(&w, "type");
    ngx_bedrock_jw_str(&w, &err->type);
    ngx_bedrock_jw_key(&w, "param");
    ngx_bedrock_jw_null_str(&w, &err->param);
    ngx_bedrock_jw_key(&w, "code");
    ngx_bedrock_jw_null_str(&w, &err->code);
    ngx_bedrock_jw_obj_end(&w);
    ngx_bedrock_jw_obj_end(&w);

    return ngx_bedrock_jw_finish(&w, out);
}


/*
 * The error in the client's dialect.  Anthropic's shape is
 * {"type":"error","error":{"type","message"}}, its type given by the
 * status alone.
 */

ngx_int_t
ngx_bedrock_error_render(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_bedrock_dialect_e dialect, ngx_str_t *out)
{
    ngx_bedrock_jw_t  w;

    if (dialect == NGX_BEDROCK_DIALECT_OPENAI) {
        return ngx_bedrock_error_json(pool, err, out);
    }

    if (ngx_bedrock_jw_init(&w, pool, 128 + err->message.len, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "type");
    ngx_bedrock_jw_cstr(&w, "error");
    ngx_bedrock_jw_key(&w, "error");
    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "type");
    ngx_bedrock_jw_cstr(&w, ngx_bedrock_error_anthropic_type(err->status));
    ngx_bedrock_jw_key(&w, "message");
    ngx_bedrock_jw_str(&w, &err->message);
    ngx_bedrock_jw_obj_end(&w);
    ngx_bedrock_jw_obj_end(&w);

    return ngx_bedrock_jw_finish(&w, out);
}


/* Anthropic's error types by status; other 4xx are invalid requests */

char *
ngx_bedrock_error_anthropic_type(ngx_uint_t status)
{
    switch (status) {

    case 401:
        return "authentication_error";

    case 403:
        return "permission_error";

    case 404:
        return "not_found_error";

    case 413:
        return "request_too_large";

    case 429:
        return "rate_limit_error";

    case 504:
        return "timeout_error";

    case 529:
        return "overloaded_error";

    default:
        return (status >= 400 && status < 500) ? "invalid_request_error"
                                               : "api_error";
    }
}


/*
 * An exception that ends an event stream (ConverseStream's and
 * InvokeModelWithResponseStream's share their names).  As for plain
 * answers, Bedrock's text reaches the client for a validationException
 * only, redacted; err->detail keeps it for the log.  The strings stay
 * where they are: the caller keeps them until the error is rendered.
 */

ngx_int_t
ngx_bedrock_exception_error(ngx_pool_t *pool, ngx_str_t *type,
    ngx_str_t *detail, ngx_bedrock_error_t *err)
{
    ngx_str_t  text;

    /* what is logged and may reach the client: 2 KB at most */

    text = *detail;
    text.len = ngx_min(text.len, NGX_BEDROCK_ERROR_TEXT_MAX);

#define ngx_bedrock_exception_is(s)                                          \
    (type->len == sizeof(s) - 1 && ngx_strncmp(type->data, s, type->len) == 0)

    if (ngx_bedrock_exception_is("throttlingException")) {
        ngx_bedrock_error_set(err, 429, "rate_limit_error",
                              "rate_limit_exceeded",
                              "Bedrock is throttling requests; retry after "
                              "a while.");

    } else if (ngx_bedrock_exception_is("validationException")) {
        ngx_bedrock_error_set(err, 400, "invalid_request_error", NULL,
                              "Bedrock refused the request.");

        if (text.len) {
            err->message = text;

            if (ngx_bedrock_redact(pool, &err->message) != NGX_OK) {
                return NGX_ERROR;
            }
        }

    } else if (ngx_bedrock_exception_is("serviceUnavailableException")) {
        ngx_bedrock_error_set(err, 503, "server_error", NULL,
                              "Bedrock is unavailable; retry after a "
                              "while.");

    } else if (ngx_bedrock_exception_is("modelStreamErrorException")) {
        ngx_bedrock_error_set(err, 502, "server_error", "model_error",
                              "The model failed while it answered.");

    } else {
        ngx_bedrock_error_set(err, 502, "server_error", NULL,
                              "Bedrock ended the stream with an error.");
    }

#undef ngx_bedrock_exception_is

    err->aws_type = *type;
    err->detail = text;

    return NGX_OK;
}


/*
 * A refused request, 400 invalid_request_error: the message formatted
 * into at most NGX_BEDROCK_INVALID_LEN bytes of "pool".  NGX_DECLINED, or
 * NGX_ERROR.
 */

ngx_int_t
ngx_bedrock_error_invalid(ngx_pool_t *pool, ngx_bedrock_error_t *err,
    ngx_str_t *param, const char *fmt, va_list args)
{
    u_char  *p;

    ngx_memzero(err, sizeof(ngx_bedrock_error_t));

    err->status = 400;
    ngx_str_set(&err->type, "invalid_request_error");

    if (param) {
        err->param = *param;
    }

    p = ngx_pnalloc(pool, NGX_BEDROCK_INVALID_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    err->message.data = p;
    err->message.len = ngx_vslprintf(p, p + NGX_BEDROCK_INVALID_LEN, fmt,
                                     args)
                       - p;

    return NGX_DECLINED;
}


/* a parameter's name, such as "input[3].content[0]", in at most 128 bytes */

ngx_str_t *
ngx_bedrock_error_param(ngx_pool_t *pool, const char *fmt, va_list args)
{
    u_char     *p;
    ngx_str_t  *param;

    param = ngx_palloc(pool, sizeof(ngx_str_t) + NGX_BEDROCK_PARAM_LEN);
    if (param == NULL) {
        return NULL;
    }

    p = (u_char *) (param + 1);

    param->data = p;
    param->len = ngx_vslprintf(p, p + NGX_BEDROCK_PARAM_LEN, fmt, args) - p;

    return param;
}
