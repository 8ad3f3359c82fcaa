
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_limit.h"
#include "ngx_http_bedrock_zone.h"


/* the longest part of a key told apart from others */
#define NGX_BEDROCK_LIMIT_KEY_MAX  65535


typedef struct {
    ngx_rbtree_node_t         node;      /* key: crc32 of the key */
    ngx_queue_t               queue;     /* charged last at the head */
    ngx_msec_t                start;     /* of the window */
    uint64_t                  tokens;
    u_short                   len;
    u_char                    data[1];
} ngx_bedrock_limit_node_t;


typedef struct {
    ngx_bedrock_zone_tree_t   tree;
    ngx_queue_t               queue;
} ngx_bedrock_limit_sh_t;


typedef struct {
    ngx_bedrock_limit_conf_t  conf;
    ngx_bedrock_limit_sh_t   *sh;
    ngx_slab_pool_t          *shpool;
} ngx_bedrock_limit_t;


static ngx_int_t ngx_bedrock_limit_init(ngx_shm_zone_t *zone, void *data);
static void ngx_bedrock_limit_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_bedrock_limit_node_t *ngx_bedrock_limit_find(
    ngx_bedrock_limit_t *lim, ngx_str_t *key, uint32_t hash);
static void ngx_bedrock_limit_forget(ngx_bedrock_limit_t *lim,
    ngx_uint_t all);
static uint32_t ngx_bedrock_limit_key(ngx_str_t *key, ngx_str_t *k);


/* the zones' tag: bedrock_metrics_zone's names cannot be taken for them */
static ngx_str_t  ngx_bedrock_limit_tag = ngx_string("bedrock_token_limit");


ngx_shm_zone_t *
ngx_bedrock_limit_zone(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_bedrock_limit_conf_t *conf)
{
    ngx_shm_zone_t       *zone;
    ngx_bedrock_limit_t  *lim;

    lim = ngx_pcalloc(cf->pool, sizeof(ngx_bedrock_limit_t));
    if (lim == NULL) {
        return NULL;
    }

    lim->conf = *conf;

    zone = ngx_shared_memory_add(cf, name, size, &ngx_bedrock_limit_tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bedrock_token_limit_zone \"%V\" is duplicate",
                           name);
        return NULL;
    }

    zone->init = ngx_bedrock_limit_init;
    zone->data = lim;

    return zone;
}


ngx_shm_zone_t *
ngx_bedrock_limit_ref(ngx_conf_t *cf, ngx_str_t *name)
{
    return ngx_shared_memory_add(cf, name, 0, &ngx_bedrock_limit_tag);
}


ngx_bedrock_limit_conf_t *
ngx_bedrock_limit_conf(ngx_shm_zone_t *zone)
{
    ngx_bedrock_limit_t  *lim;

    lim = zone->data;

    return lim ? &lim->conf : NULL;
}


/* a reload keeps the windows: the zone and its tree are the old cycle's */

static ngx_int_t
ngx_bedrock_limit_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_bedrock_limit_t  *old = data;

    ngx_int_t             rc;
    ngx_bedrock_limit_t  *lim;

    lim = zone->data;

    rc = ngx_bedrock_zone_init(zone, (void **) &lim->sh, &lim->shpool,
                               old ? old->sh : NULL,
                               old ? old->shpool : NULL,
                               sizeof(ngx_bedrock_limit_sh_t),
                               ngx_bedrock_limit_insert,
                               "bedrock_token_limit_zone");

    if (rc == NGX_DONE) {
        ngx_queue_init(&lim->sh->queue);
    }

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


