
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_metrics.h"
#include "ngx_http_bedrock_zone.h"


#define NGX_BEDROCK_M_REQUESTS  0
#define NGX_BEDROCK_M_TOKENS    1
#define NGX_BEDROCK_M_ERRORS    2
#define NGX_BEDROCK_M_DURATION  3
#define NGX_BEDROCK_M_TTFT      4
#define NGX_BEDROCK_M_FAMILIES  5


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 help;
    ngx_str_t                 type;
    ngx_uint_t                nbounds;   /* a histogram's, else 0 */
    ngx_msec_t               *bounds;
    char                    **le;
} ngx_bedrock_family_t;


/* one series: its values, then its labels, follow it in the zone */

typedef struct {
    ngx_rbtree_node_t         node;      /* key: crc32 of the labels */
    ngx_uint_t                family;
    size_t                    len;
} ngx_bedrock_series_t;


typedef struct {
    ngx_bedrock_zone_tree_t   tree;
    ngx_atomic_t              streams;
    uint64_t                  dropped;
} ngx_bedrock_metrics_sh_t;


typedef struct {
    ngx_bedrock_metrics_sh_t *sh;
    ngx_slab_pool_t          *shpool;
} ngx_bedrock_metrics_t;


static ngx_int_t ngx_bedrock_metrics_init(ngx_shm_zone_t *zone, void *data);
static void ngx_bedrock_metrics_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_bedrock_series_cmp(ngx_uint_t family, u_char *labels,
    size_t len, ngx_bedrock_series_t *s);
static uint64_t *ngx_bedrock_metrics_find(ngx_bedrock_metrics_t *m,
    ngx_uint_t family, u_char *labels, size_t len);
static void ngx_bedrock_metrics_observe(ngx_bedrock_metrics_t *m,
    ngx_uint_t family, u_char *labels, size_t len, ngx_msec_int_t ms);
static u_char *ngx_bedrock_metrics_label(u_char *p, char *name,
    ngx_str_t *value);


#define ngx_bedrock_series_values(s)                                          \
    ((uint64_t *) ((u_char *) (s) + sizeof(ngx_bedrock_series_t)))

#define ngx_bedrock_series_labels(s, n)                                       \
    ((u_char *) ngx_bedrock_series_values(s) + (n) * sizeof(uint64_t))

/* a histogram's values: a count per bucket, +Inf's last, then the sum */
#define ngx_bedrock_family_values(f)                                          \
    ((f)->nbounds ? (f)->nbounds + 2 : 1)


/*
 * The bucket bounds of OpenTelemetry's GenAI conventions: those of
 * gen_ai.server.request.duration and gen_ai.server.time_to_first_token
 */

static ngx_msec_t  ngx_bedrock_duration_ms[] = {
    10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 40960,
    81920
};

static char  *ngx_bedrock_duration_le[] = {
    "0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56",
    "5.12", "10.24", "20.48", "40.96", "81.92"
};

static ngx_msec_t  ngx_bedrock_ttft_ms[] = {
    1, 5, 10, 20, 40, 60, 80, 100, 250, 500, 750, 1000, 2500, 5000, 7500,
    10000
};

static char  *ngx_bedrock_ttft_le[] = {
    "0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25",
    "0.5", "0.75", "1", "2.5", "5", "7.5", "10"
};


static ngx_bedrock_family_t  ngx_bedrock_families[] = {

    { ngx_string("bedrock_requests_total"),
      ngx_string("Requests to bedrock_pass locations, by location, "
                 "client-visible model and status."),
      ngx_string("counter"), 0, NULL, NULL },

    { ngx_string("bedrock_tokens_total"),
      ngx_string("Tokens Bedrock counted, by client-visible model and type."),
      ngx_string("counter"), 0, NULL, NULL },

    { ngx_string("bedrock_errors_total"),
      ngx_string("Failed calls, by client-visible model and Bedrock's error "
                 "type or the gateway's own error code."),
      ngx_string("counter"), 0, NULL, NULL },

    { ngx_string("bedrock_request_duration_seconds"),
      ngx_string("Time from a request's first byte to its end."),
      ngx_string("histogram"),
      sizeof(ngx_bedrock_duration_ms) / sizeof(ngx_msec_t),
      ngx_bedrock_duration_ms, ngx_bedrock_duration_le },

    { ngx_string("bedrock_time_to_first_token_seconds"),
      ngx_string("Time from a streamed request's first byte to the first "
                 "content sent to the client."),
      ngx_string("histogram"),
      sizeof(ngx_bedrock_ttft_ms) / sizeof(ngx_msec_t),
      ngx_bedrock_ttft_ms, ngx_bedrock_ttft_le }
};


