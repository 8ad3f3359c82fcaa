
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_bedrock_credentials.h"
#include "ngx_http_bedrock_fetch.h"
#include "ngx_http_bedrock_json.h"


/*
 * The credential provider chain, in the order of the AWS SDKs' default
 * chain: explicit configuration, environment, web identity, shared files,
 * container, EC2 instance metadata.  Static credentials are found when the
 * worker starts; temporary ones are fetched on nginx's event loop, before
 * the first request needs them and again five minutes before they expire.
 * Each worker keeps its own.
 */


#define NGX_BEDROCK_REFRESH_MARGIN   300     /* seconds before expiration */
#define NGX_BEDROCK_FETCH_TIMEOUT    2000    /* ms, one HTTP exchange */
#define NGX_BEDROCK_FETCH_MAX        65536   /* the largest answer */
#define NGX_BEDROCK_FILE_MAX         65536   /* files: credentials, tokens */
#define NGX_BEDROCK_BACKOFF_MAX      60      /* seconds between retries */


typedef enum {
    NGX_BEDROCK_SOURCE_NONE = 0,
    NGX_BEDROCK_SOURCE_STATIC,
    NGX_BEDROCK_SOURCE_WEB_IDENTITY,
    NGX_BEDROCK_SOURCE_CONTAINER,
    NGX_BEDROCK_SOURCE_IMDS
} ngx_bedrock_source_e;


typedef struct {
    ngx_addr_t                     *addr;
    ngx_str_t                       host;   /* the Host header */
    ngx_str_t                       name;   /* SNI, certificate name */
    ngx_str_t                       path;
    ngx_uint_t                      ssl;
} ngx_bedrock_endpoint_t;


struct ngx_bedrock_provider_s {
    ngx_pool_t                     *pool;
    ngx_log_t                      *log;
    void                           *ssl;       /* ngx_ssl_t for https */

    ngx_bedrock_source_e            source;
    const char                     *source_name;
    ngx_str_t                       status;    /* what the chain found */

    ngx_bedrock_credentials_t       creds;
    ngx_pool_t                     *creds_pool;

    /* fetching */
    ngx_bedrock_endpoint_t          endpoint;
    ngx_str_t                       role_arn;
    ngx_str_t                       session_name;
    ngx_str_t                       token_file;  /* web identity, container */
    ngx_str_t                       token;       /* container, from env */

    ngx_bedrock_fetch_t            *fetch;
    ngx_pool_t                     *fetch_pool;
    ngx_uint_t                      step;        /* IMDS: token, role, keys */
    ngx_str_t                       imds_token;
    ngx_str_t                       imds_role;

    ngx_event_t                     refresh;
    ngx_queue_t                     waiters;
    ngx_uint_t                      failures;
    unsigned                        fetching:1;
};


static ngx_int_t ngx_bedrock_chain(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_conf_t *conf);
static ngx_int_t ngx_bedrock_from_env(ngx_bedrock_provider_t *p);
static ngx_int_t ngx_bedrock_from_profile(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_conf_t *conf, ngx_uint_t explicit);
static ngx_int_t ngx_bedrock_from_api_key_file(ngx_bedrock_provider_t *p,
    ngx_str_t *file);
static ngx_int_t ngx_bedrock_web_identity(ngx_bedrock_provider_t *p);
static ngx_int_t ngx_bedrock_container(ngx_bedrock_provider_t *p);
static ngx_int_t ngx_bedrock_imds(ngx_bedrock_provider_t *p);
static ngx_int_t ngx_bedrock_ini_values(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *section, ngx_str_t *keys, ngx_str_t *values, ngx_uint_t n);
static ngx_int_t ngx_bedrock_endpoint(ngx_bedrock_provider_t *p,
    ngx_str_t *url, ngx_bedrock_endpoint_t *ep);

static void ngx_bedrock_refresh_handler(ngx_event_t *ev);
static void ngx_bedrock_start_fetch(ngx_bedrock_provider_t *p);
static ngx_int_t ngx_bedrock_next_request(ngx_bedrock_provider_t *p);
static void ngx_bedrock_fetch_handler(ngx_bedrock_fetch_t *f);
static ngx_int_t ngx_bedrock_parse_sts(ngx_bedrock_provider_t *p,
    ngx_str_t *body, ngx_bedrock_credentials_t *c);
static ngx_int_t ngx_bedrock_parse_json_creds(ngx_bedrock_provider_t *p,
    ngx_str_t *body, ngx_bedrock_credentials_t *c);
static void ngx_bedrock_fetched(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_t *c, const char *error);
static void ngx_bedrock_wake(ngx_bedrock_provider_t *p);
static void ngx_bedrock_set_static(ngx_bedrock_provider_t *p,
    const char *name);
static void ngx_bedrock_status_add(ngx_bedrock_provider_t *p,
    const char *fmt, ...);
static ngx_int_t ngx_bedrock_getenv(ngx_pool_t *pool, char *name,
    ngx_str_t *value);
static ngx_int_t ngx_bedrock_read_file(ngx_pool_t *pool, ngx_str_t *name,
    ngx_str_t *text);
static ngx_str_t *ngx_bedrock_form_escape(ngx_pool_t *pool, ngx_str_t *s);
static ngx_int_t ngx_bedrock_secret_ok(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_t *c);
static void ngx_bedrock_creds_clear(ngx_bedrock_provider_t *p);
static void ngx_bedrock_fetch_free(ngx_bedrock_provider_t *p);
static void ngx_bedrock_credentials_cleanup(void *data);
static void ngx_bedrock_wipe(ngx_str_t *s);
static void ngx_bedrock_trim(ngx_str_t *s);


ngx_bedrock_provider_t *
ngx_bedrock_credentials_init(ngx_cycle_t *cycle,
    ngx_bedrock_credentials_conf_t *conf, void *ssl)
{
    ngx_pool_cleanup_t      *cln;
    ngx_bedrock_provider_t  *p;

    p = ngx_pcalloc(cycle->pool, sizeof(ngx_bedrock_provider_t));
    if (p == NULL) {
        return NULL;
    }

    p->pool = cycle->pool;
    p->log = cycle->log;
    p->ssl = ssl;

    /* at worker exit, before the cycle pool goes: see the handler */

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_bedrock_credentials_cleanup;
    cln->data = p;

    ngx_queue_init(&p->waiters);

    p->refresh.handler = ngx_bedrock_refresh_handler;
    p->refresh.data = p;
    p->refresh.log = cycle->log;
    p->refresh.cancelable = 1;

    p->status.data = ngx_pnalloc(p->pool, 1024);
    if (p->status.data == NULL) {
        return NULL;
    }

    if (ngx_bedrock_chain(p, conf) == NGX_ERROR) {
        return NULL;
    }

    if (p->source == NGX_BEDROCK_SOURCE_NONE) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "bedrock: no AWS credentials found; looked in: %V",
                      &p->status);

    } else if (p->source == NGX_BEDROCK_SOURCE_STATIC) {
        ngx_log_error(NGX_LOG_INFO, p->log, 0,
                      "bedrock: using AWS credentials from %s",
                      p->source_name);

    } else {
        ngx_log_error(NGX_LOG_INFO, p->log, 0,
                      "bedrock: fetching AWS credentials from %s",
                      p->source_name);

        /* requests that come before the answer wait for it */

        ngx_bedrock_start_fetch(p);
    }

    return p;
}


