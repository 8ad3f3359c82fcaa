
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_zone.h"


ngx_int_t
ngx_bedrock_zone_init(ngx_shm_zone_t *zone, void **sh,
    ngx_slab_pool_t **shpool, void *old_sh, ngx_slab_pool_t *old_shpool,
    size_t size, ngx_rbtree_insert_pt insert, const char *directive)
{
    size_t                    len;
    ngx_slab_pool_t          *pool;
    ngx_bedrock_zone_tree_t  *tree;

    if (old_sh) {
        *sh = old_sh;
        *shpool = old_shpool;
        return NGX_OK;
    }

    pool = (ngx_slab_pool_t *) zone->shm.addr;
    *shpool = pool;

    if (zone->shm.exists) {
        *sh = pool->data;
        return NGX_OK;
    }

    tree = ngx_slab_calloc(pool, size);
    if (tree == NULL) {
        return NGX_ERROR;
    }

    pool->data = tree;
    *sh = tree;

    ngx_rbtree_init(&tree->rbtree, &tree->sentinel, insert);

    pool->log_nomem = 0;

    len = sizeof(" in \"\" zone \"\"") + ngx_strlen(directive)
          + zone->shm.name.len;

    pool->log_ctx = ngx_slab_alloc(pool, len);
    if (pool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(pool->log_ctx, " in \"%s\" zone \"%V\"%Z", directive,
                &zone->shm.name);

    return NGX_DONE;
}
