
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_sigv4.h"
#include "ngx_http_bedrock_credentials.h"


/*
 * SigV4 conformance: AWS's test suites, as published in aws-c-auth
 * (v4/<case>/, with context.json) and as the classic 2015 suite
 * (<case>/<case>.req etc.), plus the exact signature the module's own
 * request gets.
 *
 * The two suites read a folded header line differently: aws-c-auth takes
 * the continuation as more of the same value (folded to one space), the
 * classic suite as another value of the same header (joined with ",").
 */


typedef struct {
    ngx_str_t                    access_key;
    ngx_str_t                    secret_key;
    ngx_str_t                    token;
    ngx_str_t                    region;
    ngx_str_t                    service;
    ngx_str_t                    amz_date;
    ngx_uint_t                   normalize;
    ngx_uint_t                   sign_body;
    ngx_uint_t                   omit_token;
} ngx_unit_sigv4_context_t;


typedef struct {
    char                        *name;
    ngx_str_t                    request;
    ngx_str_t                    creq;
    ngx_str_t                    sts;
    ngx_str_t                    signature;      /* aws-c-auth */
    ngx_str_t                    authorization;
    ngx_uint_t                   classic;
} ngx_unit_sigv4_case_t;


static ngx_uint_t ngx_unit_sigv4_aws(char *dir);
static ngx_uint_t ngx_unit_sigv4_classic(ngx_pool_t *pool, char *dir,
    char *prefix);
static void ngx_unit_sigv4_run(ngx_pool_t *pool, ngx_unit_sigv4_case_t *c,
    ngx_unit_sigv4_context_t *ctx);
static ngx_int_t ngx_unit_sigv4_context(ngx_pool_t *pool, ngx_str_t *text,
    ngx_unit_sigv4_context_t *ctx);
static ngx_int_t ngx_unit_sigv4_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t classic, ngx_bedrock_sigv4_request_t *req);
static ngx_int_t ngx_unit_sigv4_line(u_char **pos, u_char *last,
    ngx_str_t *line);
static void ngx_unit_sigv4_header(ngx_str_t *text, char *name,
    ngx_str_t *value);
static void ngx_unit_sigv4_module(void);
static void ngx_unit_sigv4_canonical(void);
static void ngx_unit_sigv4_cache(void);
static ngx_bedrock_sigv4_signer_t *ngx_unit_sigv4_signer(void);
static void ngx_unit_sigv4_default(ngx_unit_sigv4_context_t *ctx);


#define NGX_UNIT_SIGV4_AWS_CASES      38
#define NGX_UNIT_SIGV4_CLASSIC_CASES  31


/* one signer for every case, as a worker has */

static ngx_bedrock_sigv4_signer_t *
ngx_unit_sigv4_signer(void)
{
    static ngx_uint_t                  ready;
    static ngx_bedrock_sigv4_signer_t  signer;

    if (!ready) {
        if (ngx_bedrock_sigv4_signer_init(&signer) != NGX_OK) {
            return NULL;
        }

        ready = 1;
    }

    return &signer;
}


/*
 * The signer's key cache: the same secret, date, region and service reuse
 * the key; a change of any derives a new one, and every signature equals
 * the one made without a signer
 */

