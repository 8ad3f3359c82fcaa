
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_url.h"
#include "ngx_http_bedrock_chat.h"


/*
 * bedrock_image_fetch's pure parts: image URLs parsed (RFC 3986's
 * authority and path, as far as the gateway takes them), redirects made
 * absolute (RFC 3986 section 5.2, the cases servers send), the addresses
 * refused (the IANA special-purpose registries, RFC 6890, and the IPv6
 * forms that carry an IPv4 address), and the fetched bytes spliced into
 * the Converse body the chat translation wrote.
 */


typedef struct {
    char                *name;
    char                *url;
    char                *want;       /* NULL: parsed, else in the error */
    ngx_uint_t           https;
    char                *host;
    in_port_t            port;
    char                *authority;
    char                *target;
    ngx_uint_t           literal;
} ngx_unit_url_case_t;


static ngx_unit_url_case_t  ngx_unit_url_cases[] = {

    { "url/http", "http://images.example.com/cat.png", NULL,
      0, "images.example.com", 80, "images.example.com", "/cat.png", 0 },
    { "url/https-port-query", "https://a.example:8443/x/y.jpg?s=1&t=2",
      NULL, 1, "a.example", 8443, "a.example:8443", "/x/y.jpg?s=1&t=2", 0 },
    { "url/scheme-case", "HTTPS://A.Example/", NULL,
      1, "A.Example", 443, "A.Example", "/", 0 },
    { "url/no-path", "http://a.example", NULL,
      0, "a.example", 80, "a.example", "", 0 },
    { "url/query-no-path", "http://a.example?x=1", NULL,
      0, "a.example", 80, "a.example", "?x=1", 0 },
    { "url/fragment-dropped", "http://a.example/p.png#top", NULL,
      0, "a.example", 80, "a.example", "/p.png", 0 },
    { "url/ipv4", "http://192.0.2.1:81/p", NULL,
      0, "192.0.2.1", 81, "192.0.2.1:81", "/p", 1 },
    { "url/ipv6", "http://[2001:db8::1]:8080/p", NULL,
      0, "2001:db8::1", 8080, "[2001:db8::1]:8080", "/p", 1 },

    { "url/ftp", "ftp://a.example/p", "http: or https:", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/file", "file:///etc/passwd", "http: or https:", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/relative", "/cat.png", "http: or https:", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/userinfo", "http://u:p@a.example/", "user information", 0,
      NULL, 0, NULL, NULL, 0 },
    { "url/userinfo-in-host-trick", "http://a.example@10.0.0.1/",
      "user information", 0, NULL, 0, NULL, NULL, 0 },
    { "url/no-host", "http:///p", "no host", 0, NULL, 0, NULL, NULL, 0 },
    { "url/port-zero", "http://a.example:0/", "port", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/port-big", "http://a.example:65536/", "port", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/port-letters", "http://a.example:8o/", "port", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/space", "http://a.example/a b", "printable ASCII", 0, NULL, 0,
      NULL, NULL, 0 },
    { "url/non-ascii", "http://a.example/\xc3\xa9", "printable ASCII", 0,
      NULL, 0, NULL, NULL, 0 },
    { "url/bad-ipv6", "http://[::g]/", "IPv6", 0, NULL, 0, NULL, NULL, 0 },
    { "url/open-ipv6", "http://[::1/", "IPv6", 0, NULL, 0, NULL, NULL, 0 },
    { "url/host-underscore-slash", "http://a_b!.example/",
      "DNS name", 0, NULL, 0, NULL, NULL, 0 },

    { NULL, NULL, NULL, 0, NULL, 0, NULL, NULL, 0 }
};


typedef struct {
    char                *name;
    char                *base;
    char                *location;
    char                *want;       /* NULL: NGX_DECLINED */
} ngx_unit_join_case_t;


static ngx_unit_join_case_t  ngx_unit_join_cases[] = {

    { "join/absolute", "http://a.example/x/y.png",
      "https://b.example/z.png", "https://b.example/z.png" },
    { "join/other-scheme", "http://a.example/x", "ftp://b.example/z",
      "ftp://b.example/z" },
    { "join/scheme-relative", "https://a.example/x", "//b.example/z",
      "https://b.example/z" },
    { "join/absolute-path", "http://a.example:81/x/y?q=1", "/z.png",
      "http://a.example:81/z.png" },
    { "join/relative", "http://a.example/x/y.png?q=1", "z.png",
      "http://a.example/x/z.png" },
    { "join/relative-no-path", "http://a.example", "z.png",
      "http://a.example/z.png" },
    { "join/query-only", "http://a.example/x/y.png?q=1", "?q=2",
      "http://a.example/x/y.png?q=2" },
    { "join/trimmed", "http://a.example/x", " /z \r", "http://a.example/z" },
    { "join/empty", "http://a.example/x", "", NULL },
    { "join/blank", "http://a.example/x", "  ", NULL },

    { NULL, NULL, NULL, NULL }
};