ngx_bedrock_credentials_t *
ngx_bedrock_credentials_get(ngx_bedrock_provider_t *p)
{
    if (p == NULL || p->creds.kind == NGX_BEDROCK_CREDENTIALS_NONE) {
        return NULL;
    }

    if (p->creds.expiration && p->creds.expiration <= ngx_time()) {
        return NULL;
    }

    return &p->creds;
}


/* NGX_AGAIN: w->handler runs once a fetch ends; NGX_DECLINED: none runs */

ngx_int_t
ngx_bedrock_credentials_wait(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_waiter_t *w)
{
    if (p == NULL || !p->fetching) {
        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&p->waiters, &w->queue);

    return NGX_AGAIN;
}


void
ngx_bedrock_credentials_cancel_wait(ngx_bedrock_credentials_waiter_t *w)
{
    if (w->queue.next) {
        ngx_queue_remove(&w->queue);
        w->queue.next = NULL;
    }
}


ngx_str_t *
ngx_bedrock_credentials_status(ngx_bedrock_provider_t *p)
{
    static ngx_str_t  none = ngx_string("no provider");

    return p ? &p->status : &none;
}


/* the chain; NGX_ERROR only for a failure of the worker itself */

static ngx_int_t
ngx_bedrock_chain(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_conf_t *conf)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    /* 1. explicit configuration */

    if (conf->api_key_file.len) {
        return ngx_bedrock_from_api_key_file(p, &conf->api_key_file);
    }

    if (conf->profile.len || conf->file.len || conf->config.len) {
        rc = ngx_bedrock_from_profile(p, conf, 1);
        return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
    }

    /* 2. environment */

    rc = ngx_bedrock_from_env(p);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* 3. web identity from the environment */

    rc = ngx_bedrock_getenv(p->pool, "AWS_WEB_IDENTITY_TOKEN_FILE",
                            &p->token_file);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        if (ngx_bedrock_getenv(p->pool, "AWS_ROLE_ARN", &p->role_arn)
            == NGX_OK)
        {
            (void) ngx_bedrock_getenv(p->pool, "AWS_ROLE_SESSION_NAME",
                                      &p->session_name);
            return ngx_bedrock_web_identity(p);
        }

        ngx_bedrock_status_add(p, "web identity: AWS_ROLE_ARN is not set; ");

    } else {
        ngx_bedrock_status_add(p, "web identity: not configured; ");
    }

    /* 4. shared credentials and config files */

    rc = ngx_bedrock_from_profile(p, conf, 0);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* 5. container credentials (ECS, EKS Pod Identity) */

    rc = ngx_bedrock_container(p);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* 6. EC2 instance metadata */

    if (ngx_bedrock_getenv(p->pool, "AWS_EC2_METADATA_DISABLED", &value)
        == NGX_OK
        && value.len == 4 && ngx_strncasecmp(value.data, (u_char *) "true", 4)
                             == 0)
    {
        ngx_bedrock_status_add(p, "EC2 instance metadata: disabled");
        return NGX_OK;
    }

    return ngx_bedrock_imds(p);
}


