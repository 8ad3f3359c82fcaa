
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_url.h"


typedef struct {
    uint32_t                  net;
    uint32_t                  mask;
    char                     *kind;
} ngx_bedrock_net4_t;


static char *ngx_bedrock_addr4_refused(uint32_t a);
static char *ngx_bedrock_url_host(ngx_bedrock_url_t *u, u_char *p,
    u_char *last);


/* IPv4 ranges no image is fetched from, RFC 6890 and its successors */

static ngx_bedrock_net4_t  ngx_bedrock_nets4[] = {
    { 0x00000000, 0xff000000, "unspecified" },          /* 0.0.0.0/8 */
    { 0x0a000000, 0xff000000, "private" },              /* 10.0.0.0/8 */
    { 0x64400000, 0xffc00000, "shared" },               /* 100.64.0.0/10 */
    { 0x7f000000, 0xff000000, "loopback" },             /* 127.0.0.0/8 */
    { 0xa9fe0000, 0xffff0000, "link-local" },           /* 169.254.0.0/16 */
    { 0xac100000, 0xfff00000, "private" },              /* 172.16.0.0/12 */
    { 0xc0000000, 0xffffff00, "reserved" },             /* 192.0.0.0/24 */
    { 0xc0000200, 0xffffff00, "documentation" },        /* 192.0.2.0/24 */
    { 0xc0586300, 0xffffff00, "reserved" },             /* 192.88.99.0/24 */
    { 0xc0a80000, 0xffff0000, "private" },              /* 192.168.0.0/16 */
    { 0xc6120000, 0xfffe0000, "benchmarking" },         /* 198.18.0.0/15 */
    { 0xc6336400, 0xffffff00, "documentation" },        /* 198.51.100.0/24 */
    { 0xcb007100, 0xffffff00, "documentation" },        /* 203.0.113.0/24 */
    { 0xe0000000, 0xf0000000, "multicast" },            /* 224.0.0.0/4 */
    { 0xf0000000, 0xf0000000, "reserved" },             /* 240.0.0.0/4 */
    { 0, 0, NULL }
};


char *
ngx_bedrock_url_parse(ngx_str_t *url, ngx_bedrock_url_t *u)
{
    u_char  *p, *q, *last, *auth, *end;

    ngx_memzero(u, sizeof(ngx_bedrock_url_t));

    if (url->len > NGX_BEDROCK_URL_MAX) {
        return "the image URL is too long";
    }

    p = url->data;
    last = p + url->len;

    for (q = p; q < last; q++) {
        if (*q <= 0x20 || *q >= 0x7f) {
            return "the image URL must be printable ASCII, with spaces and "
                   "other bytes percent-encoded";
        }
    }

    if (url->len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        u->https = 1;
        u->port = 443;
        p += 8;

    } else if (url->len > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        u->port = 80;
        p += 7;

    } else {
        return "the image URL must be an http: or https: URL";
    }

    auth = p;

    while (p < last && *p != '/' && *p != '?' && *p != '#') {
        if (*p == '@') {
            return "an image URL with user information is not fetched";
        }

        p++;
    }

    u->authority.data = auth;
    u->authority.len = p - auth;

    end = ngx_strlchr(p, last, '#');
    if (end == NULL) {
        end = last;
    }

    u->target.data = p;
    u->target.len = end - p;

    return ngx_bedrock_url_host(u, auth, auth + u->authority.len);
}


/* host and port: a DNS name, an IPv4 literal or "[IPv6]", then ":port" */

static char *
ngx_bedrock_url_host(ngx_bedrock_url_t *u, u_char *p, u_char *last)
{
    u_char     *h, *close;
    ngx_int_t   port;
#if (NGX_HAVE_INET6)
    u_char      addr6[16];
#endif

    if (p == last) {
        return "the image URL has no host";
    }

    if (*p == '[') {
        close = ngx_strlchr(p, last, ']');
        if (close == NULL) {
            return "the image URL's host is not a valid IPv6 address";
        }

        u->host.data = p + 1;
        u->host.len = close - p - 1;

#if (NGX_HAVE_INET6)
        if (ngx_inet6_addr(u->host.data, u->host.len, addr6) != NGX_OK) {
            return "the image URL's host is not a valid IPv6 address";
        }
#else
        return "IPv6 image URLs are not fetched";
#endif

        u->literal = 1;
        p = close + 1;

    } else {
        for (h = p; p < last && *p != ':'; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9')
                  || *p == '-' || *p == '.' || *p == '_'))
            {
                return "the image URL's host is not a DNS name or an IP "
                       "address";
            }
        }

        u->host.data = h;
        u->host.len = p - h;

        if (u->host.len == 0 || u->host.len > 253 || h[0] == '.') {
            return "the image URL's host is not a DNS name or an IP "
                   "address";
        }

        u->literal = (ngx_inet_addr(h, u->host.len) != INADDR_NONE);
    }

    if (p == last) {
        return NULL;
    }

    if (*p != ':') {
        return "the image URL's host is not a DNS name or an IP address";
    }

    p++;

    if (p == last) {
        return NULL;
    }

    port = ngx_atoi(p, last - p);

    if (port < 1 || port > 65535) {
        return "the image URL's port is not valid";
    }

    u->port = (in_port_t) port;

    return NULL;
}