typedef struct {
    char                *name;
    char                *addr;
    char                *want;       /* NULL: fetched from */
} ngx_unit_addr_case_t;


static ngx_unit_addr_case_t  ngx_unit_addr_cases[] = {

    { "addr/public-v4", "93.184.216.34", NULL },
    { "addr/public-v4-edge", "11.0.0.1", NULL },
    { "addr/public-172", "172.32.0.1", NULL },
    { "addr/this-network", "0.0.0.0", "unspecified" },
    { "addr/10", "10.255.255.255", "private" },
    { "addr/172-16", "172.16.0.1", "private" },
    { "addr/172-31", "172.31.255.254", "private" },
    { "addr/192-168", "192.168.1.1", "private" },
    { "addr/cgnat", "100.64.0.1", "shared" },
    { "addr/loopback", "127.0.0.1", "loopback" },
    { "addr/loopback-other", "127.1.2.3", "loopback" },
    { "addr/metadata", "169.254.169.254", "link-local" },
    { "addr/ietf", "192.0.0.8", "reserved" },
    { "addr/test-net-1", "192.0.2.1", "documentation" },
    { "addr/test-net-2", "198.51.100.1", "documentation" },
    { "addr/test-net-3", "203.0.113.1", "documentation" },
    { "addr/benchmark", "198.19.0.1", "benchmarking" },
    { "addr/multicast", "224.0.0.1", "multicast" },
    { "addr/class-e", "240.0.0.1", "reserved" },
    { "addr/broadcast-range", "255.255.255.254", "reserved" },

#if (NGX_HAVE_INET6)
    { "addr/public-v6", "2606:4700::1111", NULL },
    { "addr/v6-unspecified", "::", "unspecified" },
    { "addr/v6-loopback", "::1", "loopback" },
    { "addr/v6-mapped-private", "::ffff:10.0.0.1", "private" },
    { "addr/v6-mapped-metadata", "::ffff:169.254.169.254", "link-local" },
    { "addr/v6-mapped-public", "::ffff:93.184.216.34", NULL },
    { "addr/v6-compatible", "::127.0.0.1", "reserved" },
    { "addr/v6-compatible-public", "::93.184.216.34", "reserved" },
    { "addr/v6-nat64-private", "64:ff9b::a00:1", "private" },
    { "addr/v6-6to4-private", "2002:a00:1::1", "private" },
    { "addr/v6-teredo", "2001::1", "reserved" },
    { "addr/v6-ula", "fd00::1", "private" },
    { "addr/v6-link-local", "fe80::1", "link-local" },
    { "addr/v6-site-local", "fec0::1", "site-local" },
    { "addr/v6-multicast", "ff02::1", "multicast" },
    { "addr/v6-documentation", "2001:db8::1", "documentation" },
#endif

    { NULL, NULL, NULL }
};


static void ngx_unit_url_parse(ngx_pool_t *pool);
static void ngx_unit_url_join(ngx_pool_t *pool);
static void ngx_unit_url_addr(ngx_pool_t *pool);
static void ngx_unit_url_splice(ngx_pool_t *pool);
static ngx_int_t ngx_unit_url_model(void *data, ngx_str_t *model,
    ngx_str_t *id, ngx_uint_t *claude);


void
ngx_unit_url(void)
{
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    ngx_unit_url_parse(pool);
    ngx_unit_url_join(pool);
    ngx_unit_url_addr(pool);
    ngx_unit_url_splice(pool);

    ngx_destroy_pool(pool);
}


#define ngx_unit_url_is(s, c)                                                \
    ((s)->len == ngx_strlen(c) && ngx_strncmp((s)->data, c, (s)->len) == 0)