static void
ngx_unit_sigv4_cache(void)
{
    char                        *name;
    ngx_str_t                    auth, plain, failure;
    ngx_uint_t                   i, derived;
    ngx_pool_t                  *pool;
    ngx_bedrock_sigv4_t          s;
    ngx_bedrock_sigv4_header_t   headers[2];
    ngx_bedrock_sigv4_signer_t   signer;

    static struct {
        char        *date;
        char        *region;
        char        *secret;
        ngx_uint_t   derives;
    } steps[] = {
        { "20261203T120000Z", "us-east-1", "secret-one", 1 },
        { "20261203T120001Z", "us-east-1", "secret-one", 0 },
        { "20261203T235959Z", "us-east-1", "secret-one", 0 },
        { "20261203T235959Z", "us-east-1", "secret-two", 1 },
        { "20261203T235959Z", "us-east-1", "secret-one", 1 },
        { "20261204T000000Z", "us-east-1", "secret-one", 1 },
        { "20261204T000000Z", "eu-west-1", "secret-one", 1 },
        { "20261204T000001Z", "eu-west-1", "secret-one", 0 },
    };

    name = "sigv4/signer-key-cache";
    pool = ngx_unit_pool();
    ngx_str_null(&failure);

    if (ngx_bedrock_sigv4_signer_init(&signer) != NGX_OK) {
        ngx_unit_fail(name, "ngx_bedrock_sigv4_signer_init() failed");
        ngx_destroy_pool(pool);
        return;
    }

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        ngx_memzero(&s, sizeof(ngx_bedrock_sigv4_t));

        ngx_str_set(&s.method, "POST");
        ngx_str_set(&s.path, "/model/m/converse");
        ngx_str_set(&s.payload, "{}");
        ngx_str_set(&s.service, "bedrock");
        ngx_str_set(&s.access_key, "AKIDEXAMPLE");
        s.region.data = (u_char *) steps[i].region;
        s.region.len = ngx_strlen(steps[i].region);
        s.secret_key.data = (u_char *) steps[i].secret;
        s.secret_key.len = ngx_strlen(steps[i].secret);
        s.amz_date.data = (u_char *) steps[i].date;
        s.amz_date.len = NGX_BEDROCK_SIGV4_DATE_LEN;

        ngx_str_set(&headers[0].name, "host");
        ngx_str_set(&headers[0].value, "bedrock-runtime.example");
        ngx_str_set(&headers[1].name, "x-amz-date");
        headers[1].value = s.amz_date;
        s.headers = headers;
        s.nheaders = 2;

        if (ngx_bedrock_sigv4_sign(pool, &s, &plain) != NGX_OK) {
            ngx_unit_note(pool, &failure, "step %ui: signing failed", i);
            break;
        }

        derived = signer.derived;
        s.signer = &signer;

        if (ngx_bedrock_sigv4_sign(pool, &s, &auth) != NGX_OK) {
            ngx_unit_note(pool, &failure, "step %ui: signing failed", i);
            break;
        }

        if (signer.derived - derived != steps[i].derives) {
            ngx_unit_note(pool, &failure, "step %ui: %ui keys derived, not "
                          "%ui", i, signer.derived - derived,
                          steps[i].derives);
        }

        ngx_unit_compare(pool, &failure, "Authorization", &auth, &plain);
    }

    ngx_bedrock_sigv4_signer_free(&signer);

    for (i = 0; i < sizeof(signer); i++) {
        if (((u_char *) &signer)[i] != 0) {
            ngx_unit_note(pool, &failure, "the free left the signer's "
                          "memory unwiped");
            break;
        }
    }

    (void) ngx_unit_result(name, &failure);

    ngx_destroy_pool(pool);
}


void
ngx_unit_sigv4(void)
{
    char        *dir;
    ngx_pool_t  *pool;
    ngx_uint_t   n;

    ngx_unit_sigv4_module();
    ngx_unit_sigv4_canonical();
    ngx_unit_sigv4_cache();

    if (ngx_unit_vectors == NULL) {
        ngx_unit_skip("sigv4/aws-c-auth", NGX_UNIT_SIGV4_AWS_CASES,
                      "no vectors");
        ngx_unit_skip("sigv4/classic", NGX_UNIT_SIGV4_CLASSIC_CASES,
                      "no vectors");
        return;
    }

    pool = ngx_unit_pool();

    dir = ngx_unit_path(pool, "%s/sigv4/aws-c-auth/v4", ngx_unit_vectors);
    n = ngx_unit_sigv4_aws(dir);

    if (n == 0) {
        ngx_unit_skip("sigv4/aws-c-auth", NGX_UNIT_SIGV4_AWS_CASES,
                      "no cases found");
    }

    dir = ngx_unit_path(pool, "%s/sigv4/classic-aws-sig-v4-test-suite",
                        ngx_unit_vectors);
    n = ngx_unit_sigv4_classic(pool, dir, "");

    if (n == 0) {
        ngx_unit_skip("sigv4/classic", NGX_UNIT_SIGV4_CLASSIC_CASES,
                      "no cases found");
    }

    ngx_destroy_pool(pool);
}