static void
ngx_bedrock_limit_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_bedrock_limit_node_t   *n, *t;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            n = (ngx_bedrock_limit_node_t *) node;
            t = (ngx_bedrock_limit_node_t *) temp;

            p = (ngx_memn2cmp(n->data, t->data, n->len, t->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* locked */

static ngx_bedrock_limit_node_t *
ngx_bedrock_limit_find(ngx_bedrock_limit_t *lim, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_bedrock_limit_node_t  *n;

    node = lim->sh->tree.rbtree.root;
    sentinel = lim->sh->tree.rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_bedrock_limit_node_t *) node;

        rc = ngx_memn2cmp(key->data, n->data, key->len, n->len);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


ngx_int_t
ngx_bedrock_limit_check(ngx_shm_zone_t *zone, ngx_str_t *key, time_t *retry)
{
    uint32_t                   hash;
    ngx_str_t                  k;
    ngx_msec_int_t             elapsed;
    ngx_bedrock_limit_t       *lim;
    ngx_bedrock_limit_node_t  *n;

    lim = zone->data;

    hash = ngx_bedrock_limit_key(key, &k);

    ngx_shmtx_lock(&lim->shpool->mutex);

    n = ngx_bedrock_limit_find(lim, &k, hash);

    if (n == NULL || n->tokens < lim->conf.rate) {
        ngx_shmtx_unlock(&lim->shpool->mutex);
        return NGX_OK;
    }

    elapsed = (ngx_msec_int_t) (ngx_current_msec - n->start);

    ngx_shmtx_unlock(&lim->shpool->mutex);

    if (elapsed < 0 || (ngx_msec_t) elapsed >= lim->conf.period) {
        return NGX_OK;
    }

    /* whole seconds, rounded up: the window has ended when they are over */

    *retry = (time_t) ((lim->conf.period - elapsed + 999) / 1000);

    return NGX_BUSY;
}


void
ngx_bedrock_limit_charge(ngx_shm_zone_t *zone, ngx_str_t *key,
    uint64_t tokens)
{
    size_t                     size;
    uint32_t                   hash;
    ngx_str_t                  k;
    ngx_uint_t                 tries;
    ngx_msec_int_t             elapsed;
    ngx_bedrock_limit_t       *lim;
    ngx_bedrock_limit_node_t  *n;

    lim = zone->data;

    hash = ngx_bedrock_limit_key(key, &k);

    ngx_shmtx_lock(&lim->shpool->mutex);

    /* the least recently charged keys whose windows have ended go */

    ngx_bedrock_limit_forget(lim, 0);

    n = ngx_bedrock_limit_find(lim, &k, hash);

    if (n == NULL) {
        size = offsetof(ngx_bedrock_limit_node_t, data) + k.len;

        for (tries = 0; tries < 8; tries++) {
            n = ngx_slab_alloc_locked(lim->shpool, size);
            if (n) {
                break;
            }

            /* full: forget the key charged least recently, in its window */

            ngx_bedrock_limit_forget(lim, 1);
        }

        if (n == NULL) {
            ngx_shmtx_unlock(&lim->shpool->mutex);
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "bedrock_token_limit_zone \"%V\" is too small "
                          "for a key of %uz bytes", &zone->shm.name, k.len);
            return;
        }

        n->node.key = hash;
        n->len = (u_short) k.len;
        ngx_memcpy(n->data, k.data, k.len);
        n->start = ngx_current_msec;
        n->tokens = 0;

        ngx_rbtree_insert(&lim->sh->tree.rbtree, &n->node);

    } else {
        ngx_queue_remove(&n->queue);
    }

    ngx_queue_insert_head(&lim->sh->queue, &n->queue);

    elapsed = (ngx_msec_int_t) (ngx_current_msec - n->start);

    if (elapsed < 0 || (ngx_msec_t) elapsed >= lim->conf.period) {
        n->start = ngx_current_msec;
        n->tokens = 0;
    }

    n->tokens += tokens;

    ngx_shmtx_unlock(&lim->shpool->mutex);
}


/*
 * Locked.  From the least recently charged: up to two keys whose windows
 * have ended, or (all) the first one, whatever its window
 */

static void
ngx_bedrock_limit_forget(ngx_bedrock_limit_t *lim, ngx_uint_t all)
{
    ngx_uint_t                 i;
    ngx_queue_t               *q;
    ngx_msec_int_t             elapsed;
    ngx_bedrock_limit_node_t  *n;

    for (i = 0; i < 2; i++) {

        if (ngx_queue_empty(&lim->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&lim->sh->queue);
        n = ngx_queue_data(q, ngx_bedrock_limit_node_t, queue);

        if (!all) {
            elapsed = (ngx_msec_int_t) (ngx_current_msec - n->start);

            if (elapsed >= 0 && (ngx_msec_t) elapsed < lim->conf.period) {
                return;
            }
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&lim->sh->tree.rbtree, &n->node);
        ngx_slab_free_locked(lim->shpool, n);

        if (all) {
            return;
        }
    }
}


/* the part of a key told apart, and its hash */

static uint32_t
ngx_bedrock_limit_key(ngx_str_t *key, ngx_str_t *k)
{
    k->data = key->data;
    k->len = ngx_min(key->len, NGX_BEDROCK_LIMIT_KEY_MAX);

    return ngx_crc32_short(k->data, k->len);
}