static void
ngx_unit_url_parse(ngx_pool_t *pool)
{
    char                 *msg;
    ngx_str_t             url;
    ngx_bedrock_url_t     u;
    ngx_unit_url_case_t  *c;

    for (c = ngx_unit_url_cases; c->name; c++) {
        url.data = (u_char *) c->url;
        url.len = ngx_strlen(c->url);

        ngx_memzero(&u, sizeof(ngx_bedrock_url_t));

        msg = ngx_bedrock_url_parse(&url, &u);

        if (c->want) {
            if (msg == NULL) {
                ngx_unit_fail(c->name, "\"%s\" was taken", c->url);

            } else if (ngx_strstr(msg, c->want) == NULL) {
                ngx_unit_fail(c->name, "\"%s\": \"%s\" lacks \"%s\"",
                              c->url, msg, c->want);

            } else {
                ngx_unit_ok(c->name);
            }

            continue;
        }

        if (msg != NULL) {
            ngx_unit_fail(c->name, "\"%s\" refused: %s", c->url, msg);
            continue;
        }

        if (u.https != c->https || u.port != c->port
            || u.literal != c->literal
            || !ngx_unit_url_is(&u.host, c->host)
            || !ngx_unit_url_is(&u.authority, c->authority)
            || !ngx_unit_url_is(&u.target, c->target))
        {
            ngx_unit_fail(c->name, "https %ui host \"%V\" port %d "
                          "authority \"%V\" target \"%V\" literal %ui",
                          u.https, ngx_unit_v(&u.host), (int) u.port,
                          ngx_unit_v(&u.authority), ngx_unit_v(&u.target),
                          u.literal);
            continue;
        }

        ngx_unit_ok(c->name);
    }
}


static void
ngx_unit_url_join(ngx_pool_t *pool)
{
    char                  *msg;
    ngx_int_t              rc;
    ngx_str_t              base, location, out;
    ngx_bedrock_url_t      u;
    ngx_unit_join_case_t  *c;

    for (c = ngx_unit_join_cases; c->name; c++) {
        base.data = (u_char *) c->base;
        base.len = ngx_strlen(c->base);
        location.data = (u_char *) c->location;
        location.len = ngx_strlen(c->location);

        msg = ngx_bedrock_url_parse(&base, &u);

        if (msg != NULL) {
            ngx_unit_fail(c->name, "base \"%s\" refused: %s", c->base, msg);
            continue;
        }

        ngx_str_null(&out);

        rc = ngx_bedrock_url_join(pool, &base, &u, &location, &out);

        if (c->want == NULL) {
            if (rc == NGX_DECLINED) {
                ngx_unit_ok(c->name);

            } else {
                ngx_unit_fail(c->name, "rc %i, \"%V\"", rc, ngx_unit_v(&out));
            }

            continue;
        }

        if (rc != NGX_OK || !ngx_unit_url_is(&out, c->want)) {
            ngx_unit_fail(c->name, "rc %i, \"%V\", not \"%s\"", rc,
                          ngx_unit_v(&out), c->want);
            continue;
        }

        ngx_unit_ok(c->name);
    }
}


static void
ngx_unit_url_addr(ngx_pool_t *pool)
{
    char                  *kind;
    ngx_str_t              text;
    ngx_addr_t             addr;
    ngx_cidr_t            *cidr;
    ngx_array_t           *allow;
    ngx_unit_addr_case_t  *c;

    for (c = ngx_unit_addr_cases; c->name; c++) {
        if (ngx_parse_addr(pool, &addr, (u_char *) c->addr,
                           ngx_strlen(c->addr))
            != NGX_OK)
        {
            ngx_unit_fail(c->name, "\"%s\" does not parse", c->addr);
            continue;
        }

        kind = ngx_bedrock_addr_refused(addr.sockaddr, NULL);

        if (c->want == NULL ? kind != NULL
                            : kind == NULL || ngx_strcmp(kind, c->want) != 0)
        {
            ngx_unit_fail(c->name, "\"%s\": %s, not %s", c->addr,
                          kind ? kind : "fetched from",
                          c->want ? c->want : "fetched from");
            continue;
        }

        ngx_unit_ok(c->name);
    }

    /* bedrock_image_fetch_allow: what the operator lists is fetched from */

    allow = ngx_array_create(pool, 1, sizeof(ngx_cidr_t));
    cidr = allow ? ngx_array_push(allow) : NULL;

    if (cidr == NULL) {
        ngx_unit_fail("addr/allow", "out of memory");
        return;
    }

    ngx_str_set(&text, "10.1.0.0/16");

    if (ngx_ptocidr(&text, cidr) != NGX_OK
        || ngx_parse_addr(pool, &addr, (u_char *) "10.1.2.3", 8) != NGX_OK)
    {
        ngx_unit_fail("addr/allow", "the test's addresses do not parse");
        return;
    }

    kind = ngx_bedrock_addr_refused(addr.sockaddr, allow);

    if (kind != NULL) {
        ngx_unit_fail("addr/allow", "10.1.2.3 in 10.1.0.0/16: %s", kind);

    } else {
        ngx_unit_ok("addr/allow");
    }

    if (ngx_parse_addr(pool, &addr, (u_char *) "10.2.0.1", 8) != NGX_OK) {
        ngx_unit_fail("addr/allow-outside", "the address does not parse");
        return;
    }

    kind = ngx_bedrock_addr_refused(addr.sockaddr, allow);

    if (kind == NULL || ngx_strcmp(kind, "private") != 0) {
        ngx_unit_fail("addr/allow-outside", "10.2.0.1: %s",
                      kind ? kind : "fetched from");

    } else {
        ngx_unit_ok("addr/allow-outside");
    }
}