static ngx_int_t
ngx_bedrock_from_env(ngx_bedrock_provider_t *p)
{
    ngx_int_t                   rc;
    ngx_bedrock_credentials_t   c;

    ngx_memzero(&c, sizeof(ngx_bedrock_credentials_t));

    rc = ngx_bedrock_getenv(p->pool, "AWS_BEARER_TOKEN_BEDROCK", &c.bearer);

    if (rc == NGX_OK) {
        c.kind = NGX_BEDROCK_CREDENTIALS_BEARER;
        p->creds = c;
        ngx_bedrock_set_static(p, "AWS_BEARER_TOKEN_BEDROCK");
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_bedrock_getenv(p->pool, "AWS_ACCESS_KEY_ID", &c.access_key);

    if (rc == NGX_DECLINED) {
        ngx_bedrock_status_add(p, "environment: no AWS_BEARER_TOKEN_BEDROCK "
                               "nor AWS_ACCESS_KEY_ID (each needs an "
                               "\"env\" directive); ");
        return NGX_DECLINED;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_bedrock_getenv(p->pool, "AWS_SECRET_ACCESS_KEY", &c.secret_key);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, p->log, 0,
                      "bedrock: AWS_ACCESS_KEY_ID is set but "
                      "AWS_SECRET_ACCESS_KEY is not, ignoring both");
        ngx_bedrock_status_add(p, "environment: AWS_SECRET_ACCESS_KEY is "
                               "missing; ");
        return NGX_DECLINED;
    }

    if (rc == NGX_ERROR
        || ngx_bedrock_getenv(p->pool, "AWS_SESSION_TOKEN", &c.session_token)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    c.kind = NGX_BEDROCK_CREDENTIALS_SIGV4;

    if (ngx_bedrock_secret_ok(p, &c) != NGX_OK) {
        ngx_bedrock_status_add(p, "environment: the secret key is too "
                               "long; ");
        return NGX_DECLINED;
    }

    p->creds = c;
    ngx_bedrock_set_static(p, "the environment");

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_from_api_key_file(ngx_bedrock_provider_t *p, ngx_str_t *file)
{
    ngx_int_t  rc;
    ngx_str_t  key;

    rc = ngx_bedrock_read_file(p->pool, file, &key);

    if (rc == NGX_ERROR && key.len == 0) {
        return NGX_ERROR;
    }

    ngx_bedrock_trim(&key);

    if (rc != NGX_OK || key.len == 0
        || ngx_strlchr(key.data, key.data + key.len, LF))
    {
        ngx_log_error(NGX_LOG_ERR, p->log, 0,
                      "bedrock: cannot use the Bedrock API key file \"%V\"",
                      file);
        ngx_bedrock_status_add(p, "bedrock_credentials api_key_file=%V: "
                               "unreadable or empty", file);
        return NGX_OK;
    }

    p->creds.kind = NGX_BEDROCK_CREDENTIALS_BEARER;
    p->creds.bearer = key;
    ngx_bedrock_set_static(p, "bedrock_credentials api_key_file");

    return NGX_OK;
}


/*
 * A profile of the shared files.  Supported: static keys, and role_arn
 * with web_identity_token_file.  NGX_DECLINED: no such profile or files.
 */

static ngx_int_t
ngx_bedrock_from_profile(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_conf_t *conf, ngx_uint_t explicit)
{
    ngx_int_t   rc;
    ngx_str_t   home, profile, section, path[2], text;
    ngx_uint_t  i, found;
    ngx_str_t   keys[9], values[2][9];

    enum {
        key_id = 0, secret, token, role_arn, token_file, session_name,
        source_profile, credential_process, sso
    };

    ngx_str_set(&keys[key_id], "aws_access_key_id");
    ngx_str_set(&keys[secret], "aws_secret_access_key");
    ngx_str_set(&keys[token], "aws_session_token");
    ngx_str_set(&keys[role_arn], "role_arn");
    ngx_str_set(&keys[token_file], "web_identity_token_file");
    ngx_str_set(&keys[session_name], "role_session_name");
    ngx_str_set(&keys[source_profile], "source_profile");
    ngx_str_set(&keys[credential_process], "credential_process");
    ngx_str_set(&keys[sso], "sso_start_url");

    profile = conf->profile;

    if (profile.len == 0
        && ngx_bedrock_getenv(p->pool, "AWS_PROFILE", &profile) != NGX_OK)
    {
        ngx_str_set(&profile, "default");
    }

    if (ngx_bedrock_getenv(p->pool, "HOME", &home) != NGX_OK) {
        ngx_str_set(&home, "/nonexistent");
    }

    /* [0]: the credentials file, [1]: the config file */

    path[0] = conf->file;
    path[1] = conf->config;

    for (i = 0; i < 2; i++) {
        if (path[i].len) {
            continue;
        }

        if (ngx_bedrock_getenv(p->pool, i ? "AWS_CONFIG_FILE"
                                          : "AWS_SHARED_CREDENTIALS_FILE",
                               &path[i])
            == NGX_OK)
        {
            continue;
        }

        path[i].data = ngx_pnalloc(p->pool, home.len + 32);
        if (path[i].data == NULL) {
            return NGX_ERROR;
        }

        path[i].len = ngx_sprintf(path[i].data, "%V/.aws/%s", &home,
                                  i ? "config" : "credentials")
                      - path[i].data;
    }

    found = 0;

    for (i = 0; i < 2; i++) {

        ngx_memzero(values[i], sizeof(values[i]));

        rc = ngx_bedrock_read_file(p->pool, &path[i], &text);

        if (rc == NGX_ERROR) {
            if (text.len == 0) {
                return NGX_ERROR;
            }

            ngx_log_error(NGX_LOG_ERR, p->log, 0,
                          "bedrock: cannot read \"%V\"", &path[i]);
            continue;
        }

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (i == 1 && !(profile.len == 7
                        && ngx_strncmp(profile.data, "default", 7) == 0))
        {
            section.data = ngx_pnalloc(p->pool, profile.len + 8);
            if (section.data == NULL) {
                return NGX_ERROR;
            }

            section.len = ngx_sprintf(section.data, "profile %V", &profile)
                          - section.data;

        } else {
            section = profile;
        }

        rc = ngx_bedrock_ini_values(p->pool, &text, &section, keys,
                                    values[i], 9);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            found = 1;
        }
    }

    if (!found) {
        ngx_bedrock_status_add(p, "shared files (%V, %V): no profile "
                               "\"%V\"; ", &path[0], &path[1], &profile);

        if (explicit) {
            ngx_log_error(NGX_LOG_ERR, p->log, 0,
                          "bedrock: profile \"%V\" of bedrock_credentials "
                          "is in neither \"%V\" nor \"%V\"",
                          &profile, &path[0], &path[1]);
        }

        return NGX_DECLINED;
    }

#define ngx_bedrock_value(k)                                                 \
    (values[0][k].len ? &values[0][k] : &values[1][k])

    if (ngx_bedrock_value(role_arn)->len
        && ngx_bedrock_value(token_file)->len)
    {
        p->role_arn = *ngx_bedrock_value(role_arn);
        p->token_file = *ngx_bedrock_value(token_file);
        p->session_name = *ngx_bedrock_value(session_name);

        return ngx_bedrock_web_identity(p);
    }

    if (ngx_bedrock_value(role_arn)->len
        || ngx_bedrock_value(source_profile)->len
        || ngx_bedrock_value(sso)->len
        || (values[0][key_id].len == 0
            && ngx_bedrock_value(credential_process)->len))
    {
        ngx_log_error(NGX_LOG_ERR, p->log, 0,
                      "bedrock: profile \"%V\" uses assume-role, SSO or "
                      "credential_process, which this module does not "
                      "support", &profile);
        ngx_bedrock_status_add(p, "shared files: profile \"%V\" is of an "
                               "unsupported kind (assume-role with "
                               "source_profile, SSO, credential_process)",
                               &profile);
        return NGX_OK;
    }

    /* static keys: the credentials file first, as botocore */

    i = values[0][key_id].len ? 0 : 1;

    if (values[i][key_id].len == 0 || values[i][secret].len == 0) {
        ngx_bedrock_status_add(p, "shared files: profile \"%V\" has no "
                               "keys; ", &profile);
        return explicit ? NGX_OK : NGX_DECLINED;
    }

#undef ngx_bedrock_value

    p->creds.kind = NGX_BEDROCK_CREDENTIALS_SIGV4;
    p->creds.access_key = values[i][key_id];
    p->creds.secret_key = values[i][secret];
    p->creds.session_token = values[i][token];

    if (ngx_bedrock_secret_ok(p, &p->creds) != NGX_OK) {
        ngx_memzero(&p->creds, sizeof(ngx_bedrock_credentials_t));
        return NGX_OK;
    }

    ngx_bedrock_set_static(p, i ? "the shared config file"
                                : "the shared credentials file");

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_web_identity(ngx_bedrock_provider_t *p)
{
    u_char     *d;
    ngx_int_t   rc;
    ngx_str_t   url, region;

    rc = ngx_bedrock_getenv(p->pool, "AWS_ENDPOINT_URL_STS", &url);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        if (ngx_bedrock_getenv(p->pool, "AWS_REGION", &region) != NGX_OK
            && ngx_bedrock_getenv(p->pool, "AWS_DEFAULT_REGION", &region)
               != NGX_OK)
        {
            ngx_str_set(&region, "us-east-1");
        }

        url.data = ngx_pnalloc(p->pool, region.len + 32);
        if (url.data == NULL) {
            return NGX_ERROR;
        }

        url.len = ngx_sprintf(url.data, "https://sts.%V.amazonaws.com/",
                              &region)
                  - url.data;
    }

    if (p->session_name.len == 0) {
        d = ngx_pnalloc(p->pool, 32);
        if (d == NULL) {
            return NGX_ERROR;
        }

        p->session_name.data = d;
        p->session_name.len = ngx_sprintf(d, "ngx-bedrock-%T-%P", ngx_time(),
                                          ngx_pid)
                              - d;
    }

    p->source = NGX_BEDROCK_SOURCE_WEB_IDENTITY;
    p->source_name = "web identity (STS AssumeRoleWithWebIdentity)";

    return ngx_bedrock_endpoint(p, &url, &p->endpoint);
}


static ngx_int_t
ngx_bedrock_container(ngx_bedrock_provider_t *p)
{
    ngx_int_t   rc;
    ngx_str_t   url, rel, *allowed;

    static ngx_str_t  hosts[] = {
        ngx_string("127."),
        ngx_string("localhost"),
        ngx_string("[::1]"),
        ngx_string("169.254.170.2"),
        ngx_string("169.254.170.23"),
        ngx_string("[fd00:ec2::23]"),
        ngx_null_string
    };

    rc = ngx_bedrock_getenv(p->pool, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                            &rel);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        url.data = ngx_pnalloc(p->pool, rel.len + 32);
        if (url.data == NULL) {
            return NGX_ERROR;
        }

        url.len = ngx_sprintf(url.data, "http://169.254.170.2%V", &rel)
                  - url.data;

    } else {
        rc = ngx_bedrock_getenv(p->pool, "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                &url);
        if (rc != NGX_OK) {
            ngx_bedrock_status_add(p, "container: not configured; ");
            return rc;
        }
    }

    if (ngx_bedrock_getenv(p->pool, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                           &p->token_file)
        == NGX_ERROR
        || ngx_bedrock_getenv(p->pool, "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                              &p->token)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    p->source = NGX_BEDROCK_SOURCE_CONTAINER;
    p->source_name = "the container credentials endpoint";

    rc = ngx_bedrock_endpoint(p, &url, &p->endpoint);
    if (rc != NGX_OK) {
        return rc;
    }

    /* as the SDKs: plain HTTP only to loopback and the ECS/EKS agents */

    if (!p->endpoint.ssl && p->source == NGX_BEDROCK_SOURCE_CONTAINER) {

        for (allowed = hosts; allowed->len; allowed++) {
            if (p->endpoint.name.len >= allowed->len
                && ngx_strncmp(p->endpoint.name.data, allowed->data,
                               allowed->len)
                   == 0
                && (allowed->data[allowed->len - 1] == '.'
                    || p->endpoint.name.len == allowed->len))
            {
                break;
            }
        }

        if (allowed->len == 0) {
            ngx_log_error(NGX_LOG_ERR, p->log, 0,
                          "bedrock: the container credentials URI's host "
                          "\"%V\" is not allowed: it must be https, or "
                          "loopback or an ECS/EKS agent address",
                          &p->endpoint.name);
            p->source = NGX_BEDROCK_SOURCE_NONE;
            ngx_bedrock_status_add(p, "container: the URI's host is not "
                                   "allowed");
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_bedrock_imds(ngx_bedrock_provider_t *p)
{
    ngx_int_t  rc;
    ngx_str_t  url;

    rc = ngx_bedrock_getenv(p->pool, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                            &url);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&url, "http://169.254.169.254");
    }

    p->source = NGX_BEDROCK_SOURCE_IMDS;
    p->source_name = "EC2 instance metadata (IMDSv2)";

    return ngx_bedrock_endpoint(p, &url, &p->endpoint);
}


/* the values of keys in [section] of an INI text; NGX_DECLINED: none */

static ngx_int_t
ngx_bedrock_ini_values(ngx_pool_t *pool, ngx_str_t *text, ngx_str_t *section,
    ngx_str_t *keys, ngx_str_t *values, ngx_uint_t n)
{
    u_char      *p, *last, *eol, *eq, *k, *ke, *v, *ve;
    ngx_uint_t   i, in, found;

    p = text->data;
    last = text->data + text->len;
    in = 0;
    found = 0;

    for ( /* void */ ; p < last; p = eol + 1) {

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            eol = last;
        }

        while (p < eol && (*p == ' ' || *p == '\t')) {
            p++;
        }

        ve = eol;

        while (ve > p && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == CR)) {
            ve--;
        }

        if (p == ve || *p == '#' || *p == ';') {
            continue;
        }

        if (*p == '[') {
            k = p + 1;
            ke = ngx_strlchr(k, ve, ']');

            if (ke == NULL) {
                in = 0;
                continue;
            }

            while (k < ke && *k == ' ') {
                k++;
            }

            while (ke > k && ke[-1] == ' ') {
                ke--;
            }

            in = ((size_t) (ke - k) == section->len
                  && ngx_strncmp(k, section->data, section->len) == 0);
            found |= in;
            continue;
        }

        if (!in) {
            continue;
        }

        eq = ngx_strlchr(p, ve, '=');
        if (eq == NULL) {
            continue;
        }

        ke = eq;

        while (ke > p && (ke[-1] == ' ' || ke[-1] == '\t')) {
            ke--;
        }

        for (v = eq + 1; v < ve && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        for (i = 0; i < n; i++) {
            if (keys[i].len == (size_t) (ke - p)
                && ngx_strncasecmp(keys[i].data, p, keys[i].len) == 0)
            {
                values[i].data = v;
                values[i].len = ve - v;
            }
        }
    }

    return found ? NGX_OK : NGX_DECLINED;
}


/* resolves the endpoint's name now: this runs when a worker starts */

static ngx_int_t
ngx_bedrock_endpoint(ngx_bedrock_provider_t *p, ngx_str_t *url,
    ngx_bedrock_endpoint_t *ep)
{
    size_t     add;
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    if (url->len > 8 && ngx_strncasecmp(url->data, (u_char *) "https://", 8)
                        == 0)
    {
        add = 8;
        u.default_port = 443;
        ep->ssl = 1;

    } else if (url->len > 7
               && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
    {
        add = 7;
        u.default_port = 80;
        ep->ssl = 0;

    } else {
        ngx_log_error(NGX_LOG_ERR, p->log, 0,
                      "bedrock: invalid credentials endpoint \"%V\"", url);
        p->source = NGX_BEDROCK_SOURCE_NONE;
        ngx_bedrock_status_add(p, "%s: invalid endpoint URL", p->source_name);
        return NGX_OK;
    }

    u.url.data = url->data + add;
    u.url.len = url->len - add;
    u.uri_part = 1;

    if (ngx_parse_url(p->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, p->log, 0,
                      "bedrock: %s in the credentials endpoint \"%V\"",
                      u.err ? u.err : "no address", url);
        p->source = NGX_BEDROCK_SOURCE_NONE;
        ngx_bedrock_status_add(p, "%s: the endpoint cannot be resolved",
                               p->source_name);
        return NGX_OK;
    }

    ep->addr = &u.addrs[0];
    ep->name = u.host;
    ep->host = u.host;

    if (!u.no_port && u.port != u.default_port) {
        ep->host.data = ngx_pnalloc(p->pool, u.host.len + NGX_INT_T_LEN);
        if (ep->host.data == NULL) {
            return NGX_ERROR;
        }

        ep->host.len = ngx_sprintf(ep->host.data, "%V:%d", &u.host,
                                   (int) u.port)
                       - ep->host.data;
    }

    /* the certificate name check wants it NUL-terminated, as SNI */

    ep->name.data = ngx_pnalloc(p->pool, u.host.len + 1);
    if (ep->name.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(ep->name.data, u.host.data, u.host.len + 1);

    if (u.uri.len) {
        ep->path = u.uri;

    } else {
        ngx_str_set(&ep->path, "/");
    }

    return NGX_OK;
}


static void
ngx_bedrock_refresh_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                   "bedrock credentials: refresh timer");

    ngx_bedrock_start_fetch(ev->data);
}


static void
ngx_bedrock_start_fetch(ngx_bedrock_provider_t *p)
{
    if (p->fetching || p->source <= NGX_BEDROCK_SOURCE_STATIC) {
        return;
    }

    p->fetch_pool = ngx_create_pool(4096, p->log);
    if (p->fetch_pool == NULL) {
        ngx_bedrock_fetched(p, NULL, "out of memory");
        return;
    }

    p->fetch = ngx_pcalloc(p->fetch_pool, sizeof(ngx_bedrock_fetch_t));
    if (p->fetch == NULL) {
        ngx_bedrock_fetched(p, NULL, "out of memory");
        return;
    }

    p->fetching = 1;
    p->step = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, p->log, 0,
                   "bedrock credentials: fetching from %s", p->source_name);

    if (ngx_bedrock_next_request(p) != NGX_OK) {
        ngx_bedrock_fetched(p, NULL, p->fetch->error ? p->fetch->error
                                                     : "cannot start");
    }
}


/* builds and starts the next HTTP exchange of the current source */

static ngx_int_t
ngx_bedrock_next_request(ngx_bedrock_provider_t *p)
{
    size_t                len;
    u_char               *d;
    ngx_int_t             rc;
    ngx_str_t             token, *arn, *name, *tok, path;
    ngx_bedrock_fetch_t  *f;

    f = p->fetch;

    f->pool = p->fetch_pool;
    f->log = p->log;
    f->addr = p->endpoint.addr;
    f->host = p->endpoint.name;
    f->ssl = p->endpoint.ssl ? p->ssl : NULL;
    f->timeout = NGX_BEDROCK_FETCH_TIMEOUT;
    f->max = NGX_BEDROCK_FETCH_MAX;
    f->handler = ngx_bedrock_fetch_handler;
    f->data = p;
    f->error = NULL;

    len = 1024 + p->endpoint.host.len + p->endpoint.path.len;

    switch (p->source) {

    case NGX_BEDROCK_SOURCE_WEB_IDENTITY:

        /* the token file rotates: read on every exchange */

        rc = ngx_bedrock_read_file(f->pool, &p->token_file, &token);

        if (rc == NGX_OK) {
            ngx_bedrock_trim(&token);
        }

        if (rc != NGX_OK || token.len == 0) {
            ngx_log_error(NGX_LOG_ERR, p->log, 0,
                          "bedrock: the web identity token file \"%V\" is "
                          "unreadable or empty", &p->token_file);
            f->error = "the web identity token file is unreadable or empty";
            return NGX_ERROR;
        }

        arn = ngx_bedrock_form_escape(f->pool, &p->role_arn);
        name = ngx_bedrock_form_escape(f->pool, &p->session_name);
        tok = ngx_bedrock_form_escape(f->pool, &token);

        if (arn == NULL || name == NULL || tok == NULL) {
            return NGX_ERROR;
        }

        len += arn->len + name->len + tok->len;

        d = ngx_pnalloc(f->pool, len);
        if (d == NULL) {
            return NGX_ERROR;
        }

        f->request.data = d;
        f->request.len = ngx_snprintf(d, len,
                      "POST %V HTTP/1.1" CRLF
                      "Host: %V" CRLF
                      "Content-Type: application/x-www-form-urlencoded" CRLF
                      "Content-Length: %uz" CRLF
                      "Connection: close" CRLF CRLF
                      "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                      "&RoleArn=%V&RoleSessionName=%V&WebIdentityToken=%V",
                      &p->endpoint.path, &p->endpoint.host,
                      sizeof("Action=AssumeRoleWithWebIdentity"
                             "&Version=2011-06-15&RoleArn=&RoleSessionName="
                             "&WebIdentityToken=") - 1
                      + arn->len + name->len + tok->len,
                      arn, name, tok)
                  - d;
        break;

    case NGX_BEDROCK_SOURCE_CONTAINER:

        ngx_str_null(&token);

        if (p->token_file.len) {
            rc = ngx_bedrock_read_file(f->pool, &p->token_file, &token);

            if (rc == NGX_OK) {
                ngx_bedrock_trim(&token);
            }

            if (rc != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, p->log, 0,
                              "bedrock: the container authorization token "
                              "file \"%V\" is unreadable", &p->token_file);
                f->error = "the container authorization token file is "
                           "unreadable";
                return NGX_ERROR;
            }

        } else {
            token = p->token;
        }

        if (ngx_strlchr(token.data, token.data + token.len, LF)
            || ngx_strlchr(token.data, token.data + token.len, CR))
        {
            f->error = "the container authorization token has a line break";
            return NGX_ERROR;
        }

        len += token.len;

        d = ngx_pnalloc(f->pool, len);
        if (d == NULL) {
            return NGX_ERROR;
        }

        f->request.data = d;
        f->request.len = ngx_snprintf(d, len, "GET %V HTTP/1.1" CRLF
                                      "Host: %V" CRLF
                                      "Accept: application/json" CRLF
                                      "%s%V%s"
                                      "Connection: close" CRLF CRLF,
                                      &p->endpoint.path, &p->endpoint.host,
                                      token.len ? "Authorization: " : "",
                                      &token, token.len ? CRLF : "")
                         - d;
        break;

    default: /* NGX_BEDROCK_SOURCE_IMDS */

        len += p->imds_token.len + p->imds_role.len;

        d = ngx_pnalloc(f->pool, len);
        if (d == NULL) {
            return NGX_ERROR;
        }

        f->request.data = d;

        if (p->step == 0) {
            f->request.len = ngx_snprintf(d, len,
                               "PUT /latest/api/token HTTP/1.1" CRLF
                               "Host: %V" CRLF
                               "X-aws-ec2-metadata-token-ttl-seconds: 21600"
                               CRLF
                               "Content-Length: 0" CRLF
                               "Connection: close" CRLF CRLF,
                               &p->endpoint.host)
                             - d;
            break;
        }

        ngx_str_set(&path, "/latest/meta-data/iam/security-credentials/");

        f->request.len = ngx_snprintf(d, len, "GET %V%V HTTP/1.1" CRLF
                                      "Host: %V" CRLF
                                      "X-aws-ec2-metadata-token: %V" CRLF
                                      "Connection: close" CRLF CRLF,
                                      &path, &p->imds_role,
                                      &p->endpoint.host, &p->imds_token)
                         - d;
        break;
    }

    /* the request's headers may hold a token: only its size is logged */

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, p->log, 0,
                   "bedrock credentials: step %ui to %V, %uz bytes",
                   p->step, &p->endpoint.host, f->request.len);

    return ngx_bedrock_fetch(f);
}