static ngx_uint_t
ngx_unit_sigv4_aws(char *dir)
{
    char                      **names, *path, *name;
    ngx_str_t                   text, signed_request;
    ngx_pool_t                 *pool, *list;
    ngx_uint_t                  i, n;
    ngx_array_t                 cases;
    ngx_unit_sigv4_case_t       c;
    ngx_unit_sigv4_context_t    ctx;

    list = ngx_unit_pool();

    if (ngx_unit_list(list, dir, &cases) != NGX_OK) {
        ngx_destroy_pool(list);
        return 0;
    }

    names = cases.elts;
    n = 0;

    for (i = 0; i < cases.nelts; i++) {
        pool = ngx_unit_pool();

        ngx_memzero(&c, sizeof(ngx_unit_sigv4_case_t));

        name = ngx_unit_path(pool, "sigv4/aws-c-auth/%s", names[i]);
        c.name = name;

        path = ngx_unit_path(pool, "%s/%s/", dir, names[i]);

#define ngx_unit_sigv4_file(file, out)                                       \
        (ngx_unit_read(pool, ngx_unit_path(pool, "%s" file, path), out)     \
         == NGX_OK)

        if (!ngx_unit_sigv4_file("context.json", &text)
            || !ngx_unit_sigv4_file("request.txt", &c.request)
            || !ngx_unit_sigv4_file("header-canonical-request.txt", &c.creq)
            || !ngx_unit_sigv4_file("header-string-to-sign.txt", &c.sts)
            || !ngx_unit_sigv4_file("header-signature.txt", &c.signature)
            || !ngx_unit_sigv4_file("header-signed-request.txt",
                                    &signed_request))
        {
            ngx_unit_fail(name, "a vector file is missing in %s", path);
            ngx_destroy_pool(pool);
            n++;
            continue;
        }

#undef ngx_unit_sigv4_file

        if (ngx_unit_sigv4_context(pool, &text, &ctx) != NGX_OK) {
            ngx_unit_fail(name, "context.json: unexpected content");
            ngx_destroy_pool(pool);
            n++;
            continue;
        }

        ngx_unit_sigv4_header(&signed_request, "Authorization",
                              &c.authorization);

        ngx_unit_sigv4_run(pool, &c, &ctx);

        ngx_destroy_pool(pool);
        n++;
    }

    ngx_destroy_pool(list);

    return n;
}


/* a case is a directory <name> holding <name>.req; others are walked */