static ngx_int_t
ngx_unit_url_model(void *data, ngx_str_t *model, ngx_str_t *id,
    ngx_uint_t *claude)
{
    ngx_str_set(id, "amazon.nova-micro-v1:0");
    *claude = 0;

    return NGX_OK;
}


/*
 * A chat request with two URL images around a data: URL, translated with
 * bedrock_image_fetch on and a guardrail: the images are listed with
 * their parameters, and the splice puts their bytes where they belong.
 */

static void
ngx_unit_url_splice(ngx_pool_t *pool)
{
    ngx_int_t                    rc;
    ngx_str_t                    in, out, want, failure;
    ngx_pool_t                  *temp;
    ngx_bedrock_error_t          err;
    ngx_bedrock_image_url_t     *img;
    ngx_bedrock_chat_request_t   req;

    ngx_str_set(&in,
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"http://a.example/1.png\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"data:image/gif;base64,R0lGODlhAQABAAAA\"}},"
        "{\"type\":\"text\",\"text\":\"and\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"https://b.example/2.jpg\"}}]}]}");

    ngx_str_set(&want,
        "{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"AAAA\"}}},"
        "{\"image\":{\"format\":\"gif\",\"source\":"
        "{\"bytes\":\"R0lGODlhAQABAAAA\"}}},"
        "{\"text\":\"and\"},"
        "{\"image\":{\"format\":\"jpeg\",\"source\":{\"bytes\":\"/9j/\"}}}"
        "]}],\"guardrailConfig\":{\"guardrailIdentifier\":\"gr-1\","
        "\"guardrailVersion\":\"1\"}}");

    ngx_memzero(&req, sizeof(ngx_bedrock_chat_request_t));
    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));

    req.conf.image_fetch = 1;
    req.model_check = ngx_unit_url_model;
    ngx_str_set(&req.guardrail.id, "gr-1");
    ngx_str_set(&req.guardrail.version, "1");

    temp = ngx_unit_pool();

    rc = ngx_bedrock_chat_request(pool, temp, in.data, in.len, &req, &err);

    ngx_destroy_pool(temp);

    if (rc != NGX_OK || req.images == NULL || req.images->nelts != 2) {
        ngx_unit_fail("splice/chat", "rc %i, %ui images, error \"%V\"", rc,
                      req.images ? req.images->nelts : 0,
                      ngx_unit_v(&err.message));
        return;
    }

    img = req.images->elts;

    if (!ngx_unit_url_is(&img[0].url, "http://a.example/1.png")
        || !ngx_unit_url_is(&img[0].param,
                            "messages[0].content[0].image_url.url")
        || !ngx_unit_url_is(&img[1].param,
                            "messages[0].content[3].image_url.url"))
    {
        ngx_unit_fail("splice/chat", "url \"%V\", params \"%V\" \"%V\"",
                      &img[0].url, &img[0].param, &img[1].param);
        return;
    }

    ngx_str_set(&img[0].format, "png");
    ngx_str_set(&img[0].data, "AAAA");
    ngx_str_set(&img[1].format, "jpeg");
    ngx_str_set(&img[1].data, "/9j/");

    if (ngx_bedrock_converse_splice(pool, &req.body, req.images, &out)
        != NGX_OK)
    {
        ngx_unit_fail("splice/chat", "the splice failed on \"%V\"",
                      &req.body);
        return;
    }

    ngx_str_null(&failure);
    ngx_unit_compare(pool, &failure, "body", &out, &want);
    (void) ngx_unit_result("splice/chat", &failure);

    /* without bedrock_image_fetch, the same URL is the client's error */

    ngx_memzero(&req, sizeof(ngx_bedrock_chat_request_t));
    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));
    req.model_check = ngx_unit_url_model;

    temp = ngx_unit_pool();

    rc = ngx_bedrock_chat_request(pool, temp, in.data, in.len, &req, &err);

    ngx_destroy_pool(temp);

    if (rc != NGX_DECLINED || err.status != 400 || req.images != NULL) {
        ngx_unit_fail("splice/fetch-off", "rc %i, status %ui", rc,
                      err.status);

    } else {
        ngx_unit_ok("splice/fetch-off");
    }
}