static ngx_str_t  ngx_bedrock_token_types[] = {
    ngx_string("input"),
    ngx_string("output"),
    ngx_string("cache_read"),
    ngx_string("cache_write")
};


ngx_shm_zone_t *
ngx_bedrock_metrics_zone(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    ngx_shm_zone_t         *zone;
    ngx_bedrock_metrics_t  *m;

    m = ngx_pcalloc(cf->pool, sizeof(ngx_bedrock_metrics_t));
    if (m == NULL) {
        return NULL;
    }

    zone = ngx_shared_memory_add(cf, name, size, tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", name);
        return NULL;
    }

    zone->init = ngx_bedrock_metrics_init;
    zone->data = m;

    return zone;
}


/* a reload keeps the counts: the zone and its tree are the old cycle's */

static ngx_int_t
ngx_bedrock_metrics_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_bedrock_metrics_t  *old = data;

    ngx_bedrock_metrics_t  *m;

    m = zone->data;

    if (ngx_bedrock_zone_init(zone, (void **) &m->sh, &m->shpool,
                              old ? old->sh : NULL, old ? old->shpool : NULL,
                              sizeof(ngx_bedrock_metrics_sh_t),
                              ngx_bedrock_metrics_insert,
                              "bedrock_metrics_zone")
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_bedrock_metrics_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t     **p;
    ngx_bedrock_series_t   *s;
    ngx_bedrock_family_t   *f;

    s = (ngx_bedrock_series_t *) node;
    f = &ngx_bedrock_families[s->family];

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_bedrock_series_cmp(s->family,
                                        ngx_bedrock_series_labels(
                                            s, ngx_bedrock_family_values(f)),
                                        s->len,
                                        (ngx_bedrock_series_t *) temp)
                 < 0)
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


static ngx_int_t
ngx_bedrock_series_cmp(ngx_uint_t family, u_char *labels, size_t len,
    ngx_bedrock_series_t *s)
{
    ngx_bedrock_family_t  *f;

    if (family != s->family) {
        return (family < s->family) ? -1 : 1;
    }

    if (len != s->len) {
        return (len < s->len) ? -1 : 1;
    }

    f = &ngx_bedrock_families[family];

    return ngx_memcmp(labels,
                      ngx_bedrock_series_labels(s,
                                                ngx_bedrock_family_values(f)),
                      len);
}


/* a series' values, made when new; NULL when the zone is full.  Locked. */

static uint64_t *
ngx_bedrock_metrics_find(ngx_bedrock_metrics_t *m, ngx_uint_t family,
    u_char *labels, size_t len)
{
    size_t                  n;
    uint32_t                hash;
    ngx_int_t               rc;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_bedrock_series_t   *s;

    hash = ngx_crc32_short(labels, len);

    node = m->sh->tree.rbtree.root;
    sentinel = m->sh->tree.rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        s = (ngx_bedrock_series_t *) node;

        rc = ngx_bedrock_series_cmp(family, labels, len, s);

        if (rc == 0) {
            return ngx_bedrock_series_values(s);
        }

        node = (rc < 0) ? node->left : node->right;
    }

    n = ngx_bedrock_family_values(&ngx_bedrock_families[family]);

    s = ngx_slab_calloc_locked(m->shpool, sizeof(ngx_bedrock_series_t)
                                          + n * sizeof(uint64_t) + len);
    if (s == NULL) {
        m->sh->dropped++;
        return NULL;
    }

    s->node.key = hash;
    s->family = family;
    s->len = len;
    ngx_memcpy(ngx_bedrock_series_labels(s, n), labels, len);

    ngx_rbtree_insert(&m->sh->tree.rbtree, &s->node);

    return ngx_bedrock_series_values(s);
}