static ngx_uint_t
ngx_unit_sigv4_classic(ngx_pool_t *parent, char *dir, char *prefix)
{
    char                      **names, *path, *sub;
    ngx_pool_t                 *pool, *list;
    ngx_uint_t                  i, n;
    ngx_array_t                 entries;
    ngx_unit_sigv4_case_t       c;
    ngx_unit_sigv4_context_t    ctx;

    list = ngx_unit_pool();

    if (ngx_unit_list(list, dir, &entries) != NGX_OK) {
        ngx_destroy_pool(list);
        return 0;
    }

    names = entries.elts;
    n = 0;

    for (i = 0; i < entries.nelts; i++) {
        sub = ngx_unit_path(list, "%s/%s", dir, names[i]);

        if (ngx_unit_is_dir(sub) != NGX_OK) {
            continue;
        }

        pool = ngx_unit_pool();

        ngx_memzero(&c, sizeof(ngx_unit_sigv4_case_t));
        c.classic = 1;
        c.name = ngx_unit_path(pool, "sigv4/classic/%s%s", prefix,
                               names[i]);

        path = ngx_unit_path(pool, "%s/%s", sub, names[i]);

        if (ngx_unit_read(pool, ngx_unit_path(pool, "%s.req", path),
                          &c.request)
            != NGX_OK)
        {
            ngx_destroy_pool(pool);
            n += ngx_unit_sigv4_classic(parent, sub,
                                        ngx_unit_path(list, "%s%s/", prefix,
                                                      names[i]));
            continue;
        }

        n++;

        if (ngx_unit_read(pool, ngx_unit_path(pool, "%s.creq", path),
                          &c.creq)
            != NGX_OK
            || ngx_unit_read(pool, ngx_unit_path(pool, "%s.sts", path),
                             &c.sts)
               != NGX_OK
            || ngx_unit_read(pool, ngx_unit_path(pool, "%s.authz", path),
                             &c.authorization)
               != NGX_OK)
        {
            ngx_unit_fail(c.name, "a vector file is missing in %s", sub);
            ngx_destroy_pool(pool);
            continue;
        }

        ngx_unit_sigv4_default(&ctx);
        ngx_unit_sigv4_run(pool, &c, &ctx);

        ngx_destroy_pool(pool);
    }

    ngx_destroy_pool(list);

    return n;
}


static void
ngx_unit_sigv4_run(ngx_pool_t *pool, ngx_unit_sigv4_case_t *c,
    ngx_unit_sigv4_context_t *ctx)
{
    u_char                       *p;
    ngx_str_t                     auth, failure, sig;
    ngx_bedrock_sigv4_t           s;
    ngx_bedrock_sigv4_request_t   req;

    ngx_str_null(&failure);

    if (ngx_unit_sigv4_parse(pool, &c->request, c->classic, &req) != NGX_OK)
    {
        ngx_unit_fail(c->name, "the request could not be parsed");
        return;
    }

    req.normalize = ctx->normalize;
    req.sign_body = ctx->sign_body;
    req.omit_session_token = ctx->omit_token;
    req.session_token = ctx->token;

    ngx_memzero(&s, sizeof(ngx_bedrock_sigv4_t));

    s.region = ctx->region;
    s.service = ctx->service;
    s.amz_date = ctx->amz_date;
    s.access_key = ctx->access_key;
    s.secret_key = ctx->secret_key;

    if (ngx_bedrock_sigv4_canonicalize(pool, &req, &s) != NGX_OK) {
        ngx_unit_fail(c->name, "ngx_bedrock_sigv4_canonicalize() failed");
        return;
    }

    if (ngx_bedrock_sigv4_sign(pool, &s, &auth) != NGX_OK) {
        ngx_unit_fail(c->name, "ngx_bedrock_sigv4_sign() failed");
        return;
    }

    ngx_unit_compare(pool, &failure, "canonical request",
                     &s.canonical_request, &c->creq);
    ngx_unit_compare(pool, &failure, "string to sign", &s.string_to_sign,
                     &c->sts);
    ngx_unit_compare(pool, &failure, "Authorization", &auth,
                     &c->authorization);

    /*
     * and with the worker's signer, shared by every case: its key cache
     * hits where cases share a secret, date and scope, and misses where
     * they do not
     */

    s.signer = ngx_unit_sigv4_signer();

    if (s.signer == NULL
        || ngx_bedrock_sigv4_sign(pool, &s, &auth) != NGX_OK)
    {
        ngx_unit_note(pool, &failure, "signing with a signer failed");

    } else {
        ngx_unit_compare(pool, &failure, "Authorization with a signer",
                         &auth, &c->authorization);
    }

    if (c->signature.len) {
        p = ngx_strlcasestrn(auth.data, auth.data + auth.len,
                             (u_char *) "Signature=", 10 - 1);

        if (p == NULL) {
            ngx_unit_note(pool, &failure, "no signature in \"%V\"", &auth);

        } else {
            sig.data = p + 10;
            sig.len = auth.data + auth.len - sig.data;

            ngx_unit_compare(pool, &failure, "signature", &sig,
                             &c->signature);
        }
    }

    (void) ngx_unit_result(c->name, &failure);
}


