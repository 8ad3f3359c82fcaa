
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_URL_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_URL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The URLs of the images the gateway fetches for its clients, and the
 * addresses it refuses to fetch from.  No request state: functions of
 * their arguments, so that they can be unit-tested and fuzzed alone.
 */


#define NGX_BEDROCK_URL_MAX  8192


typedef struct {
    ngx_uint_t                https;
    ngx_str_t                 host;     /* an IPv6 literal without "[]" */
    in_port_t                 port;
    ngx_str_t                 authority; /* for "Host:", as written */
    ngx_str_t                 target;   /* path and query, "/" if none */
    ngx_uint_t                literal;  /* the host is an IP address */
} ngx_bedrock_url_t;


/*
 * An absolute http: or https: URL: its parts point into "url".  NULL when
 * it is one, else why not (a static string for the client).  A fragment
 * is dropped; user information, bytes outside printable ASCII and hosts
 * that are not DNS names or IP literals are refused.
 */
char *ngx_bedrock_url_parse(ngx_str_t *url, ngx_bedrock_url_t *u);

/*
 * A redirect's Location, absolute, scheme-relative, absolute-path or
 * relative, made absolute against "base" (whose URL text is "url") into
 * "out" (pool memory).  NGX_OK, NGX_DECLINED (too long or empty),
 * NGX_ERROR.
 */
ngx_int_t ngx_bedrock_url_join(ngx_pool_t *pool, ngx_str_t *url,
    ngx_bedrock_url_t *base, ngx_str_t *location, ngx_str_t *out);

/*
 * NULL when an image may be fetched from this address, else the kind of
 * address it is ("loopback", "private"...).  Refused are loopback,
 * private (RFC 1918, IPv6 unique local), shared (100.64.0.0/10),
 * link-local (the cloud metadata services among them), unspecified,
 * multicast, broadcast, reserved and documentation ranges, and IPv6
 * forms that carry such an IPv4 address (mapped, compatible, NAT64,
 * 6to4) or hide one (Teredo).  "allow" (of ngx_cidr_t, NULL: none) lists
 * what an operator permits all the same.
 */
char *ngx_bedrock_addr_refused(struct sockaddr *sa, ngx_array_t *allow);


#endif /* _NGX_HTTP_BEDROCK_URL_H_INCLUDED_ */