static void
ngx_bedrock_fetch_handler(ngx_bedrock_fetch_t *f)
{
    ngx_bedrock_provider_t *p = f->data;

    u_char                     *s;
    ngx_int_t                   rc;
    ngx_bedrock_credentials_t   c;

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, p->log, 0,
                   "bedrock credentials: step %ui answered: rc %i, "
                   "status %ui, %uz bytes",
                   p->step, f->rc, f->status, f->body.len);

    if (f->rc != NGX_OK) {
        ngx_bedrock_fetched(p, NULL, f->error);
        return;
    }

    if (f->status != 200) {
        s = ngx_pnalloc(f->pool, 64);
        if (s != NULL) {
            (void) ngx_sprintf(s, "HTTP status %ui%Z", f->status);
        }

        ngx_bedrock_fetched(p, NULL, s ? (char *) s : "HTTP error");
        return;
    }

    ngx_memzero(&c, sizeof(ngx_bedrock_credentials_t));

    switch (p->source) {

    case NGX_BEDROCK_SOURCE_WEB_IDENTITY:
        rc = ngx_bedrock_parse_sts(p, &f->body, &c);
        break;

    case NGX_BEDROCK_SOURCE_CONTAINER:
        rc = ngx_bedrock_parse_json_creds(p, &f->body, &c);
        break;

    default: /* NGX_BEDROCK_SOURCE_IMDS */

        if (p->step < 2) {

            /* the session token, then the role name */

            while (f->body.len && (f->body.data[f->body.len - 1] == LF
                                   || f->body.data[f->body.len - 1] == CR))
            {
                f->body.len--;
            }

            if (f->body.len == 0 || f->body.len > 4096
                || ngx_strlchr(f->body.data, f->body.data + f->body.len, LF)
                || ngx_strlchr(f->body.data, f->body.data + f->body.len, CR)
                || (p->step == 1
                    && ngx_strlchr(f->body.data, f->body.data + f->body.len,
                                   '/')))
            {
                ngx_bedrock_fetched(p, NULL, "unexpected instance metadata");
                return;
            }

            if (p->step == 0) {
                p->imds_token = f->body;

            } else {
                p->imds_role = f->body;
            }

            p->step++;

            if (ngx_bedrock_next_request(p) != NGX_OK) {
                ngx_bedrock_fetched(p, NULL, f->error ? f->error
                                                      : "cannot start");
            }

            return;
        }

        rc = ngx_bedrock_parse_json_creds(p, &f->body, &c);
        break;
    }

    if (rc != NGX_OK) {

        /* what was parsed before the failure, in the fetch's pool */

        ngx_bedrock_wipe(&c.access_key);
        ngx_bedrock_wipe(&c.secret_key);
        ngx_bedrock_wipe(&c.session_token);

        ngx_bedrock_fetched(p, NULL, "the answer holds no credentials");
        return;
    }

    ngx_bedrock_fetched(p, &c, NULL);
}