static void
ngx_unit_sigv4_default(ngx_unit_sigv4_context_t *ctx)
{
    ngx_memzero(ctx, sizeof(ngx_unit_sigv4_context_t));

    ngx_str_set(&ctx->access_key, "AKIDEXAMPLE");
    ngx_str_set(&ctx->secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    ngx_str_set(&ctx->region, "us-east-1");
    ngx_str_set(&ctx->service, "service");
    ngx_str_set(&ctx->amz_date, "20150830T123600Z");
    ctx->normalize = 1;
}


static ngx_int_t
ngx_unit_sigv4_context(ngx_pool_t *pool, ngx_str_t *text,
    ngx_unit_sigv4_context_t *ctx)
{
    time_t               t;
    ngx_bedrock_json_t  *root, *creds, *v;

    if (ngx_unit_json(pool, text, &root) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(ctx, sizeof(ngx_unit_sigv4_context_t));

    creds = ngx_bedrock_json_get(root, "credentials");

#define ngx_unit_sigv4_string(obj, key, dst)                                 \
    v = ngx_bedrock_json_get(obj, key);                                      \
    if (v != NULL && v->type == NGX_BEDROCK_JSON_STRING) {                   \
        dst = v->value;                                                      \
    }

    ngx_unit_sigv4_string(creds, "access_key_id", ctx->access_key);
    ngx_unit_sigv4_string(creds, "secret_access_key", ctx->secret_key);
    ngx_unit_sigv4_string(creds, "token", ctx->token);
    ngx_unit_sigv4_string(root, "region", ctx->region);
    ngx_unit_sigv4_string(root, "service", ctx->service);

#undef ngx_unit_sigv4_string

#define ngx_unit_sigv4_flag(key, dst)                                        \
    v = ngx_bedrock_json_get(root, key);                                     \
    dst = (v != NULL && v->type == NGX_BEDROCK_JSON_TRUE);

    ngx_unit_sigv4_flag("normalize", ctx->normalize);
    ngx_unit_sigv4_flag("sign_body", ctx->sign_body);
    ngx_unit_sigv4_flag("omit_session_token", ctx->omit_token);

#undef ngx_unit_sigv4_flag

    /* "2015-08-30T12:36:00Z", through the module's own parser */

    v = ngx_bedrock_json_get(root, "timestamp");

    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
        return NGX_ERROR;
    }

    t = ngx_bedrock_parse_iso8601(v->value.data, v->value.len);
    if (t == 0) {
        return NGX_ERROR;
    }

    ctx->amz_date.data = ngx_pnalloc(pool, NGX_BEDROCK_SIGV4_DATE_LEN);
    if (ctx->amz_date.data == NULL) {
        return NGX_ERROR;
    }

    ngx_bedrock_sigv4_date(t, ctx->amz_date.data);
    ctx->amz_date.len = NGX_BEDROCK_SIGV4_DATE_LEN;

    if (ctx->access_key.len == 0 || ctx->secret_key.len == 0
        || ctx->region.len == 0 || ctx->service.len == 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "METHOD target HTTP/1.1", header lines (a line that starts with white
 * space continues the one before), an empty line, the body; the target
 * may hold spaces ("/example space/")
 */

static ngx_int_t
ngx_unit_sigv4_parse(ngx_pool_t *pool, ngx_str_t *text, ngx_uint_t classic,
    ngx_bedrock_sigv4_request_t *req)
{
    u_char                      *pos, *last, *p, *sp, *q;
    ngx_str_t                    line;
    ngx_array_t                  headers;
    ngx_bedrock_sigv4_header_t  *h;

    ngx_memzero(req, sizeof(ngx_bedrock_sigv4_request_t));

    if (ngx_array_init(&headers, pool, 8, sizeof(ngx_bedrock_sigv4_header_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    pos = text->data;
    last = pos + text->len;

    /* the request line */

    if (ngx_unit_sigv4_line(&pos, last, &line) != NGX_OK) {
        return NGX_ERROR;
    }

    sp = ngx_strlchr(line.data, line.data + line.len, ' ');
    if (sp == NULL) {
        return NGX_ERROR;
    }

    req->method.data = line.data;
    req->method.len = sp - line.data;

    for (p = line.data + line.len; p > sp && p[-1] != ' '; p--) {
        /* void */
    }

    if (p == sp + 1) {
        return NGX_ERROR;
    }

    /* the target: between the spaces */

    p--;
    sp++;

    q = ngx_strlchr(sp, p, '?');

    req->path.data = sp;
    req->path.len = (q ? q : p) - sp;

    if (q) {
        req->query.data = q + 1;
        req->query.len = p - (q + 1);
    }

    /* headers */

    while (ngx_unit_sigv4_line(&pos, last, &line) == NGX_OK) {

        if (line.len == 0) {
            break;
        }

        if (line.data[0] == ' ' || line.data[0] == '\t') {

            if (headers.nelts == 0) {
                return NGX_ERROR;
            }

            if (classic) {
                if (ngx_array_push(&headers) == NULL) {
                    return NGX_ERROR;
                }

                h = headers.elts;
                h[headers.nelts - 1].name = h[headers.nelts - 2].name;
                h[headers.nelts - 1].value = line;
                continue;
            }

            h = headers.elts;
            h = &h[headers.nelts - 1];

            p = ngx_pnalloc(pool, h->value.len + 1 + line.len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            q = ngx_cpymem(p, h->value.data, h->value.len);
            *q++ = ' ';
            q = ngx_cpymem(q, line.data, line.len);

            h->value.data = p;
            h->value.len = q - p;
            continue;
        }

        p = ngx_strlchr(line.data, line.data + line.len, ':');
        if (p == NULL) {
            return NGX_ERROR;
        }

        h = ngx_array_push(&headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->name.data = line.data;
        h->name.len = p - line.data;
        h->value.data = p + 1;
        h->value.len = line.data + line.len - (p + 1);

    }

    req->headers = headers.elts;
    req->nheaders = headers.nelts;

    req->payload.data = pos;
    req->payload.len = last - pos;

    return NGX_OK;
}


/* NGX_DECLINED: no more lines */

static ngx_int_t
ngx_unit_sigv4_line(u_char **pos, u_char *last, ngx_str_t *line)
{
    u_char  *p, *nl;

    p = *pos;

    if (p >= last) {
        return NGX_DECLINED;
    }

    nl = ngx_strlchr(p, last, '\n');

    line->data = p;
    line->len = (nl ? nl : last) - p;

    if (line->len && line->data[line->len - 1] == '\r') {
        line->len--;
    }

    *pos = nl ? nl + 1 : last;

    return NGX_OK;
}


/* the value of "Name:value" in a request text */

static void
ngx_unit_sigv4_header(ngx_str_t *text, char *name, ngx_str_t *value)
{
    size_t      len;
    u_char     *pos, *last;
    ngx_str_t   line;

    ngx_str_null(value);

    len = ngx_strlen(name);
    pos = text->data;
    last = pos + text->len;

    while (ngx_unit_sigv4_line(&pos, last, &line) == NGX_OK) {
        if (line.len > len && line.data[len] == ':'
            && ngx_strncasecmp(line.data, (u_char *) name, len) == 0)
        {
            value->data = line.data + len + 1;
            value->len = line.len - len - 1;
            return;
        }
    }
}


/*
 * The module's own request, signed the way ngx_http_bedrock_module.c does
 * it (a sorted header list, a wire path encoded once more); the expected
 * values were computed independently, with the published algorithm
 */

static void
ngx_unit_sigv4_module(void)
{
    ngx_str_t                    auth, failure;
    ngx_pool_t                  *pool;
    ngx_bedrock_sigv4_t          s;
    ngx_bedrock_sigv4_header_t   headers[4];
    u_char                       date[NGX_BEDROCK_SIGV4_DATE_LEN];

    static ngx_str_t  creq = ngx_string(
        "POST\n"
        "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n"
        "\n"
        "content-type:application/json\n"
        "host:bedrock-runtime.us-east-1.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "x-amz-security-token:token\n"
        "\n"
        "content-type;host;x-amz-date;x-amz-security-token\n"
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");

    static ngx_str_t  authorization = ngx_string(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
        "x-amz-security-token, Signature=6fcaf443bb2138a817643068117814d827"
        "ac72289fe07b5fc324229ab9d1acf6");

    pool = ngx_unit_pool();
    ngx_str_null(&failure);

    ngx_memzero(&s, sizeof(ngx_bedrock_sigv4_t));

    /* 2015-08-30T12:36:00Z */

    ngx_bedrock_sigv4_date(1440938160, date);

    ngx_str_set(&s.method, "POST");
    ngx_str_set(&s.service, "bedrock");
    ngx_str_set(&s.region, "us-east-1");
    ngx_str_set(&s.path,
                "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    ngx_str_set(&s.payload, "{}");
    s.amz_date.data = date;
    s.amz_date.len = NGX_BEDROCK_SIGV4_DATE_LEN;
    ngx_str_set(&s.access_key, "AKIDEXAMPLE");
    ngx_str_set(&s.secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");

    ngx_str_set(&headers[0].name, "content-type");
    ngx_str_set(&headers[0].value, "application/json");
    ngx_str_set(&headers[1].name, "host");
    ngx_str_set(&headers[1].value, "bedrock-runtime.us-east-1.amazonaws.com");
    ngx_str_set(&headers[2].name, "x-amz-date");
    headers[2].value = s.amz_date;
    ngx_str_set(&headers[3].name, "x-amz-security-token");
    ngx_str_set(&headers[3].value, "token");

    s.headers = headers;
    s.nheaders = 4;

    if (ngx_bedrock_sigv4_sign(pool, &s, &auth) != NGX_OK) {
        ngx_unit_fail("sigv4/module-request", "sign failed");
        ngx_destroy_pool(pool);
        return;
    }

    ngx_unit_compare(pool, &failure, "canonical request",
                     &s.canonical_request, &creq);
    ngx_unit_compare(pool, &failure, "Authorization", &auth, &authorization);

    (void) ngx_unit_result("sigv4/module-request", &failure);

    ngx_destroy_pool(pool);
}


/* canonicalization details no published vector covers */

static void
ngx_unit_sigv4_canonical(void)
{
    ngx_str_t                     failure, want;
    ngx_pool_t                   *pool;
    ngx_uint_t                    i;
    ngx_bedrock_sigv4_t           s;
    ngx_bedrock_sigv4_request_t   req;
    ngx_bedrock_sigv4_header_t    h[2];

    static struct {
        char        *name;
        ngx_str_t    path;
        ngx_str_t    query;
        ngx_uint_t   normalize;
        ngx_uint_t   single;
        ngx_str_t    want_path;
        ngx_str_t    want_query;
    } tests[] = {

        { "empty-path", ngx_null_string, ngx_null_string, 1, 0,
          ngx_string("/"), ngx_null_string },

        { "dot-dot-above-root", ngx_string("/../../a"), ngx_null_string,
          1, 0, ngx_string("/a"), ngx_null_string },

        { "dot-dot-keeps-no-slash", ngx_string("/a/b/.."), ngx_null_string,
          1, 0, ngx_string("/a"), ngx_null_string },

        { "mixed", ngx_string("//a/./b/../c/"), ngx_null_string, 1, 0,
          ngx_string("/a/c/"), ngx_null_string },

        { "encoded-path-double", ngx_string("/model/a%3A0/converse"),
          ngx_null_string, 1, 0,
          ngx_string("/model/a%253A0/converse"), ngx_null_string },

        { "s3-path-as-sent", ngx_string("/bucket//a%20b/./c"),
          ngx_null_string, 0, 1,
          ngx_string("/bucket//a%20b/./c"), ngx_null_string },

        { "query-no-value", ngx_null_string, ngx_string("b&a=1&&c="), 1, 0,
          ngx_string("/"), ngx_string("a=1&b=&c=") },

        { "query-reencoded", ngx_null_string,
          ngx_string("k=a b%2fc%7E+&%zz=%4"), 1, 0,
          ngx_string("/"), ngx_string("%25zz=%254&k=a%20b%2Fc~%2B") },

        { "query-sort-value", ngx_null_string, ngx_string("a=2&a=10&a=1"),
          1, 0, ngx_string("/"), ngx_string("a=1&a=10&a=2") },

        { NULL, ngx_null_string, ngx_null_string, 0, 0, ngx_null_string,
          ngx_null_string }
    };

    for (i = 0; tests[i].name; i++) {
        pool = ngx_unit_pool();
        ngx_str_null(&failure);

        ngx_memzero(&req, sizeof(ngx_bedrock_sigv4_request_t));
        ngx_memzero(&s, sizeof(ngx_bedrock_sigv4_t));

        ngx_str_set(&req.method, "GET");
        req.path = tests[i].path;
        req.query = tests[i].query;
        req.normalize = tests[i].normalize;
        req.single_encode = tests[i].single;

        ngx_str_set(&s.amz_date, "20150830T123600Z");

        if (ngx_bedrock_sigv4_canonicalize(pool, &req, &s) != NGX_OK) {
            ngx_unit_note(pool, &failure, "canonicalize failed");

        } else {
            ngx_unit_compare(pool, &failure, "path", &s.path,
                             &tests[i].want_path);
            ngx_unit_compare(pool, &failure, "query", &s.query,
                             &tests[i].want_query);
        }

        (void) ngx_unit_result(ngx_unit_path(pool, "sigv4/canonical/%s",
                                             tests[i].name),
                               &failure);

        ngx_destroy_pool(pool);
    }

    /* headers: the signer's own replace the caller's; values folded */

    pool = ngx_unit_pool();
    ngx_str_null(&failure);

    ngx_memzero(&req, sizeof(ngx_bedrock_sigv4_request_t));
    ngx_memzero(&s, sizeof(ngx_bedrock_sigv4_t));

    ngx_str_set(&h[0].name, "X-Amz-Date");
    ngx_str_set(&h[0].value, "19700101T000000Z");
    ngx_str_set(&h[1].name, "X-Multi");
    ngx_str_set(&h[1].value, "\r\n  a \t\r\n b  ");

    ngx_str_set(&req.method, "GET");
    req.headers = h;
    req.nheaders = 2;
    ngx_str_set(&req.session_token, "tok");
    req.sign_body = 1;

    ngx_str_set(&s.amz_date, "20150830T123600Z");

    if (ngx_bedrock_sigv4_canonicalize(pool, &req, &s) != NGX_OK
        || s.nheaders != 4)
    {
        ngx_unit_note(pool, &failure, "canonicalize failed or %ui headers",
                      s.nheaders);

    } else {
        ngx_str_set(&want, "x-amz-content-sha256");
        ngx_unit_compare(pool, &failure, "name 0", &s.headers[0].name,
                         &want);
        ngx_str_set(&want, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
                    "a495991b7852b855");
        ngx_unit_compare(pool, &failure, "value 0", &s.headers[0].value,
                         &want);
        ngx_str_set(&want, "20150830T123600Z");
        ngx_unit_compare(pool, &failure, "value 1", &s.headers[1].value,
                         &want);
        ngx_str_set(&want, "x-amz-security-token");
        ngx_unit_compare(pool, &failure, "name 2", &s.headers[2].name,
                         &want);
        ngx_str_set(&want, "a b");
        ngx_unit_compare(pool, &failure, "value 3", &s.headers[3].value,
                         &want);
    }

    (void) ngx_unit_result("sigv4/canonical/signer-headers", &failure);

    ngx_destroy_pool(pool);
}
