
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_METRICS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Counters in a shared memory zone that every worker adds to, and their
 * Prometheus text (format 0.0.4).  A series is made the first time it is
 * counted; when the zone is full it is dropped, and counted as dropped.
 * Nothing here waits but for the zone's mutex, held for a few lookups.
 */


typedef struct {
    ngx_str_t                 location;
    ngx_str_t                 model;     /* the client-visible name */
    ngx_uint_t                status;
    ngx_str_t                 error;     /* empty: none */
    ngx_uint_t                has_usage;
    int64_t                   tokens[4]; /* input, output, cache read,
                                            cache write */
    ngx_msec_int_t            duration;
    ngx_msec_int_t            ttft;      /* -1: none */
} ngx_bedrock_metrics_call_t;


ngx_shm_zone_t *ngx_bedrock_metrics_zone(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, void *tag);

/* a call, after its log line; the pool holds its labels for a moment */
ngx_int_t ngx_bedrock_metrics_count(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    ngx_bedrock_metrics_call_t *call);

/* an open stream: +1 when it starts, -1 when its request ends */
void ngx_bedrock_metrics_streams(ngx_shm_zone_t *zone, ngx_int_t delta);

/* every series of the zone as Prometheus text, in pool memory */
ngx_int_t ngx_bedrock_metrics_text(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    ngx_str_t *out);


#endif /* _NGX_HTTP_BEDROCK_METRICS_H_INCLUDED_ */