static ngx_int_t
ngx_bedrock_parse_sts(ngx_bedrock_provider_t *p, ngx_str_t *body,
    ngx_bedrock_credentials_t *c)
{
    ngx_str_t  expiration;

    if (ngx_bedrock_xml_value(body, "AccessKeyId", &c->access_key) != NGX_OK
        || ngx_bedrock_xml_value(body, "SecretAccessKey", &c->secret_key)
           != NGX_OK
        || ngx_bedrock_xml_value(body, "SessionToken", &c->session_token)
           != NGX_OK
        || ngx_bedrock_xml_value(body, "Expiration", &expiration) != NGX_OK)
    {
        return NGX_ERROR;
    }

    c->expiration = ngx_bedrock_parse_iso8601(expiration.data,
                                              expiration.len);

    return c->expiration > 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_bedrock_parse_json_creds(ngx_bedrock_provider_t *p, ngx_str_t *body,
    ngx_bedrock_credentials_t *c)
{
    ngx_str_t            error;
    ngx_uint_t           budget;
    ngx_bedrock_json_t  *root, *v;

    budget = 256;

    if (ngx_bedrock_json_parse(p->fetch_pool, body->data, body->len, &budget,
                               &root, &error)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = ngx_bedrock_json_get(root, "Code");

    if (v && !ngx_bedrock_json_is_str(v, "Success")) {
        return NGX_ERROR;
    }

#define ngx_bedrock_json_field(name, dst)                                    \
    v = ngx_bedrock_json_get(root, name);                                    \
    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING || v->value.len == 0)\
    {                                                                        \
        return NGX_ERROR;                                                    \
    }                                                                        \
    dst = v->value

    ngx_bedrock_json_field("AccessKeyId", c->access_key);
    ngx_bedrock_json_field("SecretAccessKey", c->secret_key);
    ngx_bedrock_json_field("Token", c->session_token);

#undef ngx_bedrock_json_field

    v = ngx_bedrock_json_get(root, "Expiration");

    if (v == NULL || v->type != NGX_BEDROCK_JSON_STRING) {
        return NGX_ERROR;
    }

    c->expiration = ngx_bedrock_parse_iso8601(v->value.data, v->value.len);

    return c->expiration > 0 ? NGX_OK : NGX_ERROR;
}


/* a fetch ended: new credentials (c), or an error */

static void
ngx_bedrock_fetched(ngx_bedrock_provider_t *p, ngx_bedrock_credentials_t *c,
    const char *error)
{
    time_t       now, next;
    u_char      *d;
    size_t       len;
    ngx_pool_t  *pool;

    p->fetching = 0;
    now = ngx_time();
    next = 1;

    if (c && ngx_bedrock_secret_ok(p, c) != NGX_OK) {
        c = NULL;
        error = "the secret key is too long";
    }

    if (c) {

        /* a copy in a pool of their own, which the next ones replace */

        pool = ngx_create_pool(1024, p->log);
        len = c->access_key.len + c->secret_key.len + c->session_token.len;

        d = pool ? ngx_pnalloc(pool, len) : NULL;

        if (d == NULL) {
            if (pool) {
                ngx_destroy_pool(pool);
            }

            c = NULL;
            error = "out of memory";

        } else {
            ngx_bedrock_creds_clear(p);

            p->creds = *c;
            p->creds.kind = NGX_BEDROCK_CREDENTIALS_SIGV4;
            p->creds_pool = pool;

            p->creds.access_key.data = d;
            d = ngx_cpymem(d, c->access_key.data, c->access_key.len);
            p->creds.secret_key.data = d;
            d = ngx_cpymem(d, c->secret_key.data, c->secret_key.len);
            p->creds.session_token.data = d;
            (void) ngx_cpymem(d, c->session_token.data, c->session_token.len);

            /* the parsed ones, in the fetch's pool */

            ngx_bedrock_wipe(&c->access_key);
            ngx_bedrock_wipe(&c->secret_key);
            ngx_bedrock_wipe(&c->session_token);

            if (p->failures) {
                ngx_log_error(NGX_LOG_NOTICE, p->log, 0,
                              "bedrock: AWS credentials from %s are "
                              "available again", p->source_name);
            }

            p->failures = 0;

            next = c->expiration - NGX_BEDROCK_REFRESH_MARGIN - now;
            next = ngx_max(next, 1);

            ngx_log_debug2(NGX_LOG_DEBUG_EVENT, p->log, 0,
                           "bedrock credentials fetched, expire in %T s, "
                           "refresh in %T s", c->expiration - now, next);
        }
    }

    if (c == NULL) {

        /* logged once per run of failures, not per request or retry */

        if (p->failures++ == 0) {
            ngx_log_error(NGX_LOG_ERR, p->log, 0,
                          "bedrock: fetching AWS credentials from %s "
                          "failed: %s%s", p->source_name,
                          error ? error : "unknown error",
                          ngx_bedrock_credentials_get(p)
                          ? "; the current ones are used until they expire"
                          : "; requests get 503 until it works");
        }

        next = (time_t) 1 << ngx_min(p->failures - 1, 6);
        next = ngx_min(next, NGX_BEDROCK_BACKOFF_MAX);

        ngx_log_debug3(NGX_LOG_DEBUG_EVENT, p->log, 0,
                       "bedrock credentials: failure %ui (%s), retry in %T s",
                       p->failures, error ? error : "unknown error", next);

        p->status.len = 0;
        ngx_bedrock_status_add(p, "%s: %s", p->source_name,
                               error ? error : "unknown error");
    }

    ngx_bedrock_fetch_free(p);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, p->log, 0,
                   "bedrock credentials: waking %s",
                   ngx_queue_empty(&p->waiters) ? "no request" : "requests");

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&p->refresh, (ngx_msec_t) next * 1000);
    }

    ngx_bedrock_wake(p);
}


