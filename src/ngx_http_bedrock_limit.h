
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Tokens per window per key, in a shared memory zone every worker reads
 * and charges.  A window opens with a key's first charge and lasts one
 * period; a key whose open window holds "rate" tokens or more is over its
 * limit until the window ends.  A full zone forgets the keys charged least
 * recently.
 */


typedef struct {
    uint64_t                  rate;      /* tokens per period */
    ngx_msec_t                period;
    ngx_http_complex_value_t *key;
} ngx_bedrock_limit_conf_t;


/* bedrock_token_limit_zone: a new zone */
ngx_shm_zone_t *ngx_bedrock_limit_zone(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, ngx_bedrock_limit_conf_t *conf);

/* bedrock_token_limit: a zone by its name, which may be defined later */
ngx_shm_zone_t *ngx_bedrock_limit_ref(ngx_conf_t *cf, ngx_str_t *name);

ngx_bedrock_limit_conf_t *ngx_bedrock_limit_conf(ngx_shm_zone_t *zone);

/*
 * NGX_OK: the key is under its limit; NGX_BUSY: over it, *retry is the
 * seconds until its window ends
 */
ngx_int_t ngx_bedrock_limit_check(ngx_shm_zone_t *zone, ngx_str_t *key,
    time_t *retry);

/* a call's tokens, added to the key's window (a new one when it ended) */
void ngx_bedrock_limit_charge(ngx_shm_zone_t *zone, ngx_str_t *key,
    uint64_t tokens);


#endif /* _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_ */
