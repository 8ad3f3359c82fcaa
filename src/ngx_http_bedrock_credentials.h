
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/* AWS secret keys are 40 characters; the signer's limit */
#define NGX_BEDROCK_CREDENTIALS_SECRET_MAX  256


typedef enum {
    NGX_BEDROCK_CREDENTIALS_NONE = 0,
    NGX_BEDROCK_CREDENTIALS_SIGV4,
    NGX_BEDROCK_CREDENTIALS_BEARER
} ngx_bedrock_credentials_kind_e;


typedef struct {
    ngx_bedrock_credentials_kind_e  kind;
    ngx_str_t                       access_key;
    ngx_str_t                       secret_key;
    ngx_str_t                       session_token;
    ngx_str_t                       bearer;
    time_t                          expiration;   /* 0: does not expire */
} ngx_bedrock_credentials_t;


/* the "bedrock_credentials" directive */
typedef struct {
    ngx_str_t                       profile;
    ngx_str_t                       file;
    ngx_str_t                       config;
    ngx_str_t                       api_key_file;
} ngx_bedrock_credentials_conf_t;


typedef struct {
    ngx_queue_t                     queue;
    void                          (*handler)(void *data);
    void                           *data;
} ngx_bedrock_credentials_waiter_t;


typedef struct ngx_bedrock_provider_s  ngx_bedrock_provider_t;


ngx_bedrock_provider_t *ngx_bedrock_credentials_init(ngx_cycle_t *cycle,
    ngx_bedrock_credentials_conf_t *conf, void *ssl);
ngx_bedrock_credentials_t *ngx_bedrock_credentials_get(
    ngx_bedrock_provider_t *p);
ngx_int_t ngx_bedrock_credentials_wait(ngx_bedrock_provider_t *p,
    ngx_bedrock_credentials_waiter_t *w);
void ngx_bedrock_credentials_cancel_wait(ngx_bedrock_credentials_waiter_t *w);
ngx_str_t *ngx_bedrock_credentials_status(ngx_bedrock_provider_t *p);
void ngx_bedrock_credentials_exit(ngx_bedrock_provider_t *p);

/* parsers, free of I/O */
time_t ngx_bedrock_parse_iso8601(u_char *p, size_t len);
ngx_int_t ngx_bedrock_xml_value(ngx_str_t *xml, char *tag, ngx_str_t *value);


#endif /* _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_ */