static void
ngx_bedrock_wake(ngx_bedrock_provider_t *p)
{
    ngx_queue_t                       *q;
    ngx_bedrock_credentials_waiter_t  *w;

    while (!ngx_queue_empty(&p->waiters)) {
        q = ngx_queue_head(&p->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_bedrock_credentials_waiter_t, queue);
        w->queue.next = NULL;

        w->handler(w->data);
    }
}


static void
ngx_bedrock_set_static(ngx_bedrock_provider_t *p, const char *name)
{
    p->source = NGX_BEDROCK_SOURCE_STATIC;
    p->source_name = name;
    p->status.len = 0;
    ngx_bedrock_status_add(p, "%s", name);
}


static void
ngx_bedrock_status_add(ngx_bedrock_provider_t *p, const char *fmt, ...)
{
    u_char   *last;
    va_list   args;

    last = p->status.data + 1024;

    va_start(args, fmt);
    p->status.len = ngx_vslprintf(p->status.data + p->status.len, last, fmt,
                                  args)
                    - p->status.data;
    va_end(args);
}


/*
 * Environment of the worker: nginx keeps only what "env" names.  A value
 * with a line break would split a request's headers: it is ignored.
 */

static ngx_int_t
ngx_bedrock_getenv(ngx_pool_t *pool, char *name, ngx_str_t *value)
{
    char  *v;

    v = getenv(name);

    if (v == NULL || *v == '\0' || strpbrk(v, "\r\n") != NULL) {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    value->len = ngx_strlen(v);
    value->data = ngx_pnalloc(pool, value->len);

    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, v, value->len);

    return NGX_OK;
}