ngx_int_t
ngx_bedrock_url_join(ngx_pool_t *pool, ngx_str_t *url, ngx_bedrock_url_t *base,
    ngx_str_t *location, ngx_str_t *out)
{
    u_char     *p, *l, *last, *dir;
    size_t      len, keep;
    ngx_str_t   scheme;

    l = location->data;
    last = l + location->len;

    while (l < last && (*l == ' ' || *l == '\t')) {
        l++;
    }

    while (last > l && (last[-1] == ' ' || last[-1] == '\t'
                        || last[-1] == '\r'))
    {
        last--;
    }

    if (l == last) {
        return NGX_DECLINED;
    }

    len = last - l;

    /* "scheme:...", any scheme: absolute, for the parse to judge */

    for (p = l; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (p > l && ((*p >= '0' && *p <= '9')
                            || *p == '+' || *p == '-' || *p == '.'))))
        {
            break;
        }
    }

    if (p > l && p < last && *p == ':') {
        keep = 0;
        ngx_str_null(&scheme);

    } else if (len > 1 && l[0] == '/' && l[1] == '/') {
        keep = 0;
        scheme.data = url->data;
        scheme.len = base->https ? 6 : 5;     /* "https:" or "http:" */

    } else if (l[0] == '/') {
        keep = base->authority.data + base->authority.len - url->data;
        ngx_str_null(&scheme);

    } else {

        /* relative: against the base's path, up to its last "/" */

        dir = base->authority.data + base->authority.len;
        p = ngx_strlchr(base->target.data,
                        base->target.data + base->target.len, '?');
        if (p == NULL) {
            p = base->target.data + base->target.len;
        }

        if (l[0] != '?') {
            while (p > dir && p[-1] != '/') {
                p--;
            }
        }

        keep = p - url->data;
        ngx_str_null(&scheme);

        if (p == dir && l[0] != '?') {
            /* no path: "/" goes first */
            scheme.data = (u_char *) "/";
            scheme.len = 1;
        }
    }

    if (keep + scheme.len + len > NGX_BEDROCK_URL_MAX) {
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(pool, keep + scheme.len + len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    if (keep) {
        p = ngx_cpymem(p, url->data, keep);
    }

    if (scheme.len) {
        p = ngx_cpymem(p, scheme.data, scheme.len);
    }

    p = ngx_cpymem(p, l, len);

    out->len = p - out->data;

    return NGX_OK;
}


char *
ngx_bedrock_addr_refused(struct sockaddr *sa, ngx_array_t *allow)
{
    u_char               *a;
    uint32_t              v4;
    ngx_uint_t            i;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    if (allow && ngx_cidr_match(sa, allow) == NGX_OK) {
        return NULL;
    }

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        return ngx_bedrock_addr4_refused(ntohl(sin->sin_addr.s_addr));

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        a = sin6->sin6_addr.s6_addr;

        for (i = 0; i < 10; i++) {
            if (a[i] != 0) {
                break;
            }
        }

        if (i == 10) {

            if (a[10] == 0xff && a[11] == 0xff) {
                /* ::ffff:a.b.c.d, mapped */
                v4 = ((uint32_t) a[12] << 24) | (a[13] << 16)
                     | (a[14] << 8) | a[15];
                return ngx_bedrock_addr4_refused(v4);
            }

            if (a[10] == 0 && a[11] == 0) {
                for (i = 12; i < 15; i++) {
                    if (a[i] != 0) {
                        break;
                    }
                }

                if (i == 15 && a[15] == 0) {
                    return "unspecified";
                }

                if (i == 15 && a[15] == 1) {
                    return "loopback";
                }

                /* ::a.b.c.d, the deprecated compatible form */
                return "reserved";
            }
        }

        if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) {

            for (i = 4; i < 12; i++) {
                if (a[i] != 0) {
                    /* 64:ff9b:1::/48, local NAT64 */
                    return "private";
                }
            }

            /* 64:ff9b::a.b.c.d, NAT64 */
            v4 = ((uint32_t) a[12] << 24) | (a[13] << 16) | (a[14] << 8)
                 | a[15];
            return ngx_bedrock_addr4_refused(v4);
        }

        if (a[0] == 0x20 && a[1] == 0x02) {
            /* 2002:a.b.c.d::/48, 6to4 */
            v4 = ((uint32_t) a[2] << 24) | (a[3] << 16) | (a[4] << 8) | a[5];
            return ngx_bedrock_addr4_refused(v4);
        }

        if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) {
            /* 2001::/23, Teredo among them */
            return "reserved";
        }

        if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) {
            return "documentation";
        }

        if (a[0] == 0x01 && a[1] == 0x00) {
            for (i = 2; i < 8; i++) {
                if (a[i] != 0) {
                    break;
                }
            }

            if (i == 8) {
                /* 100::/64, discard */
                return "reserved";
            }
        }

        if ((a[0] & 0xfe) == 0xfc) {
            return "private";                   /* fc00::/7 */
        }

        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
            return "link-local";                /* fe80::/10 */
        }

        if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) {
            return "site-local";                /* fec0::/10 */
        }

        if (a[0] == 0xff) {
            return "multicast";
        }

        return NULL;
#endif

    default:
        return "not an IP address";
    }
}


static char *
ngx_bedrock_addr4_refused(uint32_t a)
{
    ngx_bedrock_net4_t  *n;

    for (n = ngx_bedrock_nets4; n->kind; n++) {
        if ((a & n->mask) == n->net) {
            return n->kind;
        }
    }

    return NULL;
}