static void
ngx_bedrock_metrics_observe(ngx_bedrock_metrics_t *m, ngx_uint_t family,
    u_char *labels, size_t len, ngx_msec_int_t ms)
{
    uint64_t              *v;
    ngx_uint_t             i;
    ngx_bedrock_family_t  *f;

    v = ngx_bedrock_metrics_find(m, family, labels, len);
    if (v == NULL) {
        return;
    }

    if (ms < 0) {
        ms = 0;
    }

    f = &ngx_bedrock_families[family];

    for (i = 0; i < f->nbounds; i++) {
        if ((ngx_msec_t) ms <= f->bounds[i]) {
            break;
        }
    }

    v[i]++;
    v[f->nbounds + 1] += (uint64_t) ms;
}


/*
 * name="value": Prometheus escapes \, " and newlines; other control bytes,
 * and every byte past ASCII of a value that is not UTF-8, become "?"
 */

static u_char *
ngx_bedrock_metrics_label(u_char *p, char *name, ngx_str_t *value)
{
    u_char      c;
    size_t      i;
    ngx_uint_t  utf8;

    utf8 = ngx_bedrock_utf8_valid(value->data, value->len);

    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '=';
    *p++ = '"';

    for (i = 0; i < value->len; i++) {
        c = value->data[i];

        switch (c) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = c;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) ? '?' : c;
        }
    }

    *p++ = '"';

    return p;
}