/*
 * A small local file, read when a worker starts or a token is exchanged.
 * NGX_DECLINED: it does not exist; NGX_ERROR with text->len 0: no memory.
 */

static ngx_int_t
ngx_bedrock_read_file(ngx_pool_t *pool, ngx_str_t *name, ngx_str_t *text)
{
    u_char           *path;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    ngx_str_set(text, "-");

    path = ngx_pnalloc(pool, name->len + 1);
    if (path == NULL) {
        text->len = 0;
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(path, name->data, name->len + 1);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        return (ngx_errno == NGX_ENOENT || ngx_errno == NGX_ENOTDIR)
               ? NGX_DECLINED : NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_BEDROCK_FILE_MAX)
    {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    text->data = ngx_pnalloc(pool, (size_t) ngx_file_size(&fi) + 1);
    if (text->data == NULL) {
        (void) ngx_close_file(fd);
        text->len = 0;
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, text->data, (size_t) ngx_file_size(&fi));

    (void) ngx_close_file(fd);

    if (n < 0) {
        ngx_str_set(text, "-");
        return NGX_ERROR;
    }

    text->len = n;

    return NGX_OK;
}


/* application/x-www-form-urlencoded */

static ngx_str_t *
ngx_bedrock_form_escape(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char     *p;
    ngx_str_t  *out;

    out = ngx_palloc(pool, sizeof(ngx_str_t));
    if (out == NULL) {
        return NULL;
    }

    out->len = s->len + 2 * ngx_escape_uri(NULL, s->data, s->len,
                                           NGX_ESCAPE_ARGS);
    p = ngx_pnalloc(pool, out->len);
    if (p == NULL) {
        return NULL;
    }

    (void) ngx_escape_uri(p, s->data, s->len, NGX_ESCAPE_ARGS);
    out->data = p;

    return out;
}


static ngx_int_t
ngx_bedrock_secret_ok(ngx_bedrock_provider_t *p, ngx_bedrock_credentials_t *c)
{
    if (c->secret_key.len <= NGX_BEDROCK_CREDENTIALS_SECRET_MAX) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, p->log, 0,
                  "bedrock: AWS_SECRET_ACCESS_KEY is longer than %d bytes, "
                  "ignoring the keys", NGX_BEDROCK_CREDENTIALS_SECRET_MAX);

    return NGX_ERROR;
}


