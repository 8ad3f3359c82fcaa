
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_ZONE_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what the shared part of every zone of the module starts with */
typedef struct {
    ngx_rbtree_t              rbtree;
    ngx_rbtree_node_t         sentinel;
} ngx_bedrock_zone_tree_t;


/*
 * A zone's shared part at start and at reload: the old cycle's (old_sh,
 * old_shpool) when nginx reloads with the zone unchanged, so that what it
 * holds stays; the one nginx kept in memory; else a new one of "size"
 * bytes, zeroed, that starts with an ngx_bedrock_zone_tree_t.  A full zone
 * is no failure to log: its users say what they drop.  NGX_OK, NGX_DONE
 * (made now: the caller sets up the rest), NGX_ERROR.
 */
ngx_int_t ngx_bedrock_zone_init(ngx_shm_zone_t *zone, void **sh,
    ngx_slab_pool_t **shpool, void *old_sh, ngx_slab_pool_t *old_shpool,
    size_t size, ngx_rbtree_insert_pt insert, const char *directive);


#endif /* _NGX_HTTP_BEDROCK_ZONE_H_INCLUDED_ */