ngx_int_t
ngx_bedrock_metrics_count(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    ngx_bedrock_metrics_call_t *call)
{
    size_t                  len, req, mod, err;
    u_char                 *buf, *p, *model, *errors, *tokens, *q;
    uint64_t               *v;
    ngx_str_t               status;
    ngx_uint_t              i;
    u_char                  code[NGX_INT_T_LEN];
    ngx_bedrock_metrics_t  *m;

    m = zone->data;

    status.data = code;
    status.len = ngx_sprintf(code, "%ui", call->status) - code;

    /*
     * The labels of each family, one after the other: the request's,
     * the model's, an error's, and the model's with a token type
     */

    len = sizeof("location=\"\",model=\"\",status=\"\"") - 1
          + 2 * (call->location.len + call->model.len) + status.len
          + 3 * (sizeof("model=\"\"") - 1 + 2 * call->model.len)
          + sizeof(",error_type=\"\"") - 1 + 2 * call->error.len
          + sizeof(",type=\"cache_write\"") - 1;

    buf = ngx_pnalloc(pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_bedrock_metrics_label(buf, "location", &call->location);
    *p++ = ',';
    p = ngx_bedrock_metrics_label(p, "model", &call->model);
    *p++ = ',';
    p = ngx_bedrock_metrics_label(p, "status", &status);
    req = p - buf;

    model = p;
    p = ngx_bedrock_metrics_label(p, "model", &call->model);
    mod = p - model;

    errors = p;
    p = ngx_cpymem(p, model, mod);
    *p++ = ',';
    p = ngx_bedrock_metrics_label(p, "error_type", &call->error);
    err = p - errors;

    tokens = p;
    p = ngx_cpymem(p, model, mod);
    p = ngx_cpymem(p, ",type=\"", sizeof(",type=\"") - 1);

    ngx_shmtx_lock(&m->shpool->mutex);

    v = ngx_bedrock_metrics_find(m, NGX_BEDROCK_M_REQUESTS, buf, req);
    if (v) {
        v[0]++;
    }

    if (call->has_usage) {
        for (i = 0; i < 4; i++) {

            /* the cache series only for a model that uses the cache */

            if (call->tokens[i] <= 0 && i >= 2) {
                continue;
            }

            q = ngx_cpymem(p, ngx_bedrock_token_types[i].data,
                           ngx_bedrock_token_types[i].len);
            *q++ = '"';

            v = ngx_bedrock_metrics_find(m, NGX_BEDROCK_M_TOKENS, tokens,
                                         q - tokens);
            if (v && call->tokens[i] > 0) {
                v[0] += (uint64_t) call->tokens[i];
            }
        }
    }

    if (call->error.len) {
        v = ngx_bedrock_metrics_find(m, NGX_BEDROCK_M_ERRORS, errors, err);
        if (v) {
            v[0]++;
        }
    }

    ngx_bedrock_metrics_observe(m, NGX_BEDROCK_M_DURATION, model, mod,
                                call->duration);

    if (call->ttft >= 0) {
        ngx_bedrock_metrics_observe(m, NGX_BEDROCK_M_TTFT, model, mod,
                                    call->ttft);
    }

    ngx_shmtx_unlock(&m->shpool->mutex);

    return NGX_OK;
}


void
ngx_bedrock_metrics_streams(ngx_shm_zone_t *zone, ngx_int_t delta)
{
    ngx_bedrock_metrics_t  *m;

    m = zone->data;

    (void) ngx_atomic_fetch_add(&m->sh->streams, (ngx_atomic_int_t) delta);
}


ngx_int_t
ngx_bedrock_metrics_text(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    ngx_str_t *out)
{
    size_t                  len, line;
    u_char                 *p, *labels;
    uint64_t               *v, count;
    ngx_uint_t              i, k, n;
    ngx_rbtree_t           *tree;
    ngx_rbtree_node_t      *node;
    ngx_bedrock_family_t   *f;
    ngx_bedrock_series_t   *s;
    ngx_bedrock_metrics_t  *m;

    m = zone->data;
    tree = &m->sh->tree.rbtree;

    ngx_shmtx_lock(&m->shpool->mutex);

    /* the most each line can take: the labels vary, the rest is bounded */

    len = 512 + 2 * NGX_INT64_LEN;    /* the gauge and the dropped count */

    for (i = 0; i < NGX_BEDROCK_M_FAMILIES; i++) {
        f = &ngx_bedrock_families[i];
        len += sizeof("# HELP  \n# TYPE  \n") + 2 * f->name.len + f->help.len
               + f->type.len;
    }

    if (tree->root != tree->sentinel) {
        for (node = ngx_rbtree_min(tree->root, tree->sentinel);
             node;
             node = ngx_rbtree_next(tree, node))
        {
            s = (ngx_bedrock_series_t *) node;
            f = &ngx_bedrock_families[s->family];

            line = f->name.len + s->len + sizeof("_bucket{,le=\"\"} \n")
                   + sizeof("+Inf") + 2 * NGX_INT64_LEN;

            len += line * (f->nbounds ? f->nbounds + 3 : 1);
        }
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        ngx_shmtx_unlock(&m->shpool->mutex);
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < NGX_BEDROCK_M_FAMILIES; i++) {
        f = &ngx_bedrock_families[i];
        n = ngx_bedrock_family_values(f);

        p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %V\n",
                        &f->name, &f->help, &f->name, &f->type);

        if (tree->root == tree->sentinel) {
            continue;
        }

        for (node = ngx_rbtree_min(tree->root, tree->sentinel);
             node;
             node = ngx_rbtree_next(tree, node))
        {
            s = (ngx_bedrock_series_t *) node;

            if (s->family != i) {
                continue;
            }

            v = ngx_bedrock_series_values(s);
            labels = ngx_bedrock_series_labels(s, n);

            if (f->nbounds == 0) {
                p = ngx_sprintf(p, "%V{%*s} %uL\n",
                                &f->name, s->len, labels, v[0]);
                continue;
            }

            count = 0;

            for (k = 0; k <= f->nbounds; k++) {
                count += v[k];

                p = ngx_sprintf(p, "%V_bucket{%*s,le=\"%s\"} %uL\n",
                                &f->name, s->len, labels,
                                (k < f->nbounds) ? f->le[k] : "+Inf", count);
            }

            p = ngx_sprintf(p, "%V_sum{%*s} %uL.%03uL\n"
                            "%V_count{%*s} %uL\n",
                            &f->name, s->len, labels,
                            v[f->nbounds + 1] / 1000,
                            v[f->nbounds + 1] % 1000,
                            &f->name, s->len, labels, count);
        }
    }

    p = ngx_sprintf(p, "# HELP bedrock_active_streams Streams open now.\n"
                    "# TYPE bedrock_active_streams gauge\n"
                    "bedrock_active_streams %A\n"
                    "# HELP bedrock_metrics_series_dropped_total Series not "
                    "counted because bedrock_metrics_zone was full.\n"
                    "# TYPE bedrock_metrics_series_dropped_total counter\n"
                    "bedrock_metrics_series_dropped_total %uL\n",
                    (ngx_atomic_int_t) m->sh->streams, m->sh->dropped);

    ngx_shmtx_unlock(&m->shpool->mutex);

    out->len = p - out->data;

    return NGX_OK;
}