/* white space and line ends off both sides of a file's content */

static void
ngx_bedrock_trim(ngx_str_t *s)
{
    while (s->len && (s->data[0] == ' ' || s->data[0] == '\t'
                      || s->data[0] == CR || s->data[0] == LF))
    {
        s->data++;
        s->len--;
    }

    while (s->len && (s->data[s->len - 1] == ' '
                      || s->data[s->len - 1] == '\t'
                      || s->data[s->len - 1] == CR
                      || s->data[s->len - 1] == LF))
    {
        s->len--;
    }
}


/* the previous temporary credentials, wiped before their memory goes */

static void
ngx_bedrock_creds_clear(ngx_bedrock_provider_t *p)
{
    if (p->creds_pool == NULL) {
        return;
    }

    ngx_explicit_memzero(p->creds.access_key.data,
                         p->creds.access_key.len + p->creds.secret_key.len
                         + p->creds.session_token.len);

    ngx_destroy_pool(p->creds_pool);
    p->creds_pool = NULL;
}


/*
 * When a worker exits: from the module's exit_process hook, so that a fetch
 * in flight is closed before nginx looks for sockets left open (an alert
 * at a graceful stop), and again as the cycle pool's cleanup.  The fetch's
 * pool is freed and whatever credentials the worker holds are wiped, the
 * temporary ones with their pool, the static ones (copies in the cycle
 * pool) in place.  Running it twice is harmless.
 */

void
ngx_bedrock_credentials_exit(ngx_bedrock_provider_t *p)
{
    ngx_bedrock_credentials_cleanup(p);
}


static void
ngx_bedrock_credentials_cleanup(void *data)
{
    ngx_bedrock_provider_t *p = data;

    ngx_bedrock_credentials_t  *c;

    if (p->refresh.timer_set) {
        ngx_del_timer(&p->refresh);
    }

    if (p->fetch) {
        ngx_bedrock_fetch_cancel(p->fetch);
    }

    ngx_bedrock_fetch_free(p);

    if (p->creds_pool) {
        ngx_bedrock_creds_clear(p);

    } else {
        c = &p->creds;

        ngx_bedrock_wipe(&c->access_key);
        ngx_bedrock_wipe(&c->secret_key);
        ngx_bedrock_wipe(&c->session_token);
        ngx_bedrock_wipe(&c->bearer);
    }

    ngx_memzero(&p->creds, sizeof(ngx_bedrock_credentials_t));
}


/* the response of the last fetch held keys: wiped before the pool goes */

static void
ngx_bedrock_fetch_free(ngx_bedrock_provider_t *p)
{
    ngx_buf_t  *b;

    if (p->fetch_pool == NULL) {
        return;
    }

    if (p->fetch && p->fetch->buf) {
        b = p->fetch->buf;
        ngx_explicit_memzero(b->start, b->end - b->start);
    }

    /* IMDS: in the buffers of the earlier exchanges */

    ngx_bedrock_wipe(&p->imds_token);
    ngx_bedrock_wipe(&p->imds_role);

    ngx_destroy_pool(p->fetch_pool);
    p->fetch_pool = NULL;
    p->fetch = NULL;
    ngx_str_null(&p->imds_token);
    ngx_str_null(&p->imds_role);
}


static void
ngx_bedrock_wipe(ngx_str_t *s)
{
    if (s->len) {
        ngx_explicit_memzero(s->data, s->len);
    }
}


/* "2026-11-21T23:59:59Z", with optional fractions and a +00:00 offset */

time_t
ngx_bedrock_parse_iso8601(u_char *p, size_t len)
{
    u_char      *last, *frac;
    ngx_int_t    v[6], oh, om;
    ngx_uint_t   i, leap;
    time_t       days, y, m, sign, offset;

    static char       sep[] = "--T::";
    static size_t     width[] = { 4, 2, 2, 2, 2, 2 };
    static ngx_int_t  mdays[] = { 31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31 };

    last = p + len;

    for (i = 0; i < 6; i++) {
        if ((size_t) (last - p) < width[i]) {
            return 0;
        }

        v[i] = ngx_atoi(p, width[i]);

        if (v[i] == NGX_ERROR) {
            return 0;
        }

        p += width[i];

        if (i < 5) {
            if (p == last || (*p != sep[i] && !(i == 2 && *p == 't'))) {
                return 0;
            }

            p++;
        }
    }

    if (v[1] < 1 || v[1] > 12 || v[3] > 23 || v[4] > 59 || v[5] > 60) {
        return 0;
    }

    leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;

    if (v[2] < 1 || v[2] > mdays[v[1] - 1] + (v[1] == 2 && leap)) {
        return 0;
    }

    /* fractions of a second: at least one digit */

    if (p < last && *p == '.') {
        frac = ++p;

        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == frac) {
            return 0;
        }
    }

    offset = 0;

    if (p < last && (*p == '+' || *p == '-')) {
        sign = (*p == '-') ? -1 : 1;

        if (last - p != 6 || p[3] != ':') {
            return 0;
        }

        oh = ngx_atoi(p + 1, 2);
        om = ngx_atoi(p + 4, 2);

        if (oh == NGX_ERROR || om == NGX_ERROR || oh > 23 || om > 59) {
            return 0;
        }

        offset = sign * (oh * 3600 + om * 60);
        p = last;

    } else if (p < last && (*p == 'Z' || *p == 'z')) {
        p++;
    }

    if (p != last) {
        return 0;
    }

    /* days since the epoch, from the civil date */

    y = v[0] - (v[1] <= 2);
    m = v[1] <= 2 ? v[1] + 9 : v[1] - 3;

    days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + v[2] - 1
           - 719468;

    return days * 86400 + v[3] * 3600 + v[4] * 60 + v[5] - offset;
}


/* the text of the first <tag>...</tag> */

ngx_int_t
ngx_bedrock_xml_value(ngx_str_t *xml, char *tag, ngx_str_t *value)
{
    u_char  *p, *q, *last, open[64];
    size_t   len;

    len = ngx_strlen(tag);

    if (len + 3 > sizeof(open)) {
        return NGX_ERROR;
    }

    last = xml->data + xml->len;

    open[0] = '<';
    ngx_memcpy(open + 1, tag, len);
    open[len + 1] = '>';

    p = ngx_strlcasestrn(xml->data, last, open, len + 2 - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += len + 2;

    q = ngx_strlchr(p, last, '<');
    if (q == NULL || q == p) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = q - p;

    return NGX_OK;
}
