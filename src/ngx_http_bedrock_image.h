
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_IMAGE_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_IMAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_bedrock_converse.h"


/*
 * The images a request links to (bedrock_image_fetch), fetched on the
 * event loop: nginx's resolver, then the address checked against what
 * the gateway never fetches from, after each resolution and redirect,
 * then one HTTP/1.1 exchange (src/ngx_http_bedrock_fetch.c), bounded in
 * size and time.  All of a request's images are fetched at once; the
 * first one refused ends the set.
 */


typedef struct {
    ngx_resolver_t               *resolver;
    ngx_msec_t                    resolver_timeout;
    ngx_msec_t                    timeout;  /* an image, all hops */
    size_t                        max;      /* an image's largest body */
    ngx_array_t                  *allow;    /* of ngx_cidr_t; NULL: none */
    ngx_ssl_t                    *ssl;      /* https: URLs */
} ngx_bedrock_image_conf_t;


typedef struct ngx_bedrock_images_s  ngx_bedrock_images_t;

typedef void (*ngx_bedrock_images_handler_pt)(ngx_bedrock_images_t *set);


struct ngx_bedrock_images_s {
    /* in */
    ngx_pool_t                   *pool;     /* the caller's, the set's */
    ngx_log_t                    *log;
    ngx_bedrock_image_conf_t     *conf;
    ngx_array_t                  *images;   /* of ngx_bedrock_image_url_t:
                                               format and data filled */
    ngx_bedrock_images_handler_pt handler;
    void                         *data;

    /* out */
    ngx_int_t                     rc;       /* NGX_OK, NGX_DECLINED (an
                                               image refused), NGX_ERROR */
    ngx_bedrock_image_url_t      *failed;
    char                         *error;    /* why, for the client */

    /* state */
    void                         *fetches;
    ngx_uint_t                    pending;
    ngx_event_t                   event;    /* the handler's, posted */
    unsigned                      done:1;
    unsigned                      freed:1;
};


/*
 * Starts the fetches; set->handler is called from a posted event once
 * every image is in or one is refused, never from here.  NGX_ERROR when
 * nothing could start.
 */
ngx_int_t ngx_bedrock_images_fetch(ngx_bedrock_images_t *set);

/* stops what still runs and frees the images' memory, their data too */
void ngx_bedrock_images_free(ngx_bedrock_images_t *set);


#endif /* _NGX_HTTP_BEDROCK_IMAGE_H_INCLUDED_ */
