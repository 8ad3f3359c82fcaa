
/*
 * Copyright (C) ngx_http_bedrock_module authors
 *
 * An OpenAI-compatible gateway to Amazon Bedrock: OpenAI Chat Completions
 * requests are translated to Bedrock Converse, signed with SigV4 and sent
 * through the upstream module; answers are translated back.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_chat.h"
#include "ngx_http_bedrock_messages.h"
#include "ngx_http_bedrock_responses.h"
#include "ngx_http_bedrock_embeddings.h"
#include "ngx_http_bedrock_sigv4.h"
#include "ngx_http_bedrock_credentials.h"
#include "ngx_http_bedrock_eventstream.h"
#include "ngx_http_bedrock_stream.h"
#include "ngx_http_bedrock_image.h"
#include "ngx_http_bedrock_metrics.h"
#include "ngx_http_bedrock_limit.h"


#define NGX_HTTP_BEDROCK_MODEL_ID_MAX  2048

/* the largest request body translated, whatever client_max_body_size */
#define NGX_HTTP_BEDROCK_BODY_MAX      (64 * 1024 * 1024)

/* the size of the buffers SSE events are written into */
#define NGX_HTTP_BEDROCK_SSE_BUF       4096

/*
 * A stream's pool for one upstream read's events: created when the read
 * starts, destroyed when it ends, so an idle stream holds none
 */
#define NGX_HTTP_BEDROCK_SCRATCH_SIZE  4096

/* the pool a request or an answer is parsed in, freed right after */
#define NGX_HTTP_BEDROCK_TEMP_POOL_SIZE  16384

/* the InvokeModel calls of one embeddings request in flight at a time */
#define NGX_HTTP_BEDROCK_EMBED_WINDOW    8

/* Retry-After, in seconds, on a 429 or 503 that gives none of its own */
#define NGX_HTTP_BEDROCK_RETRY_AFTER   "1"


typedef enum {
    ngx_http_bedrock_route_unknown = 0,
    ngx_http_bedrock_route_chat,
    ngx_http_bedrock_route_responses,
    ngx_http_bedrock_route_stored,     /* .../responses/{id}: none kept */
    ngx_http_bedrock_route_messages,
    ngx_http_bedrock_route_count_tokens,
    ngx_http_bedrock_route_models,
    ngx_http_bedrock_route_model,
    ngx_http_bedrock_route_native,
    ngx_http_bedrock_route_embeddings
} ngx_http_bedrock_route_e;


/* what the upstream call is, which decides how its answer is read */
typedef enum {
    ngx_http_bedrock_call_chat = 0,     /* Converse, for OpenAI chat */
    ngx_http_bedrock_call_claude,       /* InvokeModel, for Messages */
    ngx_http_bedrock_call_messages,     /* Converse, for Messages */
    ngx_http_bedrock_call_count,        /* CountTokens, for Messages */
    ngx_http_bedrock_call_native,       /* the client's own call */
    ngx_http_bedrock_call_responses,    /* Converse, for OpenAI Responses */
    ngx_http_bedrock_call_embed         /* InvokeModel, one of embeddings */
} ngx_http_bedrock_call_e;


/* the client's dialect, which decides the shape of its errors */
#define NGX_HTTP_BEDROCK_DIALECT_AWS  100


/* Bedrock Runtime operations served with bedrock_native on */
typedef struct {
    ngx_str_t                      op;
    ngx_uint_t                     stream;
    ngx_uint_t                     invoke;   /* InvokeModel's headers */
} ngx_http_bedrock_native_op_t;


typedef enum {
    ngx_http_bedrock_st_status = 0,
    ngx_http_bedrock_st_headers,
    ngx_http_bedrock_st_body
} ngx_http_bedrock_state_e;


typedef struct {
    ngx_str_t                      alias;
    ngx_str_t                      id;
    ngx_str_t                      escaped;  /* percent-encoded for paths */
    ngx_uint_t                     claude;   /* takes Anthropic's body */
} ngx_http_bedrock_model_t;


typedef struct {
    ngx_str_t                      id;
    ngx_str_t                      version;
    ngx_str_t                      trace;
    ngx_str_t                      stream_mode;
} ngx_http_bedrock_guardrail_t;


typedef struct {
    ngx_str_t                      url;
    ngx_str_t                      host;     /* Host header, signed */
    ngx_str_t                      resolve;  /* host to resolve at run time */
    in_port_t                      port;
    ngx_uint_t                     ssl;
} ngx_http_bedrock_endpoint_t;


typedef struct {
    ngx_http_upstream_conf_t       upstream;

    ngx_http_bedrock_endpoint_t   *endpoint;
    ngx_str_t                      pass_url;
    ngx_flag_t                     pass;

    ngx_str_t                      region;
    ngx_array_t                   *models;
    ngx_flag_t                     passthrough;
    ngx_flag_t                     native;
    ngx_array_t                   *betas;    /* bedrock_anthropic_beta */
    ngx_array_t                   *token_limits;  /* of ngx_shm_zone_t * */
    ngx_http_bedrock_guardrail_t  *guardrail;
    ngx_uint_t                     cache_points;  /* bedrock_cache_point */
    ngx_uint_t                     latency;       /* bedrock_latency */
    size_t                         max_response_size;
    time_t                         created;

    /* bedrock_image_fetch */
    ngx_flag_t                     image_fetch;
    size_t                         image_max_size;
    ngx_msec_t                     image_timeout;
    ngx_array_t                   *image_allow;   /* of ngx_cidr_t */
    ngx_bedrock_image_conf_t      *image;    /* built when it is on */

#if (NGX_HTTP_SSL)
    ngx_str_t                      image_trusted_certificate;
    ngx_uint_t                     ssl_protocols;
    ngx_str_t                      ssl_ciphers;
    ngx_uint_t                     ssl_verify_depth;
    ngx_str_t                      ssl_trusted_certificate;
#endif
} ngx_http_bedrock_loc_conf_t;


#if (NGX_HTTP_SSL)

/* a TLS context and the settings it was made with, shared by locations */

typedef struct {
    ngx_uint_t                     protocols;
    ngx_str_t                      ciphers;
    ngx_flag_t                     verify;
    ngx_uint_t                     verify_depth;
    ngx_str_t                      trusted_certificate;
    ngx_flag_t                     session_reuse;
    ngx_ssl_t                     *ssl;
} ngx_http_bedrock_ssl_ctx_t;

#endif


typedef struct {
    ngx_bedrock_credentials_conf_t   credentials;
    ngx_bedrock_provider_t          *provider;  /* each worker's */
    ngx_bedrock_sigv4_signer_t      *signer;    /* each worker's */
#if (NGX_HTTP_SSL)
    ngx_ssl_t                       *ssl;       /* for STS over https */
    ngx_array_t                      ssl_ctxs;  /* of bedrock_ssl_ctx_t */
    ngx_array_t                      fetch_ssl; /* of bedrock_ssl_ctx_t */
#endif
    ngx_shm_zone_t                  *metrics;   /* bedrock_metrics_zone */
    ngx_uint_t                       metrics_served;
    ngx_uint_t                       token_limits;  /* zones defined */
} ngx_http_bedrock_main_conf_t;


/*
 * An embeddings request: its InvokeModel calls run as subrequests of it,
 * a window of them at a time, each writing its vectors here
 */
typedef struct {
    ngx_bedrock_embeddings_t       e;
    ngx_uint_t                     next;     /* the next call to start */
    ngx_uint_t                     active;
    ngx_uint_t                     status;   /* the first failure's */
    ngx_str_t                      error;    /* its body, rendered */
    ngx_str_t                      retry_after;
    unsigned                       replied:1;
} ngx_http_bedrock_embed_t;


typedef struct {
    ngx_str_t                      model;
    ngx_str_t                      model_id;
    ngx_str_t                      escaped;
    ngx_str_t                      body;
    ngx_str_t                      id;
    time_t                         created;

    ngx_http_bedrock_route_e       route;
    ngx_http_bedrock_call_e        call;
    ngx_int_t                      rc;       /* to finalize with */
    ngx_uint_t                     dialect;
    ngx_str_t                      op;       /* the upstream operation */
    ngx_http_bedrock_native_op_t  *native;
    ngx_bedrock_messages_stream_t  mstream;
    ngx_bedrock_responses_stream_t rstream;
    off_t                          received;  /* of the client's body */

    /* the upstream response */
    ngx_http_bedrock_state_e       state;
    ngx_http_status_t              status;
    ngx_http_chunked_t             chunked;
    off_t                          length;   /* -1: chunked */
    ngx_str_t                      aws_type;
    ngx_str_t                      request_id;
    ngx_str_t                      retry_after;  /* delta-seconds */
    ngx_str_t                      content_type;  /* native calls */
    ngx_str_t                      input_count;   /* InvokeModel's */
    ngx_str_t                      output_count;
    u_char                        *resp_start;
    u_char                        *resp_pos;
    u_char                        *resp_end;
    ngx_str_t                      out;

    /* streaming */
    ngx_bedrock_es_decoder_t       decoder;
    ngx_bedrock_events_t           events;   /* ConverseStream's */
    ngx_bedrock_stream_t           stream;
    ngx_pool_t                    *scratch;  /* one read's; see above */

    /* for the log */
    ngx_str_t                      stop_reason;
    ngx_bedrock_usage_t            usage;
    ngx_str_t                      ttft;
    ngx_str_t                      error;    /* the gateway's error code */
    ngx_shm_zone_t                *streams;  /* counted as open there */
    ngx_str_t                     *limit_keys;  /* one per token limit */

    ngx_str_t                      error_body;

    ngx_bedrock_credentials_waiter_t  waiter;

    ngx_array_t                   *images;   /* to fetch, chat's */
    ngx_bedrock_images_t          *fetching;

    ngx_http_bedrock_embed_t      *embed;    /* embeddings: the request's */
    ngx_uint_t                     part;     /* a subrequest's call */

    unsigned                       replied:1;
    unsigned                       part_ok:1;
    unsigned                       part_done:1;
    unsigned                       replace_body:1;
    unsigned                       has_usage:1;
    unsigned                       connection_close:1;
    unsigned                       streaming:1;  /* stream: true */
    unsigned                       event_stream:1; /* answered with one */
    unsigned                       stream_done:1;
    unsigned                       routed:1;
    unsigned                       blind:1;   /* native: stop decoding */
    unsigned                       stream_ready:1;
} ngx_http_bedrock_ctx_t;


static ngx_int_t ngx_http_bedrock_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_token_limit(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_http_bedrock_loc_conf_t *blcf);
static void ngx_http_bedrock_token_charge(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_http_bedrock_loc_conf_t *blcf);
static void ngx_http_bedrock_note_error(ngx_http_bedrock_ctx_t *ctx,
    ngx_bedrock_error_t *err);
#if (NGX_DEBUG)
static ngx_str_t *ngx_http_bedrock_debug_text(ngx_pool_t *pool,
    ngx_str_t *text);
#endif
static ngx_int_t ngx_http_bedrock_route(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_str_t *model);
static ngx_table_elt_t *ngx_http_bedrock_find_header(ngx_list_t *headers,
    char *name, ngx_uint_t live);
static ngx_uint_t ngx_http_bedrock_header_in(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static void ngx_http_bedrock_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_done(ngx_http_bedrock_ctx_t *ctx,
    ngx_int_t rc);
static ngx_int_t ngx_http_bedrock_refused(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_int_t rc, ngx_str_t *model,
    ngx_bedrock_error_t *err);
static void ngx_http_bedrock_set_op(ngx_http_bedrock_ctx_t *ctx,
    ngx_uint_t stream, ngx_uint_t invoke);
static ngx_int_t ngx_http_bedrock_invalid(ngx_http_request_t *r,
    ngx_bedrock_error_t *err);
static ngx_int_t ngx_http_bedrock_chat_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_messages_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_native_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body);
static void ngx_http_bedrock_guardrail_conf(ngx_http_bedrock_loc_conf_t *blcf,
    ngx_bedrock_guardrail_conf_t *g);
static void ngx_http_bedrock_converse_conf(ngx_http_bedrock_loc_conf_t *blcf,
    ngx_bedrock_converse_conf_t *c);
static ngx_int_t ngx_http_bedrock_embeddings_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_embed_check(void *data, ngx_str_t *model,
    ngx_str_t *id);
static void ngx_http_bedrock_embed_start(ngx_http_request_t *r);
static void ngx_http_bedrock_embed_wake(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_embed_spawn(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_embed_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_bedrock_embed_part(ngx_http_request_t *r);
static void ngx_http_bedrock_embed_result(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_uint_t status);
static void ngx_http_bedrock_embed_fail(ngx_http_request_t *r,
    ngx_http_bedrock_embed_t *em, ngx_uint_t status);
static void ngx_http_bedrock_call(ngx_http_request_t *r);
static void ngx_http_bedrock_images_start(ngx_http_request_t *r);
static void ngx_http_bedrock_images_done(ngx_bedrock_images_t *set);
static void ngx_http_bedrock_images_cleanup(void *data);
static ngx_int_t ngx_http_bedrock_responses_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_model_check(void *data,
    ngx_str_t *model, ngx_str_t *id, ngx_uint_t *claude);
static ngx_int_t ngx_http_bedrock_messages_check(void *data,
    ngx_str_t *model, ngx_uint_t *claude);
static ngx_int_t ngx_http_bedrock_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_resolve_model(ngx_http_request_t *r,
    ngx_http_bedrock_loc_conf_t *blcf, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_model_not_found(ngx_http_request_t *r,
    ngx_str_t *model);
static void ngx_http_bedrock_cancel_wait(void *data);
static void ngx_http_bedrock_credentials_ready(void *data);
static void ngx_http_bedrock_proceed(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_start(ngx_http_request_t *r,
    ngx_http_bedrock_loc_conf_t *blcf);
static ngx_int_t ngx_http_bedrock_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_process_headers(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_process_body(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_send_url_error(ngx_http_request_t *r,
    ngx_uint_t status, char *code, char *fmt);
static ngx_int_t ngx_http_bedrock_dechunk(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_buf_t *b, ngx_str_t *piece);
static ngx_int_t ngx_http_bedrock_body_append(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, u_char *data, size_t size);
static ngx_int_t ngx_http_bedrock_translate(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_pass_headers(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_stream_start(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_push_header(ngx_list_t *headers,
    char *name, ngx_str_t *value);
static ngx_int_t ngx_http_bedrock_retry_after(ngx_list_t *headers,
    ngx_str_t *value);
static ngx_uint_t ngx_http_bedrock_has_header(ngx_http_request_t *r,
    char *name);
static ngx_int_t ngx_http_bedrock_filter_init(void *data);
static ngx_int_t ngx_http_bedrock_filter(void *data, ssize_t bytes);
static ngx_int_t ngx_http_bedrock_stream_filter(void *data, ssize_t bytes);
static ngx_int_t ngx_http_bedrock_stream_read(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ssize_t bytes);
static ngx_int_t ngx_http_bedrock_scratch(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_scratch_free(void *data);
static void ngx_http_bedrock_stream_cleanup(void *data);
static ngx_int_t ngx_http_bedrock_stream_feed(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, u_char *data, size_t len);
static ngx_int_t ngx_http_bedrock_stream_exception(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_bedrock_error_t *err);
static ngx_int_t ngx_http_bedrock_stream_finish(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_bedrock_error_t *err);
static ngx_int_t ngx_http_bedrock_stream_output(ngx_http_request_t *r,
    ngx_str_t *sse);
static ngx_uint_t ngx_http_bedrock_converse_stream(
    ngx_http_bedrock_ctx_t *ctx);
static ngx_uint_t ngx_http_bedrock_stream_stopped(
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_stream_log(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_abort_request(ngx_http_request_t *r);
static void ngx_http_bedrock_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);

static ngx_int_t ngx_http_bedrock_models(ngx_http_request_t *r,
    ngx_http_bedrock_loc_conf_t *blcf, ngx_str_t *alias);
static void ngx_http_bedrock_anthropic_models(
    ngx_http_bedrock_loc_conf_t *blcf, ngx_bedrock_jw_t *w,
    ngx_http_bedrock_model_t *m, ngx_uint_t n, ngx_uint_t list);
static ngx_http_bedrock_model_t *ngx_http_bedrock_find_model(
    ngx_http_bedrock_loc_conf_t *blcf, ngx_str_t *alias);
static ngx_int_t ngx_http_bedrock_model_id_valid(ngx_str_t *id);
static ngx_int_t ngx_http_bedrock_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_send_error(ngx_http_request_t *r,
    ngx_bedrock_error_t *err);
static ngx_int_t ngx_http_bedrock_render_error(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_bedrock_error_t *err,
    ngx_list_t *headers, ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_refuse_method(ngx_http_request_t *r,
    char *allow);
static ngx_http_bedrock_ctx_t *ngx_http_bedrock_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_bedrock_status_error(ngx_uint_t status,
    ngx_bedrock_error_t *err);

static ngx_int_t ngx_http_bedrock_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static ngx_int_t ngx_http_bedrock_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_bedrock_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_bedrock_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_bedrock_init_process(ngx_cycle_t *cycle);
static void ngx_http_bedrock_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_bedrock_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_bedrock_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_bedrock_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_bedrock_set_endpoint(ngx_conf_t *cf,
    ngx_http_bedrock_loc_conf_t *conf);
static char *ngx_http_bedrock_metrics_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_bedrock_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_token_limit_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_bedrock_token_limit_set(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_bedrock_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_model_map(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_anthropic_beta(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_bedrock_guardrail(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_image_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_bedrock_image_conf(ngx_conf_t *cf,
    ngx_http_bedrock_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_bedrock_set_ssl(ngx_conf_t *cf,
    ngx_http_bedrock_loc_conf_t *blcf);
static ngx_ssl_t *ngx_http_bedrock_fetch_ssl(ngx_conf_t *cf,
    ngx_str_t *trusted);
#endif


static ngx_conf_bitmask_t  ngx_http_bedrock_ssl_protocols[] = {
    { ngx_string("TLSv1.2"), NGX_SSL_TLSv1_2 },
    { ngx_string("TLSv1.3"), NGX_SSL_TLSv1_3 },
    { ngx_null_string, 0 }
};


static ngx_conf_bitmask_t  ngx_http_bedrock_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_header"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("non_idempotent"), NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT },
    { ngx_string("http_500"), NGX_HTTP_UPSTREAM_FT_HTTP_500 },
    { ngx_string("http_502"), NGX_HTTP_UPSTREAM_FT_HTTP_502 },
    { ngx_string("http_503"), NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { ngx_string("http_504"), NGX_HTTP_UPSTREAM_FT_HTTP_504 },
    { ngx_string("http_429"), NGX_HTTP_UPSTREAM_FT_HTTP_429 },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};


/* "off" stands alone: a location's own setting that adds none */
#define NGX_HTTP_BEDROCK_CACHE_OFF  0x80

static ngx_conf_bitmask_t  ngx_http_bedrock_cache_points[] = {
    { ngx_string("system"), NGX_BEDROCK_CACHE_SYSTEM },
    { ngx_string("tools"), NGX_BEDROCK_CACHE_TOOLS },
    { ngx_string("messages"), NGX_BEDROCK_CACHE_MESSAGES },
    { ngx_string("off"), NGX_HTTP_BEDROCK_CACHE_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_bedrock_latencies[] = {
    { ngx_string("standard"), 0 },
    { ngx_string("optimized"), 1 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_bedrock_commands[] = {

    { ngx_string("bedrock_pass"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_bedrock_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_credentials,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_bedrock_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_bedrock_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_token_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_token_limit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_token_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_bedrock_token_limit_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, region),
      NULL },

    { ngx_string("bedrock_model_map"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_bedrock_model_map,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_model_passthrough"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, passthrough),
      NULL },

    { ngx_string("bedrock_native"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, native),
      NULL },

    { ngx_string("bedrock_anthropic_beta"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_anthropic_beta,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_guardrail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_bedrock_guardrail,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_cache_point"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, cache_points),
      &ngx_http_bedrock_cache_points },

    { ngx_string("bedrock_latency"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, latency),
      &ngx_http_bedrock_latencies },

    { ngx_string("bedrock_image_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, image_fetch),
      NULL },

    { ngx_string("bedrock_image_fetch_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, image_max_size),
      NULL },

    { ngx_string("bedrock_image_fetch_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, image_timeout),
      NULL },

    { ngx_string("bedrock_image_fetch_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_image_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

#if (NGX_HTTP_SSL)

    { ngx_string("bedrock_image_fetch_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, image_trusted_certificate),
      NULL },

#endif

    { ngx_string("bedrock_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("bedrock_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.send_timeout),
      NULL },

    { ngx_string("bedrock_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("bedrock_next_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.next_upstream),
      &ngx_http_bedrock_next_upstream_masks },

    { ngx_string("bedrock_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    { ngx_string("bedrock_next_upstream_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.next_upstream_timeout),
      NULL },

    { ngx_string("bedrock_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.buffer_size),
      NULL },

    { ngx_string("bedrock_max_response_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, max_response_size),
      NULL },

#if (NGX_HTTP_SSL)

    { ngx_string("bedrock_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.ssl_verify),
      NULL },

    { ngx_string("bedrock_ssl_verify_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, ssl_verify_depth),
      NULL },

    { ngx_string("bedrock_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("bedrock_ssl_server_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.ssl_server_name),
      NULL },

    { ngx_string("bedrock_ssl_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.ssl_name),
      NULL },

    { ngx_string("bedrock_ssl_protocols"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, ssl_protocols),
      &ngx_http_bedrock_ssl_protocols },

    { ngx_string("bedrock_ssl_ciphers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, ssl_ciphers),
      NULL },

    { ngx_string("bedrock_ssl_session_reuse"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, upstream.ssl_session_reuse),
      NULL },

#endif

      ngx_null_command
};


static ngx_http_module_t  ngx_http_bedrock_module_ctx = {
    ngx_http_bedrock_add_variables,        /* preconfiguration */
    ngx_http_bedrock_init,                 /* postconfiguration */

    ngx_http_bedrock_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_bedrock_create_loc_conf,      /* create location configuration */
    ngx_http_bedrock_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_bedrock_module = {
    NGX_MODULE_V1,
    &ngx_http_bedrock_module_ctx,          /* module context */
    ngx_http_bedrock_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_bedrock_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_bedrock_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_bedrock_hide_headers[] = {
    ngx_null_string
};


static ngx_http_variable_t  ngx_http_bedrock_vars[] = {

    { ngx_string("bedrock_model"), NULL, ngx_http_bedrock_str_variable,
      offsetof(ngx_http_bedrock_ctx_t, model),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_model_id"), NULL, ngx_http_bedrock_str_variable,
      offsetof(ngx_http_bedrock_ctx_t, model_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_stop_reason"), NULL, ngx_http_bedrock_str_variable,
      offsetof(ngx_http_bedrock_ctx_t, stop_reason),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_request_id"), NULL, ngx_http_bedrock_str_variable,
      offsetof(ngx_http_bedrock_ctx_t, request_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_error_type"), NULL, ngx_http_bedrock_str_variable,
      offsetof(ngx_http_bedrock_ctx_t, aws_type),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_ttft"), NULL, ngx_http_bedrock_str_variable,
      offsetof(ngx_http_bedrock_ctx_t, ttft),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_input_tokens"), NULL,
      ngx_http_bedrock_usage_variable,
      offsetof(ngx_bedrock_usage_t, input),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_output_tokens"), NULL,
      ngx_http_bedrock_usage_variable,
      offsetof(ngx_bedrock_usage_t, output),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_cache_read_tokens"), NULL,
      ngx_http_bedrock_usage_variable,
      offsetof(ngx_bedrock_usage_t, cache_read),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_cache_write_tokens"), NULL,
      ngx_http_bedrock_usage_variable,
      offsetof(ngx_bedrock_usage_t, cache_write),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;
static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


static ngx_int_t
ngx_http_bedrock_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     alias;
    ngx_bedrock_error_t           err;
    ngx_http_bedrock_ctx_t       *ctx;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_bedrock_loc_conf_t  *blcf;

    ctx = ngx_http_bedrock_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    if (r != r->main && ctx->embed) {

        /* one InvokeModel call of an embeddings request, as proxy does */

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_bedrock_embed_part);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_bedrock_route(r, ctx, &alias);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock route %d, dialect %ui",
                   (int) ctx->route, ctx->dialect);

    switch (ctx->route) {

    case ngx_http_bedrock_route_chat:
    case ngx_http_bedrock_route_responses:
    case ngx_http_bedrock_route_messages:
    case ngx_http_bedrock_route_count_tokens:
    case ngx_http_bedrock_route_native:
    case ngx_http_bedrock_route_embeddings:

        if (!(r->method & NGX_HTTP_POST)) {
            return ngx_http_bedrock_refuse_method(r, "POST");
        }

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if ((clcf->client_max_body_size
             && r->headers_in.content_length_n > clcf->client_max_body_size)
            || r->headers_in.content_length_n > NGX_HTTP_BEDROCK_BODY_MAX)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "client intended to send too large body: %O bytes",
                          r->headers_in.content_length_n);

            r->lingering_close = 1;
            ngx_http_bedrock_status_error(NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          &err);
            return ngx_http_bedrock_send_error(r, &err);
        }

        rc = ngx_http_bedrock_token_limit(r, ctx, blcf);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_bedrock_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;

    case ngx_http_bedrock_route_models:
    case ngx_http_bedrock_route_model:

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_bedrock_refuse_method(r, "GET, HEAD");
        }

        return ngx_http_bedrock_models(r, blcf,
                                       alias.len ? &alias : NULL);

    case ngx_http_bedrock_route_stored:
        return ngx_http_bedrock_send_url_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found",
                                               "This gateway stores no "
                                               "responses: %V %V finds "
                                               "none.");

    default:
        return ngx_http_bedrock_send_url_error(r, NGX_HTTP_NOT_FOUND,
                                               "unknown_url",
                                               "Unknown request URL: %V %V.");
    }
}


static ngx_http_bedrock_native_op_t  ngx_http_bedrock_native_ops[] = {
    { ngx_string("converse"), 0, 0 },
    { ngx_string("converse-stream"), 1, 0 },
    { ngx_string("invoke"), 0, 1 },
    { ngx_string("invoke-with-response-stream"), 1, 1 },
    { ngx_string("count-tokens"), 0, 0 },
    { ngx_null_string, 0, 0 }
};


/*
 * The route table: a path's suffix names what is asked, whatever prefix
 * the client's base URL put before it.  Sets ctx->route and the dialect
 * errors are written in; a native path's model id, percent-decoded once,
 * goes to ctx->model.
 */

static ngx_int_t
ngx_http_bedrock_route(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx,
    ngx_str_t *model)
{
    u_char                        *p, *last, *start, *dst;
    ngx_str_t                     *uri, value;
    ngx_uint_t                     i;
    ngx_http_bedrock_loc_conf_t   *blcf;
    ngx_http_bedrock_native_op_t  *op;

    static struct {
        ngx_str_t                  suffix;
        ngx_http_bedrock_route_e   route;
        ngx_uint_t                 dialect;
    } routes[] = {
        { ngx_string("/chat/completions"), ngx_http_bedrock_route_chat,
          NGX_BEDROCK_DIALECT_OPENAI },
        { ngx_string("/responses"), ngx_http_bedrock_route_responses,
          NGX_BEDROCK_DIALECT_OPENAI },
        { ngx_string("/messages"), ngx_http_bedrock_route_messages,
          NGX_BEDROCK_DIALECT_ANTHROPIC },
        { ngx_string("/messages/count_tokens"),
          ngx_http_bedrock_route_count_tokens,
          NGX_BEDROCK_DIALECT_ANTHROPIC },
        { ngx_string("/models"), ngx_http_bedrock_route_models,
          NGX_BEDROCK_DIALECT_OPENAI },
        { ngx_string("/embeddings"), ngx_http_bedrock_route_embeddings,
          NGX_BEDROCK_DIALECT_OPENAI },
        { ngx_null_string, 0, 0 }
    };

    ngx_str_null(model);

    ctx->routed = 1;
    ctx->route = ngx_http_bedrock_route_unknown;
    ctx->dialect = NGX_BEDROCK_DIALECT_OPENAI;

    uri = &r->uri;
    last = uri->data + uri->len;

    for (i = 0; routes[i].suffix.len; i++) {
        if (uri->len >= routes[i].suffix.len
            && ngx_strncmp(last - routes[i].suffix.len,
                           routes[i].suffix.data, routes[i].suffix.len)
               == 0)
        {
            ctx->route = routes[i].route;
            ctx->dialect = routes[i].dialect;
            break;
        }
    }

    if (ctx->route == ngx_http_bedrock_route_models
        && ngx_http_bedrock_header_in(r, "anthropic-version", &value))
    {
        ctx->dialect = NGX_BEDROCK_DIALECT_ANTHROPIC;
    }

    if (ctx->route != ngx_http_bedrock_route_unknown) {
        return NGX_OK;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    /*
     * ".../model/{modelId}/{operation}", read from the URI as the client
     * sent it: an ARN's "/" arrives as "%2F" and must not split the id
     */

    if (blcf->native) {
        p = r->unparsed_uri.data;
        last = p + r->unparsed_uri.len;

        start = ngx_strlchr(p, last, '?');
        if (start) {
            last = start;
        }

        for (op = ngx_http_bedrock_native_ops; op->op.len; op++) {

            if ((size_t) (last - p) < sizeof("/model//") - 1 + op->op.len
                || last[-(ngx_int_t) op->op.len - 1] != '/'
                || ngx_strncmp(last - op->op.len, op->op.data, op->op.len)
                   != 0)
            {
                continue;
            }

            /* the id: the segment before the operation, after "/model/" */

            dst = last - op->op.len - 1;

            for (start = dst; start > p && start[-1] != '/'; start--) {
                /* void */
            }

            if (start == dst || start - p < (ngx_int_t) sizeof("/model/") - 1
                || ngx_strncmp(start - (sizeof("/model/") - 1), "/model/",
                               sizeof("/model/") - 1)
                   != 0)
            {
                break;
            }

            model->data = ngx_pnalloc(r->pool, dst - start);
            if (model->data == NULL) {
                return NGX_ERROR;
            }

            p = model->data;
            ngx_unescape_uri(&p, &start, dst - start, 0);
            model->len = p - model->data;

            ctx->model = *model;
            ctx->route = ngx_http_bedrock_route_native;
            ctx->dialect = NGX_HTTP_BEDROCK_DIALECT_AWS;
            ctx->native = op;

            return NGX_OK;
        }
    }

    /* ".../models/{model}": the model may itself contain slashes */

    uri = &r->uri;
    last = uri->data + uri->len;

    if (ngx_strlcasestrn(uri->data, last, (u_char *) "/responses/",
                         sizeof("/responses/") - 2)
        != NULL)
    {
        ctx->route = ngx_http_bedrock_route_stored;
        return NGX_OK;
    }

    p = ngx_strlcasestrn(uri->data, last, (u_char *) "/models/",
                         sizeof("/models/") - 2);

    if (p != NULL && p + sizeof("/models/") - 1 < last) {
        model->data = p + sizeof("/models/") - 1;
        model->len = last - model->data;
        ctx->route = ngx_http_bedrock_route_model;

        if (ngx_http_bedrock_header_in(r, "anthropic-version", &value)) {
            ctx->dialect = NGX_BEDROCK_DIALECT_ANTHROPIC;
        }
    }

    return NGX_OK;
}


/* a request header, by its lower-case name */

static ngx_uint_t
ngx_http_bedrock_header_in(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_http_bedrock_find_header(&r->headers_in.headers, name, 0);

    if (h == NULL) {
        return 0;
    }

    *value = h->value;

    return 1;
}


/* a header of the list, by name; "live": skip those deleted (hash 0) */

static ngx_table_elt_t *
ngx_http_bedrock_find_header(ngx_list_t *headers, char *name, ngx_uint_t live)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if ((h[i].hash != 0 || !live) && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static void
ngx_http_bedrock_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      body;
    ngx_pool_t                    *temp;
    ngx_bedrock_error_t            err;
    ngx_http_bedrock_ctx_t        *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    rc = ngx_http_bedrock_read_body(r, &body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_bedrock_error_set(&err, NGX_HTTP_BAD_REQUEST,
                              "invalid_request_error", NULL,
                              "The request body is empty; send a JSON "
                              "object.");
        ngx_http_finalize_request(r, ngx_http_bedrock_send_error(r, &err));
        return;
    }

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        ngx_http_bedrock_status_error(rc, &err);
        ngx_http_finalize_request(r, ngx_http_bedrock_send_error(r, &err));
        return;
    }

    /*
     * the parsed request, many times the size of the body, is freed as
     * soon as the body for Bedrock is written
     */

    temp = ngx_create_pool(NGX_HTTP_BEDROCK_TEMP_POOL_SIZE,
                           r->connection->log);
    if (temp == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    switch (ctx->route) {

    case ngx_http_bedrock_route_messages:
    case ngx_http_bedrock_route_count_tokens:
        rc = ngx_http_bedrock_messages_body(r, ctx, temp, &body);
        break;

    case ngx_http_bedrock_route_native:
        rc = ngx_http_bedrock_native_body(r, ctx, temp, &body);
        break;

    case ngx_http_bedrock_route_responses:
        rc = ngx_http_bedrock_responses_body(r, ctx, temp, &body);
        break;

    case ngx_http_bedrock_route_embeddings:
        rc = ngx_http_bedrock_embeddings_body(r, ctx, temp, &body);
        break;

    default:
        rc = ngx_http_bedrock_chat_body(r, ctx, temp, &body);
        break;
    }

    ngx_destroy_pool(temp);

    if (rc == NGX_DONE) {
        ngx_http_finalize_request(r, ctx->rc);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->images) {
        ngx_http_bedrock_images_start(r);
        return;
    }

    ngx_http_bedrock_call(r);
}


/*
 * bedrock_image_fetch: the images the body links to are fetched, then put
 * into the Converse body, before the call; the client's leaving ends the
 * fetches with the request's pool
 */

static void
ngx_http_bedrock_images_start(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t           *cln;
    ngx_bedrock_images_t         *set;
    ngx_http_bedrock_ctx_t       *ctx;
    ngx_http_bedrock_loc_conf_t  *blcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    set = ngx_pcalloc(r->pool, sizeof(ngx_bedrock_images_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (set == NULL || cln == NULL || blcf->image == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock images: %ui URLs to fetch", ctx->images->nelts);

    set->pool = r->pool;
    set->log = r->connection->log;
    set->conf = blcf->image;
    set->images = ctx->images;
    set->handler = ngx_http_bedrock_images_done;
    set->data = r;

    cln->handler = ngx_http_bedrock_images_cleanup;
    cln->data = set;

    ctx->fetching = set;

    if (ngx_bedrock_images_fetch(set) != NGX_OK) {
        ngx_bedrock_images_free(set);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a client that leaves while the images come ends the request */

    r->read_event_handler = ngx_http_test_reading;
}


static void
ngx_http_bedrock_images_done(ngx_bedrock_images_t *set)
{
    ngx_int_t                rc;
    ngx_str_t                body;
    ngx_connection_t        *c;
    ngx_bedrock_error_t      err;
    ngx_http_request_t      *r;
    ngx_http_bedrock_ctx_t  *ctx;

    r = set->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    r->read_event_handler = ngx_http_block_reading;

    if (set->rc == NGX_OK) {
        rc = ngx_bedrock_converse_splice(r->pool, &ctx->body, ctx->images,
                                         &body);
        ngx_bedrock_images_free(set);

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);

        } else {
            ctx->body = body;
            ngx_http_bedrock_call(r);
        }

    } else if (set->rc == NGX_DECLINED) {
        ngx_bedrock_images_free(set);

        ngx_bedrock_error_set(&err, NGX_HTTP_BAD_REQUEST,
                              "invalid_request_error", "invalid_image_url",
                              set->error);
        err.param = set->failed->param;

        ngx_http_finalize_request(r, ngx_http_bedrock_invalid(r, &err));

    } else {
        ngx_bedrock_images_free(set);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_bedrock_images_cleanup(void *data)
{
    ngx_bedrock_images_free(data);
}


/* the call, once the credentials are there */

static void
ngx_http_bedrock_call(ngx_http_request_t *r)
{
    ngx_http_bedrock_ctx_t        *ctx;
    ngx_pool_cleanup_t            *cln;
    ngx_http_bedrock_main_conf_t  *bmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bedrock_module);

    if (ngx_bedrock_credentials_get(bmcf->provider) == NULL) {

        /* a fetch is under way: wait for it, the request stays alive */

        ctx->waiter.handler = ngx_http_bedrock_credentials_ready;
        ctx->waiter.data = r;

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ngx_bedrock_credentials_wait(bmcf->provider, &ctx->waiter)
            == NGX_AGAIN)
        {
            cln->handler = ngx_http_bedrock_cancel_wait;
            cln->data = &ctx->waiter;
            return;
        }
    }

    ngx_http_bedrock_proceed(r);
}


/* a response was sent instead of the call: rc is to finalize with */

static ngx_int_t
ngx_http_bedrock_done(ngx_http_bedrock_ctx_t *ctx, ngx_int_t rc)
{
    ctx->rc = rc;

    return NGX_DONE;
}


/* a refused translation: logged with its parameter only, then sent */

static ngx_int_t
ngx_http_bedrock_invalid(ngx_http_request_t *r, ngx_bedrock_error_t *err)
{
    ngx_str_t  param;

    /*
     * the message may quote the client: only the parameter, whose JSON
     * path may hold the client's key names, escaped
     */

    if (ngx_bedrock_log_escape(r->pool, &err->param, &param) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "bedrock: invalid request (param \"%V\")", &param);

    return ngx_http_bedrock_send_error(r, err);
}


/* OpenAI Chat Completions: translated to Converse */

static ngx_int_t
ngx_http_bedrock_chat_body(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx,
    ngx_pool_t *temp, ngx_str_t *body)
{
    ngx_int_t                     rc;
    ngx_bedrock_error_t           err;
    ngx_bedrock_chat_request_t    req;
    ngx_http_bedrock_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    ngx_memzero(&req, sizeof(ngx_bedrock_chat_request_t));

    ngx_http_bedrock_guardrail_conf(blcf, &req.guardrail);
    ngx_http_bedrock_converse_conf(blcf, &req.conf);

    req.model_check = ngx_http_bedrock_model_check;
    req.data = r;

    rc = ngx_bedrock_chat_request(r->pool, temp, body->data, body->len, &req,
                                  &err);

    if (rc != NGX_OK) {
        return ngx_http_bedrock_refused(r, ctx, rc, &req.model, &err);
    }

    ctx->call = ngx_http_bedrock_call_chat;
    ctx->body = req.body;
    ctx->images = req.images;
    ctx->streaming = req.stream;
    ctx->stream.include_usage = req.include_usage;

    ngx_http_bedrock_set_op(ctx, req.stream, 0);

    return NGX_OK;
}


/* OpenAI Responses: translated to Converse, stateless */

static ngx_int_t
ngx_http_bedrock_responses_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body)
{
    ngx_int_t                         rc;
    ngx_bedrock_error_t               err;
    ngx_http_bedrock_loc_conf_t      *blcf;
    ngx_bedrock_responses_request_t   req;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    ngx_memzero(&req, sizeof(ngx_bedrock_responses_request_t));

    ngx_http_bedrock_guardrail_conf(blcf, &req.guardrail);
    ngx_http_bedrock_converse_conf(blcf, &req.conf);

    req.model_check = ngx_http_bedrock_model_check;
    req.data = r;

    rc = ngx_bedrock_responses_request(r->pool, temp, body->data, body->len,
                                       &req, &err);

    if (rc != NGX_OK) {
        return ngx_http_bedrock_refused(r, ctx, rc, &req.model, &err);
    }

    ctx->call = ngx_http_bedrock_call_responses;
    ctx->body = req.body;
    ctx->images = req.images;
    ctx->streaming = req.stream;

    ngx_http_bedrock_set_op(ctx, req.stream, 0);

    return NGX_OK;
}


/*
 * What a dialect's parser refused: NGX_ABORT for a model outside the map,
 * NGX_DECLINED for an invalid request (err), NGX_ERROR
 */

static ngx_int_t
ngx_http_bedrock_refused(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx,
    ngx_int_t rc, ngx_str_t *model, ngx_bedrock_error_t *err)
{
    if (rc == NGX_ABORT) {
        return ngx_http_bedrock_done(ctx,
                                     ngx_http_bedrock_model_not_found(r,
                                                                      model));
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_bedrock_done(ctx, ngx_http_bedrock_invalid(r, err));
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* Bedrock's operation: Converse or InvokeModel, streaming or not */

static void
ngx_http_bedrock_set_op(ngx_http_bedrock_ctx_t *ctx, ngx_uint_t stream,
    ngx_uint_t invoke)
{
    if (!invoke) {
        if (stream) {
            ngx_str_set(&ctx->op, "converse-stream");

        } else {
            ngx_str_set(&ctx->op, "converse");
        }

        return;
    }

    if (stream) {
        ngx_str_set(&ctx->op, "invoke-with-response-stream");

    } else {
        ngx_str_set(&ctx->op, "invoke");
    }
}


/*
 * Anthropic Messages and count_tokens: Claude models get InvokeModel with
 * Anthropic's own body, the others Converse; counts go to CountTokens
 */

static ngx_int_t
ngx_http_bedrock_messages_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body)
{
    ngx_int_t                        rc;
    ngx_str_t                        id, dropped;
    ngx_bedrock_error_t              err;
    ngx_http_bedrock_loc_conf_t     *blcf;
    ngx_bedrock_messages_request_t   req;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    ngx_memzero(&req, sizeof(ngx_bedrock_messages_request_t));

    ngx_http_bedrock_guardrail_conf(blcf, &req.guardrail);
    ngx_http_bedrock_converse_conf(blcf, &req.conf);

    (void) ngx_http_bedrock_header_in(r, "anthropic-beta", &req.betas);
    req.extra_betas = blcf->betas;
    req.count = (ctx->route == ngx_http_bedrock_route_count_tokens);
    req.model_check = ngx_http_bedrock_messages_check;
    req.data = r;

    rc = ngx_bedrock_messages_request(r->pool, temp, body->data, body->len,
                                      &req, &err);

    if (rc != NGX_OK) {
        return ngx_http_bedrock_refused(r, ctx, rc, &req.model, &err);
    }

    if (req.dropped.len) {
        if (ngx_bedrock_log_escape(r->pool, &req.dropped, &dropped)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "bedrock: anthropic-beta not sent to Bedrock, which "
                      "does not know it: \"%V\" (bedrock_anthropic_beta "
                      "adds names)", &dropped);
    }

    ctx->body = req.body;
    ctx->streaming = req.stream;
    ctx->mstream.model = req.model;
    ctx->mstream.block = -1;

    if (req.count) {
        ctx->call = ngx_http_bedrock_call_count;
        ngx_str_set(&ctx->op, "count-tokens");

        /* CountTokens takes the foundation model, not a geographic profile */

        id = ctx->model_id;
        ngx_bedrock_messages_count_model(&id);

        if (id.len != ctx->model_id.len) {
            ctx->escaped.len = ngx_bedrock_uri_escape_len(id.data, id.len, 0);
            ctx->escaped.data = ngx_pnalloc(r->pool, ctx->escaped.len);
            if (ctx->escaped.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            (void) ngx_bedrock_uri_escape(ctx->escaped.data, id.data, id.len,
                                          0);
        }

    } else if (req.claude) {
        ctx->call = ngx_http_bedrock_call_claude;
        ngx_http_bedrock_set_op(ctx, req.stream, 1);

    } else {
        ctx->call = ngx_http_bedrock_call_messages;
        ngx_http_bedrock_set_op(ctx, req.stream, 0);
    }

    return NGX_OK;
}


/*
 * Bedrock's own REST API: the client's body goes on as it is, but for the
 * guardrail, signed with the gateway's credentials; the model in the path
 * must be one the map allows
 */

static ngx_int_t
ngx_http_bedrock_native_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body)
{
    ngx_int_t                      rc;
    ngx_str_t                      out;
    ngx_uint_t                     i;
    ngx_bedrock_error_t            err;
    ngx_http_bedrock_model_t      *m;
    ngx_http_bedrock_loc_conf_t   *blcf;
    ngx_bedrock_guardrail_conf_t   g;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    ctx->call = ngx_http_bedrock_call_native;
    ctx->op = ctx->native->op;
    ctx->mstream.model = ctx->model;
    ctx->mstream.block = -1;
    ctx->streaming = ctx->native->stream;

    /* an alias of the map, one of its ids, or any id with passthrough */

    rc = ngx_http_bedrock_resolve_model(r, blcf, ctx);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED && blcf->models) {
        m = blcf->models->elts;

        for (i = 0; i < blcf->models->nelts; i++) {
            if (m[i].id.len == ctx->model.len
                && ngx_strncmp(m[i].id.data, ctx->model.data,
                               ctx->model.len) == 0)
            {
                ctx->model_id = m[i].id;
                ctx->escaped = m[i].escaped;
                rc = NGX_OK;
                break;
            }
        }
    }

    if (rc != NGX_OK) {
        return ngx_http_bedrock_done(ctx,
                                     ngx_http_bedrock_model_not_found(r,
                                                              &ctx->model));
    }

    ctx->body = *body;

    ngx_http_bedrock_guardrail_conf(blcf, &g);

    if (g.id.len == 0 || ctx->native->invoke
        || ctx->op.len == sizeof("count-tokens") - 1)
    {
        return NGX_OK;
    }

    /* Converse: guardrailConfig set, or replaced */

    rc = ngx_bedrock_converse_set_guardrail(r->pool, temp, body->data,
                                            body->len, &g, ctx->streaming,
                                            &out);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_bedrock_error_set(&err, NGX_HTTP_BAD_REQUEST,
                              "invalid_request_error", NULL,
                              "The request body must be a JSON object.");
        return ngx_http_bedrock_done(ctx, ngx_http_bedrock_send_error(r, &err));
    }

    ctx->body = out;

    return NGX_OK;
}


static void
ngx_http_bedrock_guardrail_conf(ngx_http_bedrock_loc_conf_t *blcf,
    ngx_bedrock_guardrail_conf_t *g)
{
    ngx_memzero(g, sizeof(ngx_bedrock_guardrail_conf_t));

    if (blcf->guardrail) {
        g->id = blcf->guardrail->id;
        g->version = blcf->guardrail->version;
        g->trace = blcf->guardrail->trace;
        g->stream_mode = blcf->guardrail->stream_mode;
    }
}


/* bedrock_cache_point and bedrock_latency, for the translation */

static void
ngx_http_bedrock_converse_conf(ngx_http_bedrock_loc_conf_t *blcf,
    ngx_bedrock_converse_conf_t *c)
{
    c->cache = blcf->cache_points & ~NGX_HTTP_BEDROCK_CACHE_OFF;
    c->latency_optimized = blcf->latency;
    c->image_fetch = blcf->image_fetch;
}


static void
ngx_http_bedrock_cancel_wait(void *data)
{
    ngx_bedrock_credentials_cancel_wait(data);
}


static void
ngx_http_bedrock_credentials_ready(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_connection_t  *c;

    c = r->connection;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "bedrock credentials wait done");

    ngx_http_bedrock_proceed(r);
    ngx_http_run_posted_requests(c);
}


/* with credentials, the call to Bedrock; without, a 503 */

static void
ngx_http_bedrock_proceed(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_bedrock_error_t            err;
    ngx_http_bedrock_ctx_t        *ctx;
    ngx_http_bedrock_loc_conf_t   *blcf;
    ngx_http_bedrock_main_conf_t  *bmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bedrock_module);

    if (ngx_bedrock_credentials_get(bmcf->provider) == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "bedrock: no AWS credentials; looked in: %V",
                      ngx_bedrock_credentials_status(bmcf->provider));

        ngx_bedrock_error_set(&err, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "server_error", "credentials_unavailable",
                              "The gateway's AWS credentials are "
                              "unavailable; its error log says where it "
                              "looked.");

        if (ngx_http_bedrock_retry_after(&r->headers_out.headers, NULL)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r, ngx_http_bedrock_send_error(r, &err));
        return;
    }

    if (r == r->main && ctx->route == ngx_http_bedrock_route_embeddings) {
        ngx_http_bedrock_embed_start(r);
        return;
    }

    rc = ngx_http_bedrock_start(r, blcf);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * The whole body in pool memory: the translation needs all of it.  A body
 * that nginx spooled to a temporary file is read back; the read blocks
 * on local disk, as in the njs module, so client_body_buffer_size should
 * hold the usual request.
 */

static ngx_int_t
ngx_http_bedrock_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_DECLINED;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;

        if (body->len > NGX_HTTP_BEDROCK_BODY_MAX) {
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        return body->len ? NGX_OK : NGX_DECLINED;
    }

    len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    if (len > NGX_HTTP_BEDROCK_BODY_MAX) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            if (b->last != b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock reading spooled body: %O bytes from %V",
                       b->file_last - b->file_pos, &b->file->name);

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "bedrock: could not read the spooled request "
                          "body from %V", &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * OpenAI embeddings: InvokeModel calls, each a subrequest of this
 * location (as SSI includes are), at most NGX_HTTP_BEDROCK_EMBED_WINDOW
 * at a time; each writes its vectors into the request's state, and once
 * all are in, the list (or the first failure) is the answer
 */

static ngx_int_t
ngx_http_bedrock_embeddings_body(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_pool_t *temp, ngx_str_t *body)
{
    ngx_int_t                  rc;
    ngx_bedrock_error_t        err;
    ngx_http_bedrock_embed_t  *em;

    em = ngx_pcalloc(r->pool, sizeof(ngx_http_bedrock_embed_t));
    if (em == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    em->e.model_check = ngx_http_bedrock_embed_check;
    em->e.data = r;

    rc = ngx_bedrock_embeddings_request(r->pool, temp, body->data, body->len,
                                        &em->e, &err);

    if (rc != NGX_OK) {
        return ngx_http_bedrock_refused(r, ctx, rc, &em->e.model, &err);
    }

    ctx->embed = em;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_embed_check(void *data, ngx_str_t *model, ngx_str_t *id)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                     rc;
    ngx_http_bedrock_ctx_t       *ctx;
    ngx_http_bedrock_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    ctx->model = *model;

    rc = ngx_http_bedrock_resolve_model(r, blcf, ctx);

    if (rc == NGX_OK) {
        *id = ctx->model_id;
    }

    return rc;
}


static void
ngx_http_bedrock_embed_start(ngx_http_request_t *r)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    ctx->created = ngx_time();

    /* woken each time a part is done */

    r->write_event_handler = ngx_http_bedrock_embed_wake;

    if (ngx_http_bedrock_embed_spawn(r, ctx) != NGX_OK) {
        ngx_http_bedrock_embed_fail(r, ctx->embed,
                                    NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ngx_http_bedrock_embed_wake(r);
}


/* starts parts while the window has room and nothing failed */

static ngx_int_t
ngx_http_bedrock_embed_spawn(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_http_request_t          *sr;
    ngx_http_bedrock_ctx_t      *sctx;
    ngx_http_bedrock_embed_t    *em;
    ngx_http_post_subrequest_t  *ps;

    em = ctx->embed;

    while (em->status == 0
           && em->next < em->e.calls
           && em->active < NGX_HTTP_BEDROCK_EMBED_WINDOW)
    {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock embeddings: call %ui of %ui, %ui active",
                       em->next + 1, em->e.calls, em->active);

        sctx = ngx_pcalloc(r->pool, sizeof(ngx_http_bedrock_ctx_t));
        ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));

        if (sctx == NULL || ps == NULL) {
            return NGX_ERROR;
        }

        sctx->embed = em;
        sctx->part = em->next;
        sctx->model = ctx->model;
        sctx->model_id = ctx->model_id;
        sctx->escaped = ctx->escaped;
        sctx->route = ngx_http_bedrock_route_embeddings;
        sctx->routed = 1;
        sctx->dialect = NGX_BEDROCK_DIALECT_OPENAI;
        sctx->call = ngx_http_bedrock_call_embed;
        ngx_str_set(&sctx->op, "invoke");

        if (ngx_bedrock_embeddings_body(r->pool, &em->e, em->next,
                                        &sctx->body)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ps->handler = ngx_http_bedrock_embed_done;
        ps->data = sctx;

        if (ngx_http_subrequest(r, &r->uri, NULL, &sr, ps,
                                NGX_HTTP_SUBREQUEST_IN_MEMORY)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(sr, sctx, ngx_http_bedrock_module);

        em->next++;
        em->active++;
    }

    return NGX_OK;
}


/* the request's write handler: more parts, or the answer */

static void
ngx_http_bedrock_embed_wake(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_bedrock_error_t        err;
    ngx_http_bedrock_ctx_t    *ctx;
    ngx_http_bedrock_embed_t  *em;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    em = ctx->embed;

    if (em->replied) {
        return;
    }

    if (ngx_http_bedrock_embed_spawn(r, ctx) != NGX_OK) {
        ngx_http_bedrock_embed_fail(r, em, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (em->active) {
        return;
    }

    em->replied = 1;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (em->status) {
        if (em->error.len == 0) {
            ngx_http_bedrock_status_error(em->status, &err);
            ngx_http_finalize_request(r, ngx_http_bedrock_send_error(r,
                                                                     &err));
            return;
        }

        /* a throttled client is told when to come back, as for chat */

        if ((em->status == NGX_HTTP_TOO_MANY_REQUESTS
             || em->status == NGX_HTTP_SERVICE_UNAVAILABLE
             || em->retry_after.len)
            && ngx_http_bedrock_retry_after(&r->headers_out.headers,
                                            em->retry_after.len
                                            ? &em->retry_after : NULL)
               != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r, ngx_http_bedrock_send(r, em->status,
                                                           &em->error));
        return;
    }

    if (ngx_bedrock_embeddings_response(r->pool, &em->e, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->usage.input = em->e.tokens;
    ctx->has_usage = 1;

    rc = ngx_http_bedrock_send(r, NGX_HTTP_OK, &body);

    ngx_http_finalize_request(r, rc);
}


/* a part's subrequest is finalized (maybe more than once) */

static ngx_int_t
ngx_http_bedrock_embed_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_bedrock_ctx_t  *sctx = data;

    if (sctx->part_done) {
        return rc;
    }

    sctx->part_done = 1;
    sctx->embed->active--;

    if (!sctx->part_ok) {
        ngx_http_bedrock_embed_fail(r, sctx->embed,
                                    (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                                    ? (ngx_uint_t) rc : NGX_HTTP_BAD_GATEWAY);
    }

    return rc;
}


/* a part's subrequest runs: its body is the request's, already read */

static void
ngx_http_bedrock_embed_part(ngx_http_request_t *r)
{
    ngx_http_bedrock_call(r);
}


/* a part's answer, read in translate: its vectors, or its error */

static void
ngx_http_bedrock_embed_result(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_uint_t status)
{
    ngx_http_bedrock_embed_t  *em;

    em = ctx->embed;

    if (status == NGX_HTTP_OK) {
        ctx->part_ok = 1;

    } else if (em->status == 0) {
        em->status = status;
        em->error = ctx->out;
        em->retry_after = ctx->retry_after;

        /* answered: the done handler need not count it again */

        ctx->part_ok = 1;
    }

    ngx_str_null(&ctx->out);
}


/* the first failure is the answer, once the parts in flight are done */

static void
ngx_http_bedrock_embed_fail(ngx_http_request_t *r,
    ngx_http_bedrock_embed_t *em, ngx_uint_t status)
{
    if (em->status == 0) {
        em->status = status;
    }
}


/* the translation asks first: is the model in the location's allowlist */

static ngx_int_t
ngx_http_bedrock_messages_check(void *data, ngx_str_t *model,
    ngx_uint_t *claude)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                     rc;
    ngx_http_bedrock_model_t     *m;
    ngx_http_bedrock_ctx_t       *ctx;
    ngx_http_bedrock_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    ctx->model = *model;

    rc = ngx_http_bedrock_resolve_model(r, blcf, ctx);

    if (rc == NGX_OK) {
        m = ngx_http_bedrock_find_model(blcf, model);
        *claude = m ? m->claude
                    : ngx_bedrock_messages_is_claude(&ctx->model_id);
    }

    return rc;
}


static ngx_int_t
ngx_http_bedrock_model_check(void *data, ngx_str_t *model, ngx_str_t *id,
    ngx_uint_t *claude)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                rc;
    ngx_http_bedrock_ctx_t  *ctx;

    rc = ngx_http_bedrock_messages_check(data, model, claude);

    if (rc == NGX_OK) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
        *id = ctx->model_id;
    }

    return rc;
}


static ngx_int_t
ngx_http_bedrock_resolve_model(ngx_http_request_t *r,
    ngx_http_bedrock_loc_conf_t *blcf, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_http_bedrock_model_t  *m;

    m = ngx_http_bedrock_find_model(blcf, &ctx->model);

    if (m != NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock model \"%V\" is \"%V\"",
                       ngx_http_bedrock_debug_text(r->pool, &ctx->model),
                       &m->id);

        ctx->model_id = m->id;
        ctx->escaped = m->escaped;
        return NGX_OK;
    }

    if (blcf->passthrough
        && ngx_http_bedrock_model_id_valid(&ctx->model) == NGX_OK)
    {
        ctx->model_id = ctx->model;

        ctx->escaped.len = ngx_bedrock_uri_escape_len(ctx->model.data,
                                                      ctx->model.len, 0);
        ctx->escaped.data = ngx_pnalloc(r->pool, ctx->escaped.len);
        if (ctx->escaped.data == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_bedrock_uri_escape(ctx->escaped.data, ctx->model.data,
                                      ctx->model.len, 0);
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock model \"%V\" is not in the map",
                   ngx_http_bedrock_debug_text(r->pool, &ctx->model));

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_bedrock_model_not_found(ngx_http_request_t *r, ngx_str_t *model)
{
    ngx_bedrock_error_t      err;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));

    /* Bedrock's own clients are told what Bedrock would tell them */

    if (ctx->dialect == NGX_HTTP_BEDROCK_DIALECT_AWS) {
        ngx_str_set(&err.aws_type, "AccessDeniedException");
        err.status = NGX_HTTP_FORBIDDEN;

        err.message.data = ngx_pnalloc(r->pool, 96 + model->len);
        if (err.message.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        err.message.len = ngx_sprintf(err.message.data,
                                      "This gateway does not allow the "
                                      "model \"%V\".", model)
                          - err.message.data;

        return ngx_http_bedrock_send_error(r, &err);
    }

    err.status = NGX_HTTP_NOT_FOUND;
    ngx_str_set(&err.type, "invalid_request_error");
    ngx_str_set(&err.code, "model_not_found");
    ngx_str_set(&err.param, "model");

    err.message.data = ngx_pnalloc(r->pool, 96 + model->len);
    if (err.message.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err.message.len = ngx_sprintf(err.message.data,
                                  "The model `%V` does not exist or you do "
                                  "not have access to it.", model)
                      - err.message.data;

    return ngx_http_bedrock_send_error(r, &err);
}


static ngx_int_t
ngx_http_bedrock_start(ngx_http_request_t *r,
    ngx_http_bedrock_loc_conf_t *blcf)
{
    uint32_t                      rnd[3];
    ngx_uint_t                    i;
    ngx_http_upstream_t          *u;
    ngx_http_bedrock_ctx_t       *ctx;
    ngx_http_bedrock_endpoint_t  *ep;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    ctx->created = ngx_time();

    for (i = 0; i < 3; i++) {
        rnd[i] = (uint32_t) ngx_random();
    }

    ctx->id.data = ngx_pnalloc(r->pool, sizeof("chatcmpl-") - 1 + 24);
    if (ctx->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->id.len = ngx_sprintf(ctx->id.data, "%s%08xD%08xD%08xD",
                              (ctx->call == ngx_http_bedrock_call_chat)
                              ? "chatcmpl-"
                              : (ctx->call == ngx_http_bedrock_call_responses)
                                ? "resp_" : "msg_",
                              rnd[0], rnd[1], rnd[2])
                  - ctx->id.data;

    ctx->mstream.id = ctx->id;
    ctx->rstream.id = ctx->id;
    ctx->rstream.model = ctx->model;
    ctx->rstream.created = ctx->created;

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u = r->upstream;
    ep = blcf->endpoint;

    if (ep->resolve.len) {
        u->resolved = ngx_pcalloc(r->pool,
                                  sizeof(ngx_http_upstream_resolved_t));
        if (u->resolved == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        u->resolved->host = ep->resolve;
        u->resolved->port = ep->port;
        u->resolved->no_port = 0;
    }

#if (NGX_HTTP_SSL)
    u->ssl = ep->ssl;
#endif

    ngx_str_set(&u->schema, "https://");

    if (!ep->ssl) {
        ngx_str_set(&u->schema, "http://");
    }

    u->output.tag = (ngx_buf_tag_t) &ngx_http_bedrock_module;

    u->conf = &blcf->upstream;

    u->create_request = ngx_http_bedrock_create_request;
    u->reinit_request = ngx_http_bedrock_reinit_request;
    u->process_header = ngx_http_bedrock_process_header;
    u->abort_request = ngx_http_bedrock_abort_request;
    u->finalize_request = ngx_http_bedrock_finalize_request;

    u->input_filter_init = ngx_http_bedrock_filter_init;
    u->input_filter = ngx_http_bedrock_filter;
    u->input_filter_ctx = r;

    ngx_http_upstream_init(r);

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_create_request(ngx_http_request_t *r)
{
    size_t                         len;
    u_char                        *p;
    ngx_buf_t                     *b, *body;
    ngx_str_t                      auth;
    ngx_chain_t                   *cl, *next;
    ngx_bedrock_sigv4_t            sig;
    ngx_http_upstream_t           *u;
    ngx_http_bedrock_ctx_t        *ctx;
    ngx_bedrock_credentials_t     *creds;
    ngx_http_bedrock_loc_conf_t   *blcf;
    ngx_http_bedrock_main_conf_t  *bmcf;
    ngx_uint_t                     n, i, guard;
    ngx_str_t                      trace;
    ngx_bedrock_sigv4_header_t     headers[7];
    u_char                         date[NGX_BEDROCK_SIGV4_DATE_LEN];

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bedrock_module);

    creds = ngx_bedrock_credentials_get(bmcf->provider);
    if (creds == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&sig, sizeof(ngx_bedrock_sigv4_t));

    /* the request line's path: /model/{id}/{operation} */

    len = sizeof("/model//") - 1 + ctx->escaped.len + ctx->op.len;

    sig.path.data = ngx_pnalloc(r->pool, len);
    if (sig.path.data == NULL) {
        return NGX_ERROR;
    }

    sig.path.len = ngx_sprintf(sig.path.data, "/model/%V/%V", &ctx->escaped,
                               &ctx->op)
                   - sig.path.data;

    /* InvokeModel takes the guardrail in headers, Converse in its body */

    guard = blcf->guardrail
            && (ctx->call == ngx_http_bedrock_call_claude
                || (ctx->call == ngx_http_bedrock_call_native
                    && ctx->native->invoke));

    ngx_str_null(&trace);

    if (guard && blcf->guardrail->trace.len) {
        trace.len = blcf->guardrail->trace.len;
        trace.data = ngx_pnalloc(r->pool, trace.len);
        if (trace.data == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < trace.len; i++) {
            trace.data[i] = ngx_toupper(blcf->guardrail->trace.data[i]);
        }
    }

    if (creds->kind == NGX_BEDROCK_CREDENTIALS_SIGV4) {

        ngx_bedrock_sigv4_date(ngx_time(), date);

        ngx_str_set(&sig.method, "POST");
        ngx_str_set(&sig.service, "bedrock");
        sig.region = blcf->region;
        sig.payload = ctx->body;
        sig.amz_date.data = date;
        sig.amz_date.len = NGX_BEDROCK_SIGV4_DATE_LEN;
        sig.access_key = creds->access_key;
        sig.secret_key = creds->secret_key;
        sig.signer = bmcf->signer;

        /* sorted by name */

        ngx_str_set(&headers[0].name, "content-type");
        ngx_str_set(&headers[0].value, "application/json");
        ngx_str_set(&headers[1].name, "host");
        headers[1].value = blcf->endpoint->host;
        ngx_str_set(&headers[2].name, "x-amz-date");
        headers[2].value = sig.amz_date;
        n = 3;

        if (creds->session_token.len) {
            ngx_str_set(&headers[n].name, "x-amz-security-token");
            headers[n++].value = creds->session_token;
        }

        if (guard) {
            ngx_str_set(&headers[n].name,
                        "x-amzn-bedrock-guardrailidentifier");
            headers[n++].value = blcf->guardrail->id;
            ngx_str_set(&headers[n].name, "x-amzn-bedrock-guardrailversion");
            headers[n++].value = blcf->guardrail->version;

            if (trace.len) {
                ngx_str_set(&headers[n].name, "x-amzn-bedrock-trace");
                headers[n++].value = trace;
            }
        }

        sig.headers = headers;
        sig.nheaders = n;

        if (ngx_bedrock_sigv4_sign(r->pool, &sig, &auth) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        auth.len = sizeof("Bearer ") - 1 + creds->bearer.len;
        auth.data = ngx_pnalloc(r->pool, auth.len);
        if (auth.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(auth.data, "Bearer %V", &creds->bearer);
    }

    len = sizeof("POST  HTTP/1.1" CRLF) - 1 + sig.path.len
          + sizeof("Host: " CRLF) - 1 + blcf->endpoint->host.len
          + sizeof("Content-Type: application/json" CRLF) - 1
          + sizeof("Content-Length: " CRLF) - 1 + NGX_OFF_T_LEN
          + sizeof("Accept: application/vnd.amazon.eventstream" CRLF) - 1
          + sizeof("Authorization: " CRLF) - 1 + auth.len
          + sizeof(CRLF) - 1;

    if (guard) {
        len += sizeof("X-Amzn-Bedrock-GuardrailIdentifier: " CRLF) - 1
               + blcf->guardrail->id.len
               + sizeof("X-Amzn-Bedrock-GuardrailVersion: " CRLF) - 1
               + blcf->guardrail->version.len
               + sizeof("X-Amzn-Bedrock-Trace: " CRLF) - 1 + trace.len;
    }

    if (creds->kind == NGX_BEDROCK_CREDENTIALS_SIGV4) {
        len += sizeof("X-Amz-Date: " CRLF) - 1 + sig.amz_date.len;

        if (creds->session_token.len) {
            len += sizeof("X-Amz-Security-Token: " CRLF) - 1
                   + creds->session_token.len;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(b->last, "POST %V HTTP/1.1" CRLF
                    "Host: %V" CRLF
                    "Content-Type: application/json" CRLF
                    "Content-Length: %uz" CRLF
                    "Accept: %s" CRLF,
                    &sig.path, &blcf->endpoint->host, ctx->body.len,
                    ctx->streaming ? "application/vnd.amazon.eventstream"
                                   : "application/json");

    if (creds->kind == NGX_BEDROCK_CREDENTIALS_SIGV4) {
        p = ngx_sprintf(p, "X-Amz-Date: %V" CRLF, &sig.amz_date);

        if (creds->session_token.len) {
            p = ngx_sprintf(p, "X-Amz-Security-Token: %V" CRLF,
                            &creds->session_token);
        }
    }

    if (guard) {
        p = ngx_sprintf(p, "X-Amzn-Bedrock-GuardrailIdentifier: %V" CRLF
                        "X-Amzn-Bedrock-GuardrailVersion: %V" CRLF,
                        &blcf->guardrail->id, &blcf->guardrail->version);

        if (trace.len) {
            p = ngx_sprintf(p, "X-Amzn-Bedrock-Trace: %V" CRLF, &trace);
        }
    }

    b->last = ngx_sprintf(p, "Authorization: %V" CRLF CRLF, &auth);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock request: POST %V, %uz bytes of JSON",
                   &sig.path, ctx->body.len);

    body = ngx_calloc_buf(r->pool);
    if (body == NULL) {
        return NGX_ERROR;
    }

    body->start = ctx->body.data;
    body->pos = body->start;
    body->last = body->start + ctx->body.len;
    body->end = body->last;
    body->memory = 1;
    body->flush = 1;

    cl = ngx_alloc_chain_link(r->pool);
    next = ngx_alloc_chain_link(r->pool);

    if (cl == NULL || next == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = next;
    next->buf = body;
    next->next = NULL;

    u->request_bufs = cl;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_reinit_request(ngx_http_request_t *r)
{
    ngx_str_t                model;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock response state: status line, the call again");

    ctx->state = ngx_http_bedrock_st_status;
    ngx_memzero(&ctx->status, sizeof(ngx_http_status_t));

    /* the status line and header parsers keep their state in r */
    r->state = 0;
    ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));
    ctx->length = 0;
    ngx_str_null(&ctx->aws_type);
    ngx_str_null(&ctx->request_id);
    ngx_str_null(&ctx->retry_after);
    ngx_str_null(&ctx->content_type);
    ngx_str_null(&ctx->input_count);
    ngx_str_null(&ctx->output_count);
    ctx->resp_pos = ctx->resp_start;
    ngx_str_null(&ctx->out);
    ngx_str_null(&ctx->stop_reason);
    ngx_memzero(&ctx->usage, sizeof(ngx_bedrock_usage_t));
    ctx->has_usage = 0;
    ctx->replied = 0;

    model = ctx->mstream.model;
    ngx_memzero(&ctx->mstream, sizeof(ngx_bedrock_messages_stream_t));
    ctx->mstream.model = model;
    ctx->mstream.id = ctx->id;
    ctx->mstream.block = -1;
    ctx->connection_close = 0;
    ctx->event_stream = 0;

    return NGX_OK;
}


/*
 * The status line, the headers and, for a Converse answer, the whole body
 * are consumed here, so that the client's status can follow Bedrock's
 * answer and its content.  The body is moved out of u->buffer as it
 * arrives, so the buffer never fills up.
 */

static ngx_int_t
ngx_http_bedrock_process_header(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_upstream_t     *u;
    ngx_http_bedrock_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx->state == ngx_http_bedrock_st_status) {

        rc = ngx_http_parse_status_line(r, &u->buffer, &ctx->status);

        if (rc == NGX_AGAIN) {
            return rc;
        }

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent no valid HTTP/1.x status line");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        if (u->state && u->state->status == 0) {
            u->state->status = ctx->status.code;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock response state: headers, status %ui",
                       ctx->status.code);

        ctx->state = ngx_http_bedrock_st_headers;
        ctx->length = -2;
        ctx->connection_close = (ctx->status.http_version
                                 < NGX_HTTP_VERSION_11);
    }

    if (ctx->state == ngx_http_bedrock_st_headers) {

        rc = ngx_http_bedrock_process_headers(r, u, ctx);

        if (rc != NGX_OK) {
            return rc;
        }

        ctx->state = ngx_http_bedrock_st_body;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock response state: body, %s, length %O",
                       ctx->event_stream ? "an event stream" : "buffered",
                       ctx->length);

        if (ctx->event_stream) {
            return ngx_http_bedrock_stream_start(r, u, ctx);
        }
    }

    rc = ngx_http_bedrock_process_body(r, u, ctx);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock response body: %uz bytes, %O to come, rc %i",
                   (size_t) (ctx->resp_pos - ctx->resp_start), ctx->length,
                   rc);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_bedrock_translate(r, u, ctx);
}


static ngx_int_t
ngx_http_bedrock_process_headers(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_http_bedrock_ctx_t *ctx)
{
    u_char                        c;
    size_t                        len, i;
    ngx_int_t                     rc;
    ngx_str_t                     name, value, *dst;
    ngx_http_bedrock_loc_conf_t  *blcf;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &u->buffer, 1);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            break;
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent invalid header");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        name.data = r->header_name_start;
        name.len = r->header_name_end - r->header_name_start;
        value.data = r->header_start;
        value.len = r->header_end - r->header_start;

        dst = NULL;

#define ngx_http_bedrock_header_is(n)                                        \
        (name.len == sizeof(n) - 1                                           \
         && ngx_strncasecmp(name.data, (u_char *) n, sizeof(n) - 1) == 0)

        if (ngx_http_bedrock_header_is("x-amzn-requestid")) {
            dst = &ctx->request_id;

        } else if (ngx_http_bedrock_header_is("x-amzn-errortype")) {
            dst = &ctx->aws_type;

        } else if (ngx_http_bedrock_header_is("retry-after")) {

            /* delta-seconds only, passed on as they are */

            if (value.len == 0 || value.len > 9) {
                continue;
            }

            for (len = 0; len < value.len; len++) {
                if (value.data[len] < '0' || value.data[len] > '9') {
                    break;
                }
            }

            if (len == value.len) {
                dst = &ctx->retry_after;
            }

        } else if (ngx_http_bedrock_header_is("content-length")) {

            if (ctx->length == -1) {
                continue;   /* chunked wins, as in proxy */
            }

            ctx->length = ngx_atoof(value.data, value.len);

            if (ctx->length == NGX_ERROR) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "upstream sent invalid \"Content-Length\"");
                return NGX_HTTP_UPSTREAM_INVALID_HEADER;
            }

        } else if (ngx_http_bedrock_header_is("transfer-encoding")) {
            if (value.len == 7
                && ngx_strncasecmp(value.data, (u_char *) "chunked", 7) == 0)
            {
                ctx->length = -1;

            } else {
                if (ngx_bedrock_log_escape(r->pool, &value, &name) != NGX_OK)
                {
                    return NGX_ERROR;
                }

                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "upstream sent unknown "
                              "\"Transfer-Encoding\": \"%V\"", &name);
                return NGX_HTTP_UPSTREAM_INVALID_HEADER;
            }

        } else if (ngx_http_bedrock_header_is(
                       "x-amzn-bedrock-input-token-count"))
        {
            dst = &ctx->input_count;

        } else if (ngx_http_bedrock_header_is(
                       "x-amzn-bedrock-output-token-count"))
        {
            dst = &ctx->output_count;

        } else if (ngx_http_bedrock_header_is("content-type")) {
            if (ctx->call == ngx_http_bedrock_call_native) {
                dst = &ctx->content_type;
            }

            ctx->event_stream = (ctx->streaming
                                 && ctx->status.code == NGX_HTTP_OK
                                 && ngx_strlcasestrn(value.data,
                                        value.data + value.len,
                                        (u_char *) "vnd.amazon.eventstream",
                                        22 - 1)
                                    != NULL);

        } else if (ngx_http_bedrock_header_is("connection")) {
            ctx->connection_close =
                (ngx_strlcasestrn(value.data, value.data + value.len,
                                  (u_char *) "close", 5 - 1)
                 != NULL);
        }

#undef ngx_http_bedrock_header_is

        if (dst != NULL) {
            len = ngx_min(value.len, 256);

            dst->data = ngx_pnalloc(r->pool, len);
            if (dst->data == NULL) {
                return NGX_ERROR;
            }

            /*
             * logged and sent on as x-request-id: printable ASCII only,
             * whatever an upstream puts in a header
             */

            for (i = 0; i < len; i++) {
                c = value.data[i];
                dst->data[i] = (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
            }

            dst->len = len;
        }
    }

    /* only a stream may run until the connection closes */

    if (ctx->length == -2 && !ctx->event_stream) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream sent neither \"Content-Length\" nor "
                      "\"Transfer-Encoding: chunked\"");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    if (ctx->length > (off_t) blcf->max_response_size) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream response is larger than "
                      "bedrock_max_response_size: %O bytes", ctx->length);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock status %ui, length %O, request id \"%V\"",
                   ctx->status.code, ctx->length, &ctx->request_id);

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_process_body(ngx_http_request_t *r, ngx_http_upstream_t *u,
    ngx_http_bedrock_ctx_t *ctx)
{
    size_t      size;
    ngx_int_t   rc;
    ngx_str_t   piece;
    ngx_buf_t  *b;

    b = &u->buffer;
    rc = NGX_AGAIN;

    if (ctx->length >= 0) {
        size = ngx_min((off_t) (b->last - b->pos), ctx->length);

        if (ngx_http_bedrock_body_append(r, ctx, b->pos, size) != NGX_OK) {
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        b->pos += size;
        ctx->length -= size;

        if (ctx->length == 0) {
            rc = NGX_OK;
        }

    } else {

        for ( ;; ) {
            rc = ngx_http_bedrock_dechunk(r, ctx, b, &piece);

            if (rc == NGX_OK) {
                if (ngx_http_bedrock_body_append(r, ctx, piece.data,
                                                 piece.len)
                    != NGX_OK)
                {
                    return NGX_HTTP_UPSTREAM_INVALID_HEADER;
                }

                continue;
            }

            if (rc == NGX_DONE) {
                rc = NGX_OK;
                break;
            }

            if (rc == NGX_AGAIN) {
                break;
            }

            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }
    }

    if (rc == NGX_OK && b->pos != b->last) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "upstream sent more data than specified");
        ctx->connection_close = 1;
    }

    /* the consumed bytes are in ctx: make room for the next read */

    b->pos = b->start;
    b->last = b->start;

    return rc;
}


/*
 * The next piece of a chunked upstream body in b, for both the buffered and
 * the streamed answers: NGX_OK with the piece (consumed from b), NGX_DONE
 * after the last chunk, NGX_AGAIN when b holds no more of it, NGX_ERROR
 * (logged) when the chunking is invalid.
 */

static ngx_int_t
ngx_http_bedrock_dechunk(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx,
    ngx_buf_t *b, ngx_str_t *piece)
{
    ngx_int_t  rc;

    if (b->pos == b->last) {
        return NGX_AGAIN;
    }

#if (nginx_version >= 1027002)
    rc = ngx_http_parse_chunked(r, b, &ctx->chunked, 0);
#else
    rc = ngx_http_parse_chunked(r, b, &ctx->chunked);
#endif

    if (rc == NGX_OK) {
        piece->data = b->pos;
        piece->len = (size_t) ngx_min((off_t) (b->last - b->pos),
                                      ctx->chunked.size);

        b->pos += piece->len;
        ctx->chunked.size -= piece->len;

        return NGX_OK;
    }

    if (rc == NGX_DONE || rc == NGX_AGAIN) {
        return rc;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "upstream sent invalid chunked response");

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_bedrock_body_append(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, u_char *data, size_t size)
{
    u_char                       *p;
    size_t                        have, need, alloc;
    ngx_http_bedrock_loc_conf_t  *blcf;

    if (size == 0) {
        return NGX_OK;
    }

    have = ctx->resp_pos - ctx->resp_start;

    if ((size_t) (ctx->resp_end - ctx->resp_pos) < size) {

        blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

        need = have + size;

        if (need > blcf->max_response_size) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream response is larger than "
                          "bedrock_max_response_size");
            return NGX_ERROR;
        }

        alloc = (ctx->length > 0) ? have + (size_t) ctx->length
                                  : ngx_max(need, 2 * have);
        alloc = ngx_max(alloc, 4096);
        alloc = ngx_min(alloc, blcf->max_response_size);

        p = ngx_pnalloc(r->pool, alloc);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (have) {
            ngx_memcpy(p, ctx->resp_start, have);
            ngx_pfree(r->pool, ctx->resp_start);
        }

        ctx->resp_start = p;
        ctx->resp_pos = p + have;
        ctx->resp_end = p + alloc;
    }

    ctx->resp_pos = ngx_cpymem(ctx->resp_pos, data, size);

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_translate(ngx_http_request_t *r, ngx_http_upstream_t *u,
    ngx_http_bedrock_ctx_t *ctx)
{
    size_t                        len;
    ngx_int_t                     rc;
    ngx_str_t                     type, detail;
    ngx_uint_t                    level, keep;
    ngx_pool_t                   *temp;
    ngx_bedrock_error_t           err;
    ngx_bedrock_chat_response_t   resp;

    len = ctx->resp_pos - ctx->resp_start;
    keep = 0;

    temp = ngx_create_pool(NGX_HTTP_BEDROCK_TEMP_POOL_SIZE,
                           r->connection->log);
    if (temp == NULL) {
        return NGX_ERROR;
    }

    if (ctx->status.code == NGX_HTTP_OK && ctx->streaming) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream answered a streaming call without an event "
                      "stream (request id \"%V\")", &ctx->request_id);
        rc = NGX_DECLINED;

    } else if (ctx->status.code == NGX_HTTP_OK) {

        switch (ctx->call) {

        case ngx_http_bedrock_call_chat:
            ngx_memzero(&resp, sizeof(ngx_bedrock_chat_response_t));

            resp.model = ctx->model;
            resp.id = ctx->id;
            resp.created = ctx->created;

            rc = ngx_bedrock_chat_response(r->pool, temp, ctx->resp_start,
                                           len, &resp);

            ctx->out = resp.body;
            ctx->stop_reason = resp.stop_reason;
            ctx->usage = resp.usage;
            break;

        case ngx_http_bedrock_call_messages:
            rc = ngx_bedrock_messages_answer(r->pool, temp, ctx->resp_start,
                                             len, &ctx->mstream, &ctx->out);

            ctx->stop_reason = ctx->mstream.stop_reason;
            ctx->usage = ctx->mstream.usage;
            break;

        case ngx_http_bedrock_call_responses:
            rc = ngx_bedrock_responses_answer(r->pool, temp, ctx->resp_start,
                                              len, &ctx->rstream, &ctx->out,
                                              &ctx->stop_reason, &ctx->usage);

            if (rc == NGX_OK
                && ngx_bedrock_str_copy(r->pool, &ctx->stop_reason) != NGX_OK)
            {
                rc = NGX_ERROR;
            }

            break;

        case ngx_http_bedrock_call_count:
            rc = ngx_bedrock_messages_count_answer(r->pool, temp,
                                                   ctx->resp_start, len,
                                                   &ctx->out, &ctx->usage);
            break;

        case ngx_http_bedrock_call_embed:
            rc = ngx_bedrock_embeddings_answer(r->pool, temp,
                                               &ctx->embed->e, ctx->part,
                                               ctx->resp_start, len,
                                               ctx->input_count.len
                                               ? ngx_atoi(
                                                     ctx->input_count.data,
                                                     ctx->input_count.len)
                                               : -1);
            ngx_str_null(&ctx->out);
            break;

        default: /* claude, native: Bedrock's bytes, read for the log */

            rc = ngx_bedrock_messages_native_usage(temp, ctx->resp_start,
                                                   len, &ctx->usage,
                                                   &ctx->stop_reason);

            if (ctx->call == ngx_http_bedrock_call_native && rc == NGX_DECLINED)
            {
                rc = NGX_OK;   /* not ours to judge */
            }

            if (rc == NGX_OK && ctx->stop_reason.len
                && ngx_bedrock_str_copy(r->pool, &ctx->stop_reason) != NGX_OK)
            {
                rc = NGX_ERROR;
            }

            ctx->out.data = ctx->resp_start;
            ctx->out.len = len;
            keep = 1;
            break;
        }

        if (rc == NGX_ERROR) {
            ngx_destroy_pool(temp);
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent an invalid %s response "
                          "(request id \"%V\")",
                          (ctx->call == ngx_http_bedrock_call_chat
                           || ctx->call == ngx_http_bedrock_call_messages
                           || ctx->call == ngx_http_bedrock_call_responses)
                          ? "Converse" : "Bedrock", &ctx->request_id);
        }

    } else {
        rc = NGX_ABORT;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock answer translated: rc %i, %uz bytes in, "
                   "%uz out, stop reason \"%V\"",
                   rc, len, ctx->out.len,
                   ngx_http_bedrock_debug_text(r->pool, &ctx->stop_reason));

    if (rc == NGX_OK) {
        ngx_destroy_pool(temp);

        ctx->has_usage = 1;

        /* nothing points into Bedrock's answer any more */

        if (!keep) {
            ngx_pfree(r->pool, ctx->resp_start);
            ctx->resp_start = NULL;
            ctx->resp_pos = NULL;
            ctx->resp_end = NULL;
        }

        u->headers_in.status_n = NGX_HTTP_OK;

    } else if (rc == NGX_DECLINED) {
        ngx_destroy_pool(temp);

        ngx_http_bedrock_status_error(NGX_HTTP_BAD_GATEWAY, &err);

        if (ngx_http_bedrock_render_error(r, ctx, &err, &u->headers_in.headers,
                                          &ctx->out)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        u->headers_in.status_n = err.status;

    } else {
        rc = ngx_bedrock_upstream_error(r->pool, temp, ctx->status.code,
                                        &ctx->aws_type, ctx->resp_start, len,
                                        &err);

        ngx_destroy_pool(temp);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->aws_type = err.aws_type;

        level = err.auth ? NGX_LOG_ERR : NGX_LOG_INFO;

        /* Bedrock's words (2 KB at most), escaped: they may hold anything */

        if (ngx_bedrock_log_escape(r->pool, &err.aws_type, &type) != NGX_OK
            || ngx_bedrock_log_escape(r->pool, &err.detail, &detail)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_log_error(level, r->connection->log, 0,
                      "bedrock: upstream returned %ui %V%s (request id "
                      "\"%V\"): \"%V\"", ctx->status.code, &type,
                      err.auth ? ": the signature or the credentials were "
                                 "refused; check the credentials, the "
                                 "region and the clock" : "",
                      &ctx->request_id, &detail);

        /*
         * Bedrock's own clients get Bedrock's status and error name, but
         * a refusal of the gateway's signature is the gateway's fault
         */

        if (ctx->call == ngx_http_bedrock_call_native) {
            if (err.auth) {
                ngx_str_null(&err.aws_type);

            } else {
                err.status = ctx->status.code;
            }
        }

        if (ngx_http_bedrock_render_error(r, ctx, &err, &u->headers_in.headers,
                                          &ctx->out)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        u->headers_in.status_n = err.status;

        /* a throttled client is told when to come back */

        if ((err.status == NGX_HTTP_TOO_MANY_REQUESTS
             || err.status == NGX_HTTP_SERVICE_UNAVAILABLE
             || err.status == 529
             || ctx->retry_after.len)
            && ngx_http_bedrock_retry_after(&u->headers_in.headers,
                                            &ctx->retry_after)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->call == ngx_http_bedrock_call_embed) {
        ngx_http_bedrock_embed_result(r, ctx, u->headers_in.status_n);
    }

    /* nothing of Bedrock's headers is passed on but these */

    u->headers_in.content_length_n = ctx->out.len;
    u->keepalive = !ctx->connection_close;

    r->headers_out.content_type_len = sizeof("application/json") - 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_bedrock_pass_headers(r, u, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->replied = 1;

    return NGX_OK;
}


/*
 * The request id, for every dialect; for Bedrock's own clients the
 * headers their SDKs read as well
 */

static ngx_int_t
ngx_http_bedrock_pass_headers(ngx_http_request_t *r, ngx_http_upstream_t *u,
    ngx_http_bedrock_ctx_t *ctx)
{
    if (ctx->request_id.len
        && ngx_http_bedrock_push_header(&u->headers_in.headers,
                                        ctx->call
                                        == ngx_http_bedrock_call_native
                                        ? "x-amzn-RequestId"
                                        : "x-request-id",
                                        &ctx->request_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->call != ngx_http_bedrock_call_native
        || u->headers_in.status_n != NGX_HTTP_OK)
    {
        return NGX_OK;
    }

    if (ctx->content_type.len) {
        r->headers_out.content_type = ctx->content_type;
        r->headers_out.content_type_len = ctx->content_type.len;
    }

    if (ctx->input_count.len
        && ngx_http_bedrock_push_header(&u->headers_in.headers,
                                        "X-Amzn-Bedrock-Input-Token-Count",
                                        &ctx->input_count)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->output_count.len
        && ngx_http_bedrock_push_header(&u->headers_in.headers,
                                        "X-Amzn-Bedrock-Output-Token-Count",
                                        &ctx->output_count)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A ConverseStream answer: the client gets 200 and server-sent events at
 * once; the body is translated as it arrives, by the input filter
 */

static ngx_int_t
ngx_http_bedrock_stream_start(ngx_http_request_t *r, ngx_http_upstream_t *u,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_str_t                      value;
    ngx_pool_cleanup_t            *cln;
    ngx_http_bedrock_loc_conf_t   *blcf;
    ngx_http_bedrock_main_conf_t  *bmcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    if (!ctx->stream_ready) {

        /* a scratch pool a request that ends mid-read leaves behind */

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_bedrock_stream_cleanup;
        cln->data = ctx;

        bmcf = ngx_http_get_module_main_conf(r, ngx_http_bedrock_module);

        if (bmcf->metrics && r == r->main) {
            ngx_bedrock_metrics_streams(bmcf->metrics, 1);
            ctx->streams = bmcf->metrics;
        }

        if (ngx_bedrock_events_init(&ctx->events, r->pool) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->call == ngx_http_bedrock_call_responses
            && ngx_bedrock_responses_init(&ctx->rstream, r->pool) != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->stream_ready = 1;
    }

    ctx->decoder.pool = r->pool;
    ctx->decoder.max = blcf->max_response_size;

    ctx->stream.model = ctx->model;
    ctx->stream.id = ctx->id;
    ctx->stream.created = ctx->created;

    u->headers_in.status_n = NGX_HTTP_OK;
    u->headers_in.content_length_n = -1;
    u->keepalive = 0;

    r->headers_out.content_type_len = sizeof("text/event-stream") - 1;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_lowcase = NULL;

    ngx_str_set(&value, "no-cache");

    if (ngx_http_bedrock_push_header(&u->headers_in.headers,
                                     "Cache-Control", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* for an nginx in front of this one: do not buffer the stream */

    ngx_str_set(&value, "no");

    if (ngx_http_bedrock_push_header(&u->headers_in.headers,
                                     "X-Accel-Buffering", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_bedrock_pass_headers(r, u, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->replied = 1;

    u->input_filter = ngx_http_bedrock_stream_filter;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock stream start: %V", &ctx->op);

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_push_header(ngx_list_t *headers, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->lowcase_key = h->key.data;
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * Retry-After: the value given (Bedrock's), else the default.  Clients
 * such as LangChain retry a 429 only when it carries one.
 */

static ngx_int_t
ngx_http_bedrock_retry_after(ngx_list_t *headers, ngx_str_t *value)
{
    ngx_str_t  dflt = ngx_string(NGX_HTTP_BEDROCK_RETRY_AFTER);

    if (value == NULL || value->len == 0) {
        value = &dflt;
    }

    return ngx_http_bedrock_push_header(headers, "Retry-After", value);
}


static ngx_uint_t
ngx_http_bedrock_has_header(ngx_http_request_t *r, char *name)
{
    return ngx_http_bedrock_find_header(&r->headers_out.headers, name, 1)
           != NULL;
}


static ngx_int_t
ngx_http_bedrock_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_buf_t               *b;
    ngx_chain_t             *cl;
    ngx_http_upstream_t     *u;
    ngx_http_bedrock_ctx_t  *ctx;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx->event_stream) {

        /*
         * the end of the stream is found by the filter; until then, an
         * upstream that closes is finalized normally, and the finalize
         * handler tells the client what was missing
         */

        u->length = -1;
        return NGX_OK;
    }

    /* the answer is complete: hand it to the client in one buffer */

    u->length = 0;

    if (ctx->out.len == 0) {
        return NGX_OK;
    }

    cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;

    ngx_memzero(b, sizeof(ngx_buf_t));

    b->pos = ctx->out.data;
    b->last = b->pos + ctx->out.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->flush = 1;
    b->tag = u->output.tag;

    u->out_bufs = cl;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    /* the body was consumed in process_header: anything more is extra */

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "upstream sent more data than specified");

    r->upstream->keepalive = 0;

    return NGX_OK;
}


/*
 * A read of the stream: its events are translated in a scratch pool that
 * lives for this read only.  Thousands of streams wait between reads, and
 * hold nothing there but their decoder's state.
 */

static ngx_int_t
ngx_http_bedrock_stream_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                rc;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ngx_http_bedrock_scratch(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_bedrock_stream_read(r, ctx, bytes);

    ngx_http_bedrock_scratch_free(ctx);

    return rc;
}


static ngx_int_t
ngx_http_bedrock_scratch(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    if (ctx->scratch == NULL) {
        ctx->scratch = ngx_create_pool(NGX_HTTP_BEDROCK_SCRATCH_SIZE,
                                       r->connection->log);
        if (ctx->scratch == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_bedrock_scratch_free(void *data)
{
    ngx_http_bedrock_ctx_t  *ctx = data;

    if (ctx->scratch) {
        ngx_destroy_pool(ctx->scratch);
        ctx->scratch = NULL;
    }
}


/* the stream's request ends: a scratch pool left mid-read, the gauge */

static void
ngx_http_bedrock_stream_cleanup(void *data)
{
    ngx_http_bedrock_ctx_t  *ctx = data;

    ngx_http_bedrock_scratch_free(ctx);

    if (ctx->streams) {
        ngx_bedrock_metrics_streams(ctx->streams, -1);
        ctx->streams = NULL;
    }
}


static ngx_int_t
ngx_http_bedrock_stream_read(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ssize_t bytes)
{
    size_t                size;
    ngx_int_t             rc;
    ngx_str_t             piece;
    ngx_buf_t            *b;
    ngx_bedrock_error_t   err;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    b = &u->buffer;
    b->pos = b->last;
    b->last += bytes;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock stream filter: %z bytes", bytes);

    while (b->pos < b->last && !ctx->stream_done) {

        if (ctx->length == -1) {

            rc = ngx_http_bedrock_dechunk(r, ctx, b, &piece);

            if (rc == NGX_OK) {
                rc = ngx_http_bedrock_stream_feed(r, ctx, piece.data,
                                                  piece.len);
                if (rc != NGX_OK) {
                    return rc;
                }

                continue;
            }

            if (rc == NGX_DONE) {
                if (ngx_http_bedrock_stream_finish(r, ctx, NULL) != NGX_OK) {
                    return NGX_ERROR;
                }

                u->keepalive = !ctx->connection_close
                               && ngx_http_bedrock_stream_stopped(ctx);
                break;
            }

            if (rc == NGX_AGAIN) {
                break;
            }

            ngx_http_bedrock_status_error(NGX_HTTP_BAD_GATEWAY, &err);

            return ngx_http_bedrock_stream_finish(r, ctx, &err);
        }

        /* Content-Length, or until the connection closes */

        size = b->last - b->pos;

        if (ctx->length >= 0 && (off_t) size > ctx->length) {
            size = (size_t) ctx->length;
        }

        rc = ngx_http_bedrock_stream_feed(r, ctx, b->pos, size);
        if (rc != NGX_OK) {
            return rc;
        }

        b->pos += size;

        if (ctx->length >= 0) {
            ctx->length -= size;

            if (ctx->length == 0) {
                if (ngx_http_bedrock_stream_finish(r, ctx, NULL) != NGX_OK) {
                    return NGX_ERROR;
                }

                u->keepalive = !ctx->connection_close
                               && ngx_http_bedrock_stream_stopped(ctx)
                               && b->pos == b->last;
            }
        }
    }

    if (ctx->stream_done && b->pos != b->last) {
        u->keepalive = 0;
    }

    b->pos = b->last;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_stream_feed(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, u_char *data, size_t len)
{
    u_char                    *last;
    ngx_int_t                  rc;
    ngx_str_t                  sse;
    ngx_msec_int_t             ms;
    ngx_time_t                *tp;
    ngx_uint_t                 content;
    ngx_bedrock_event_t        ev;
    ngx_bedrock_error_t        err;
    ngx_bedrock_es_message_t   msg;

    last = data + len;

    /*
     * Bedrock's own clients get its bytes as they arrive; the frames are
     * decoded only for the log
     */

    if (ctx->call == ngx_http_bedrock_call_native) {
        sse.data = data;
        sse.len = len;

        if (ngx_http_bedrock_stream_output(r, &sse) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->blind) {
            return NGX_OK;
        }
    }

    while (!ctx->stream_done) {

        rc = ngx_bedrock_es_decode(&ctx->decoder, &data, last, &msg);

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        if (rc == NGX_ERROR && ctx->call == ngx_http_bedrock_call_native) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent an invalid event stream: %s; passed "
                          "on as it is", ctx->decoder.error);
            ctx->blind = 1;
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "upstream sent an invalid event stream: %s",
                          ctx->decoder.error);

            ngx_bedrock_error_set(&err, NGX_HTTP_BAD_GATEWAY, "server_error",
                                  "upstream_error",
                                  "Bedrock sent an invalid event stream.");

            return ngx_http_bedrock_stream_finish(r, ctx, &err);
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock stream message: %V \"%V\", %uz bytes",
                       ngx_http_bedrock_debug_text(ctx->scratch,
                                                   &msg.message_type),
                       ngx_http_bedrock_debug_text(ctx->scratch,
                                                   msg.event_type.len
                                                   ? &msg.event_type
                                                   : &msg.exception_type),
                       msg.payload.len);

        content = 0;
        ngx_str_null(&sse);

        if (ngx_http_bedrock_converse_stream(ctx)) {
            rc = ngx_bedrock_events_next(&ctx->events, ctx->scratch, &msg,
                                         &ev, &err);

            if (rc == NGX_OK) {
                switch (ctx->call) {

                case ngx_http_bedrock_call_chat:
                    rc = ngx_bedrock_stream_event(&ctx->stream, &ctx->events,
                                                  &ev, ctx->scratch, &sse);
                    content = ctx->stream.content;
                    break;

                case ngx_http_bedrock_call_messages:
                    rc = ngx_bedrock_messages_converse_event(&ctx->mstream,
                                                             &ctx->events,
                                                             &ev,
                                                             ctx->scratch,
                                                             &sse);
                    content = ctx->mstream.content;
                    break;

                case ngx_http_bedrock_call_responses:
                    rc = ngx_bedrock_responses_event(&ctx->rstream,
                                                     &ctx->events, &ev,
                                                     ctx->scratch, &sse);
                    content = ctx->rstream.content;
                    break;

                default: /* native: decoded for the log only */
                    ngx_str_null(&sse);
                    content = (ev.type != NGX_BEDROCK_EVENT_NONE
                               && ev.type != NGX_BEDROCK_EVENT_START);
                    break;
                }
            }

        } else {
            rc = ngx_bedrock_messages_chunk(&ctx->mstream, ctx->scratch,
                                            &msg, &sse, &err);
            content = ctx->mstream.content;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (ctx->call == ngx_http_bedrock_call_native) {
            if (rc == NGX_DECLINED
                && ngx_http_bedrock_stream_exception(r, ctx, &err) != NGX_OK)
            {
                return NGX_ERROR;
            }

            ngx_str_null(&sse);
            rc = NGX_OK;
        }

        if (rc == NGX_DECLINED) {
            if (ngx_http_bedrock_stream_exception(r, ctx, &err) != NGX_OK) {
                return NGX_ERROR;
            }

            rc = ngx_http_bedrock_stream_finish(r, ctx, &err);
            ngx_reset_pool(ctx->scratch);
            return rc;
        }

        if (sse.len && ngx_http_bedrock_stream_output(r, &sse) != NGX_OK) {
            return NGX_ERROR;
        }

        if (sse.len || ctx->call == ngx_http_bedrock_call_native) {

            if (content
                && ctx->ttft.len == 0)
            {
                tp = ngx_timeofday();
                ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                                       + (tp->msec - r->start_msec));

                ctx->ttft.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
                if (ctx->ttft.data == NULL) {
                    return NGX_ERROR;
                }

                ctx->ttft.len = ngx_sprintf(ctx->ttft.data, "%M",
                                            ngx_max(ms, 0))
                                - ctx->ttft.data;
            }
        }

        /* the event's memory is no longer needed */

        ngx_reset_pool(ctx->scratch);
    }

    return NGX_OK;
}


/* an exception or a bad event ended the stream: the log and $variables */

static ngx_int_t
ngx_http_bedrock_stream_exception(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_bedrock_error_t *err)
{
    ngx_str_t  type, detail;

    if (err->aws_type.len) {

        /* the event's memory is reset soon: $bedrock_error_type keeps it */

        ctx->aws_type.data = ngx_pnalloc(r->pool, err->aws_type.len);
        if (ctx->aws_type.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->aws_type.data, err->aws_type.data,
                   err->aws_type.len);
        ctx->aws_type.len = err->aws_type.len;
    }

    if (ngx_bedrock_log_escape(ctx->scratch, &err->aws_type, &type)
        != NGX_OK
        || ngx_bedrock_log_escape(ctx->scratch, &err->detail, &detail)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "bedrock: the stream ended with %V (request id \"%V\"): "
                  "\"%V\"", &type, &ctx->request_id, &detail);

    return NGX_OK;
}


/*
 * The end of the stream: "[DONE]" after a complete message, else (or with
 * err) one error event; the client's response then ends
 */

static ngx_int_t
ngx_http_bedrock_stream_finish(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_bedrock_error_t *err)
{
    ngx_str_t            sse;
    ngx_bedrock_error_t  incomplete;

    if (ctx->stream_done) {
        return NGX_OK;
    }

    ctx->stream_done = 1;
    r->upstream->length = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock stream finish: %s \"%V\"",
                   err ? "error" : "clean", err ? &err->type : &ctx->op);

    if (err && ctx->call == ngx_http_bedrock_call_native) {
        ngx_http_bedrock_note_error(ctx, err);
    }

    ngx_http_bedrock_stream_log(r, ctx);

    /* Bedrock's own clients read Bedrock's stream, with nothing added */

    if (ctx->call == ngx_http_bedrock_call_native) {
        if (err || !ngx_http_bedrock_stream_stopped(ctx)) {
            r->upstream->keepalive = 0;
        }

        return NGX_OK;
    }

    /* a frame cut short after messageStop is no clean end either */

    if (err == NULL && ngx_http_bedrock_stream_stopped(ctx)
        && (ctx->decoder.have == 0
            || (ctx->decoder.total && ctx->decoder.have == ctx->decoder.total)))
    {
        switch (ctx->call) {

        case ngx_http_bedrock_call_chat:
            return ngx_http_bedrock_stream_output(r, &ngx_bedrock_stream_done);

        case ngx_http_bedrock_call_messages:

            /* no metadata came: message_delta and message_stop now */

            if (ngx_bedrock_messages_end(&ctx->mstream, &ctx->events,
                                         ctx->scratch, &sse)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            return ngx_http_bedrock_stream_output(r, &sse);

        case ngx_http_bedrock_call_responses:

            /* no metadata came: response.completed now, without usage */

            if (ngx_bedrock_responses_end(&ctx->rstream, &ctx->events,
                                          ctx->scratch, &sse)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            return ngx_http_bedrock_stream_output(r, &sse);

        default:
            return NGX_OK;
        }
    }

    if (err == NULL && ngx_http_bedrock_stream_stopped(ctx)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream ended the event stream inside a message");

        ngx_bedrock_error_set(&incomplete, NGX_HTTP_BAD_GATEWAY,
                              "server_error", "upstream_error",
                              "Bedrock sent an invalid event stream.");
        err = &incomplete;

    } else if (err == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream ended the event stream before %s",
                      (ctx->call == ngx_http_bedrock_call_claude)
                      ? "message_stop" : "messageStop");

        ngx_bedrock_error_set(&incomplete, NGX_HTTP_BAD_GATEWAY,
                              "server_error", "upstream_error",
                              "The Bedrock stream ended before the answer "
                              "was complete.");
        err = &incomplete;
    }

    ngx_http_bedrock_note_error(ctx, err);

    r->upstream->keepalive = 0;

    if (ctx->call == ngx_http_bedrock_call_chat) {
        if (ngx_bedrock_stream_error(ctx->scratch, err, &sse) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ctx->call == ngx_http_bedrock_call_responses) {
        if (ngx_bedrock_responses_stream_error(&ctx->rstream, ctx->scratch,
                                               err, &sse)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_bedrock_messages_stream_error(ctx->scratch, err, &sse)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_bedrock_stream_output(r, &sse);
}


static ngx_uint_t
ngx_http_bedrock_stream_stopped(ngx_http_bedrock_ctx_t *ctx)
{
    return ngx_http_bedrock_converse_stream(ctx) ? ctx->events.stopped
                                                 : ctx->mstream.stopped;
}


/* the stream is ConverseStream's, read by the core's decoder */

static ngx_uint_t
ngx_http_bedrock_converse_stream(ngx_http_bedrock_ctx_t *ctx)
{
    return ctx->call == ngx_http_bedrock_call_chat
           || ctx->call == ngx_http_bedrock_call_messages
           || ctx->call == ngx_http_bedrock_call_responses
           || (ctx->call == ngx_http_bedrock_call_native
               && !ctx->native->invoke);
}


/* appends SSE bytes to u->out_bufs, in recycled fixed-size buffers */

static ngx_int_t
ngx_http_bedrock_stream_output(ngx_http_request_t *r, ngx_str_t *sse)
{
    size_t                n;
    u_char               *p, *last;
    ngx_buf_t            *b;
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    cl = NULL;

    for (ll = &u->out_bufs; *ll; ll = &(*ll)->next) {
        cl = *ll;
    }

    p = sse->data;
    last = sse->data + sse->len;

    while (p < last) {

        if (cl == NULL || cl->buf->last == cl->buf->end) {

            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            b = cl->buf;

            if (b->start == NULL) {
                b->start = ngx_palloc(r->pool, NGX_HTTP_BEDROCK_SSE_BUF);
                if (b->start == NULL) {
                    return NGX_ERROR;
                }

                b->end = b->start + NGX_HTTP_BEDROCK_SSE_BUF;
                b->pos = b->start;
                b->last = b->start;
            }

            b->temporary = 1;
            b->flush = 1;
            b->tag = u->output.tag;

            *ll = cl;
            ll = &cl->next;
        }

        b = cl->buf;

        n = ngx_min((size_t) (last - p), (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, p, n);
        p += n;
    }

    return NGX_OK;
}


static void
ngx_http_bedrock_stream_log(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    if (!ngx_http_bedrock_converse_stream(ctx)) {
        ctx->stop_reason = ctx->mstream.stop_reason;

        if (ctx->mstream.has_usage) {
            ctx->usage = ctx->mstream.usage;
            ctx->has_usage = 1;
        }

        return;
    }

    ctx->stop_reason = ctx->events.stop_reason;

    if (ctx->events.has_usage) {
        ctx->usage = ctx->events.usage;
        ctx->has_usage = 1;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock stream end: stop reason \"%V\", tokens %i in, "
                   "%i out",
                   ngx_http_bedrock_debug_text(r->pool, &ctx->stop_reason),
                   ctx->usage.input,
                   ctx->usage.output);
}


static void
ngx_http_bedrock_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort bedrock request");
}


static void
ngx_http_bedrock_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_buf_t               *b;
    ngx_chain_t             *cl, **ll;
    ngx_bedrock_error_t      err;
    ngx_http_upstream_t     *u;
    ngx_http_bedrock_ctx_t  *ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize bedrock request: %i", rc);

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL || !ctx->event_stream || !u->header_sent
        || ctx->stream_done || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || r->connection->error)
    {
        return;
    }

    if (ctx->call == ngx_http_bedrock_call_native) {
        ngx_http_bedrock_stream_log(r, ctx);
        return;
    }

    /*
     * The stream stopped without its end: the upstream closed (rc 0 when
     * the body had no length) or timed out.  The client still gets a
     * complete stream, or an error event that the SDKs raise.
     */

    if (rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_bedrock_error_set(&err, rc, "server_error", "upstream_timeout",
                              "Bedrock stopped sending the stream "
                              "(bedrock_read_timeout).");

    } else {
        ngx_bedrock_error_set(&err, NGX_HTTP_BAD_GATEWAY, "server_error",
                              "upstream_error",
                              "The connection to Bedrock ended before the "
                              "answer was complete.");
    }

    /* the request pool's cleanup destroys this scratch pool */

    if (ngx_http_bedrock_scratch(r, ctx) != NGX_OK) {
        return;
    }

    if (ngx_http_bedrock_stream_finish(r, ctx,
                                       (rc == 0
                                        && ngx_http_bedrock_stream_stopped(
                                               ctx))
                                       ? NULL : &err)
        != NGX_OK)
    {
        return;
    }

    /*
     * Send what stream_finish queued: the upstream module will not now.
     * After an error it closes the connection without the last chunk, so
     * the response is completed here, for the client to see a clean end.
     */

    if (rc != 0) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return;
        }

        b->last_buf = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return;
        }

        cl->buf = b;
        cl->next = NULL;

        for (ll = &u->out_bufs; *ll; ll = &(*ll)->next) { /* void */ }

        *ll = cl;
    }

    (void) ngx_http_output_filter(r, u->out_bufs);
    u->out_bufs = NULL;
}


static ngx_int_t
ngx_http_bedrock_models(ngx_http_request_t *r,
    ngx_http_bedrock_loc_conf_t *blcf, ngx_str_t *alias)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_uint_t                 i, n;
    ngx_bedrock_jw_t           w;
    ngx_http_bedrock_ctx_t    *ctx;
    ngx_http_bedrock_model_t  *m;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = NULL;
    n = 0;

    if (blcf->models) {
        m = blcf->models->elts;
        n = blcf->models->nelts;
    }

    if (alias) {
        m = ngx_http_bedrock_find_model(blcf, alias);

        if (m == NULL) {
            return ngx_http_bedrock_model_not_found(r, alias);
        }

        n = 1;
    }

    if (ngx_bedrock_jw_init(&w, r->pool, 256 + n * 128, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx->dialect == NGX_BEDROCK_DIALECT_ANTHROPIC) {
        ngx_http_bedrock_anthropic_models(blcf, &w, m, n, alias == NULL);
        goto done;
    }

    if (alias == NULL) {
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "object");
        ngx_bedrock_jw_cstr(&w, "list");
        ngx_bedrock_jw_key(&w, "data");
        ngx_bedrock_jw_arr(&w);
    }

    for (i = 0; i < n; i++) {
        ngx_bedrock_jw_obj(&w);
        ngx_bedrock_jw_key(&w, "id");
        ngx_bedrock_jw_str(&w, &m[i].alias);
        ngx_bedrock_jw_key(&w, "object");
        ngx_bedrock_jw_cstr(&w, "model");
        ngx_bedrock_jw_key(&w, "created");
        ngx_bedrock_jw_int(&w, (ngx_int_t) blcf->created);
        ngx_bedrock_jw_key(&w, "owned_by");
        ngx_bedrock_jw_cstr(&w, "amazon-bedrock");
        ngx_bedrock_jw_obj_end(&w);
    }

    if (alias == NULL) {
        ngx_bedrock_jw_arr_end(&w);
        ngx_bedrock_jw_obj_end(&w);
    }

done:

    if (ngx_bedrock_jw_finish(&w, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_bedrock_send(r, NGX_HTTP_OK, &body);
}


/* Anthropic's model list, or one model, for anthropic-version clients */

static void
ngx_http_bedrock_anthropic_models(ngx_http_bedrock_loc_conf_t *blcf,
    ngx_bedrock_jw_t *w, ngx_http_bedrock_model_t *m, ngx_uint_t n,
    ngx_uint_t list)
{
    u_char      buf[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t    tm;
    ngx_str_t   created;
    ngx_uint_t  i;

    ngx_gmtime(blcf->created, &tm);

    created.data = buf;
    created.len = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                              tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                              tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
                  - buf;

    if (list) {
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "data");
        ngx_bedrock_jw_arr(w);
    }

    for (i = 0; i < n; i++) {
        ngx_bedrock_jw_obj(w);
        ngx_bedrock_jw_key(w, "type");
        ngx_bedrock_jw_cstr(w, "model");
        ngx_bedrock_jw_key(w, "id");
        ngx_bedrock_jw_str(w, &m[i].alias);
        ngx_bedrock_jw_key(w, "display_name");
        ngx_bedrock_jw_str(w, &m[i].alias);
        ngx_bedrock_jw_key(w, "created_at");
        ngx_bedrock_jw_str(w, &created);
        ngx_bedrock_jw_obj_end(w);
    }

    if (!list) {
        return;
    }

    ngx_bedrock_jw_arr_end(w);
    ngx_bedrock_jw_key(w, "has_more");
    ngx_bedrock_jw_bool(w, 0);
    ngx_bedrock_jw_key(w, "first_id");

    if (n) {
        ngx_bedrock_jw_str(w, &m[0].alias);

    } else {
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_key(w, "last_id");

    if (n) {
        ngx_bedrock_jw_str(w, &m[n - 1].alias);

    } else {
        ngx_bedrock_jw_null(w);
    }

    ngx_bedrock_jw_obj_end(w);
}


static ngx_http_bedrock_model_t *
ngx_http_bedrock_find_model(ngx_http_bedrock_loc_conf_t *blcf,
    ngx_str_t *alias)
{
    ngx_uint_t                 i;
    ngx_http_bedrock_model_t  *m;

    if (blcf->models == NULL) {
        return NULL;
    }

    m = blcf->models->elts;

    for (i = 0; i < blcf->models->nelts; i++) {
        if (m[i].alias.len == alias->len
            && ngx_strncmp(m[i].alias.data, alias->data, alias->len) == 0)
        {
            return &m[i];
        }
    }

    return NULL;
}


/*
 * Model ids, inference profile ids and ARNs: letters, digits and
 * "._:/-"; "." and ".." alone are refused, as they would be path segments
 */

static ngx_int_t
ngx_http_bedrock_model_id_valid(ngx_str_t *id)
{
    u_char      c;
    ngx_uint_t  i;

    if (id->len == 0 || id->len > NGX_HTTP_BEDROCK_MODEL_ID_MAX
        || (id->len == 1 && id->data[0] == '.')
        || (id->len == 2 && id->data[0] == '.' && id->data[1] == '.'))
    {
        return NGX_ERROR;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == ':' || c == '/' || c == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_chain_t              out;
    ngx_http_bedrock_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_bedrock_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->replied = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_lowcase = NULL;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_bedrock_send_error(ngx_http_request_t *r, ngx_bedrock_error_t *err)
{
    ngx_str_t                body;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_bedrock_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_bedrock_render_error(r, ctx, err, &r->headers_out.headers,
                                      &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_bedrock_send(r, err->status, &body);
}


/*
 * An error in the client's dialect: OpenAI's or Anthropic's JSON, or for
 * Bedrock's own clients AWS's {"message"} with the error's name in
 * x-amzn-ErrorType, which the AWS SDKs read.  err->status may change.
 */

static ngx_int_t
ngx_http_bedrock_render_error(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_bedrock_error_t *err,
    ngx_list_t *headers, ngx_str_t *body)
{
    ngx_str_t         name;
    ngx_bedrock_jw_t  w;

    if (!ctx->routed && ngx_http_bedrock_route(r, ctx, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_bedrock_note_error(ctx, err);

    if (ctx->dialect == NGX_BEDROCK_DIALECT_ANTHROPIC) {

        /* Anthropic says "overloaded" where Bedrock says "unavailable" */

        if (err->status == NGX_HTTP_SERVICE_UNAVAILABLE
            && err->aws_type.len == sizeof("ServiceUnavailableException") - 1
            && ngx_strncmp(err->aws_type.data, "ServiceUnavailableException",
                           err->aws_type.len) == 0)
        {
            err->status = 529;
        }

        return ngx_bedrock_error_render(r->pool, err,
                                        NGX_BEDROCK_DIALECT_ANTHROPIC, body);
    }

    if (ctx->dialect != NGX_HTTP_BEDROCK_DIALECT_AWS) {
        return ngx_bedrock_error_json(r->pool, err, body);
    }

    name = err->aws_type;

    if (name.len == 0) {
        switch (err->status) {

        case NGX_HTTP_FORBIDDEN:
            ngx_str_set(&name, "AccessDeniedException");
            break;

        case NGX_HTTP_NOT_FOUND:
            ngx_str_set(&name, "ResourceNotFoundException");
            break;

        case NGX_HTTP_TOO_MANY_REQUESTS:
            ngx_str_set(&name, "ThrottlingException");
            break;

        case NGX_HTTP_SERVICE_UNAVAILABLE:
            ngx_str_set(&name, "ServiceUnavailableException");
            break;

        case NGX_HTTP_GATEWAY_TIME_OUT:
            ngx_str_set(&name, "ModelTimeoutException");
            break;

        default:
            if (err->status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
                ngx_str_set(&name, "ValidationException");

            } else {
                ngx_str_set(&name, "InternalServerException");
            }
        }
    }

    if (ngx_http_bedrock_push_header(headers, "x-amzn-ErrorType", &name)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_bedrock_jw_init(&w, r->pool, 64 + err->message.len, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_bedrock_jw_obj(&w);
    ngx_bedrock_jw_key(&w, "message");
    ngx_bedrock_jw_str(&w, &err->message);
    ngx_bedrock_jw_obj_end(&w);

    return ngx_bedrock_jw_finish(&w, body);
}


static ngx_int_t
ngx_http_bedrock_refuse_method(ngx_http_request_t *r, char *allow)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return ngx_http_bedrock_send_url_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "Method %V is not allowed for %V.");
}


/*
 * An invalid_request_error about the request line: fmt names the method
 * and then the URI, as %V and %V, in fewer than 64 other bytes.
 */

static ngx_int_t
ngx_http_bedrock_send_url_error(ngx_http_request_t *r, ngx_uint_t status,
    char *code, char *fmt)
{
    ngx_bedrock_error_t  err;

    ngx_memzero(&err, sizeof(ngx_bedrock_error_t));

    err.status = status;
    ngx_str_set(&err.type, "invalid_request_error");
    err.code.data = (u_char *) code;
    err.code.len = ngx_strlen(code);

    err.message.data = ngx_pnalloc(r->pool, 64 + r->method_name.len
                                            + r->uri.len);
    if (err.message.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err.message.len = ngx_sprintf(err.message.data, fmt,
                                  &r->method_name, &r->uri)
                      - err.message.data;

    return ngx_http_bedrock_send_error(r, &err);
}


static ngx_http_bedrock_ctx_t *
ngx_http_bedrock_get_ctx(ngx_http_request_t *r)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_bedrock_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_bedrock_module);
    }

    return ctx;
}


/* OpenAI-shaped errors for the statuses nginx itself produces */

static void
ngx_http_bedrock_status_error(ngx_uint_t status, ngx_bedrock_error_t *err)
{
    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        ngx_bedrock_error_set(err, status, "invalid_request_error", NULL,
                              "The request could not be read.");
        break;

    case NGX_HTTP_UNAUTHORIZED:
        ngx_bedrock_error_set(err, status, "invalid_request_error",
                              "invalid_api_key",
                              "Incorrect or missing API key.");
        break;

    case NGX_HTTP_FORBIDDEN:
        ngx_bedrock_error_set(err, status, "permission_error",
                              "access_denied",
                              "You are not allowed to use this endpoint.");
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        ngx_bedrock_error_set(err, status, "invalid_request_error",
                              "request_timeout",
                              "The request body was not received in time.");
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        ngx_bedrock_error_set(err, status, "invalid_request_error",
                              "request_too_large",
                              "The request body is larger than this "
                              "gateway accepts (client_max_body_size).");
        break;

    case 429:
        ngx_bedrock_error_set(err, status, "rate_limit_error",
                              "rate_limit_exceeded",
                              "Rate limit reached; retry later.");
        break;

    case NGX_HTTP_BAD_GATEWAY:
        ngx_bedrock_error_set(err, status, "server_error", "upstream_error",
                              "Bedrock could not be reached or sent an "
                              "invalid response; the gateway's error log "
                              "has the details.");
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        ngx_bedrock_error_set(err, status, "server_error", NULL,
                              "The service is unavailable; retry later.");
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        ngx_bedrock_error_set(err, status, "server_error",
                              "upstream_timeout",
                              "Bedrock did not answer in time.");
        break;

    default:
        if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
            ngx_bedrock_error_set(err, status, "invalid_request_error", NULL,
                                  "The request was refused.");

        } else {
            ngx_bedrock_error_set(err, status, "server_error", NULL,
                                  "The gateway had an internal error.");
        }
    }
}


/*
 * Errors that nginx produces itself in a bedrock location (an upstream
 * that cannot be reached, limit_req, auth_request, a body too large...)
 * get an OpenAI-shaped JSON body instead of nginx's HTML page.
 */

static ngx_int_t
ngx_http_bedrock_header_filter(ngx_http_request_t *r)
{
    ngx_bedrock_error_t           err;
    ngx_http_bedrock_ctx_t       *ctx;
    ngx_http_bedrock_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    if (blcf->endpoint == NULL || r != r->main
        || r->headers_out.status < NGX_HTTP_BAD_REQUEST)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_bedrock_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->replied) {
        return ngx_http_next_header_filter(r);
    }

    ngx_http_bedrock_status_error(r->headers_out.status, &err);

    if (ngx_http_bedrock_render_error(r, ctx, &err, &r->headers_out.headers,
                                      &ctx->error_body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.status = err.status;

    /* limit_req's refusals: unless the configuration added one itself */

    if ((r->headers_out.status == NGX_HTTP_TOO_MANY_REQUESTS
         || r->headers_out.status == NGX_HTTP_SERVICE_UNAVAILABLE)
        && !ngx_http_bedrock_has_header(r, "retry-after")
        && ngx_http_bedrock_retry_after(&r->headers_out.headers, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->replied = 1;
    ctx->replace_body = 1;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    r->headers_out.content_length_n = ctx->error_body.len;
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_bedrock_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t               *b;
    ngx_uint_t               last;
    ngx_chain_t             *cl, out;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL || !ctx->replace_body) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        b->pos = b->last;
        b->file_pos = b->file_last;
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->replace_body = 0;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = b->pos + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_bedrock_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *s;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL || !ctx->has_usage) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%i",
                         *(ngx_int_t *) ((u_char *) &ctx->usage + data))
             - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


#if (NGX_DEBUG)

/* a client's or Bedrock's text, escaped for a debug line */

static ngx_str_t *
ngx_http_bedrock_debug_text(ngx_pool_t *pool, ngx_str_t *text)
{
    ngx_str_t  *out;

    static ngx_str_t  failed = ngx_string("(not printed)");

    out = ngx_palloc(pool, sizeof(ngx_str_t));

    if (out == NULL || ngx_bedrock_log_escape(pool, text, out) != NGX_OK) {
        return &failed;
    }

    return out;
}

#endif


/*
 * What a failed call counts as in bedrock_errors_total: Bedrock's error
 * type, kept in ctx->aws_type, else the gateway's own code
 */

static void
ngx_http_bedrock_note_error(ngx_http_bedrock_ctx_t *ctx,
    ngx_bedrock_error_t *err)
{
    ctx->error = err->code.len ? err->code : err->type;
}


/* bedrock_metrics: the zone's series, summed over the workers */

static ngx_int_t
ngx_http_bedrock_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_str_t                      text;
    ngx_chain_t                    out;
    ngx_http_bedrock_main_conf_t  *bmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bedrock_module);

    if (ngx_bedrock_metrics_text(bmcf->metrics, r->pool, &text) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = text.len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = text.data;
    b->last = text.data + text.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the log phase: a bedrock_pass location's request, counted */

static ngx_int_t
ngx_http_bedrock_log_handler(ngx_http_request_t *r)
{
    ngx_int_t                      ttft;
    ngx_time_t                    *tp;
    ngx_msec_int_t                 ms;
    ngx_http_bedrock_ctx_t        *ctx;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_bedrock_metrics_call_t     call;
    ngx_http_bedrock_loc_conf_t   *blcf;
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_bedrock_module);
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    /* an embeddings call's subrequests (log_subrequest on) are its parts */

    if (blcf->pass != 1 || r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx && ctx->limit_keys) {
        ngx_http_bedrock_token_charge(r, ctx, blcf);
    }

    if (bmcf->metrics == NULL) {
        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&call, sizeof(ngx_bedrock_metrics_call_t));

    call.location = clcf->name;
    call.status = r->headers_out.status;
    call.ttft = -1;

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    call.duration = ngx_max(ms, 0);

    if (ctx) {

        /* a name the map refused is no label: the client chose it */

        if (ctx->model_id.len) {
            call.model = ctx->model;
        }

        call.error = ctx->aws_type.len ? ctx->aws_type : ctx->error;

        if (ctx->has_usage) {
            call.has_usage = 1;
            call.tokens[0] = ctx->usage.input;
            call.tokens[1] = ctx->usage.output;
            call.tokens[2] = ctx->usage.cache_read;
            call.tokens[3] = ctx->usage.cache_write;
        }

        if (ctx->ttft.len) {
            ttft = ngx_atoi(ctx->ttft.data, ctx->ttft.len);
            call.ttft = (ttft == NGX_ERROR) ? -1 : ttft;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock metrics: status %ui, %M ms, %s",
                   call.status, call.duration,
                   call.error.len ? "an error" : "no error");

    if (ngx_bedrock_metrics_count(bmcf->metrics, r->pool, &call) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * bedrock_token_limit: a key over its rate in any of the location's zones
 * is refused with 429 in the client's dialect, and Bedrock is not called.
 * The keys are kept for the charge after the answer.
 */

static ngx_int_t
ngx_http_bedrock_token_limit(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_http_bedrock_loc_conf_t *blcf)
{
    u_char                     *p;
    time_t                      retry, wait;
    ngx_str_t                   value;
    ngx_uint_t                  i, over;
    ngx_shm_zone_t            **zones;
    ngx_bedrock_error_t         err;
    ngx_bedrock_limit_conf_t   *lc;

    if (blcf->token_limits == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    ctx->limit_keys = ngx_pcalloc(r->pool, blcf->token_limits->nelts
                                           * sizeof(ngx_str_t));
    if (ctx->limit_keys == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    zones = blcf->token_limits->elts;
    over = NGX_CONF_UNSET_UINT;
    wait = 0;

    for (i = 0; i < blcf->token_limits->nelts; i++) {
        lc = ngx_bedrock_limit_conf(zones[i]);

        if (ngx_http_complex_value(r, lc->key, &ctx->limit_keys[i])
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* an empty key is not limited */

        if (ctx->limit_keys[i].len == 0) {
            continue;
        }

        if (ngx_bedrock_limit_check(zones[i], &ctx->limit_keys[i], &retry)
            == NGX_BUSY
            && retry > wait)
        {
            over = i;
            wait = retry;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock token limits: %ui zones, %s",
                   blcf->token_limits->nelts,
                   (over == NGX_CONF_UNSET_UINT) ? "under" : "over");

    if (over == NGX_CONF_UNSET_UINT) {
        return NGX_DECLINED;
    }

    /* the key may be a secret: the log names the zone only */

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "bedrock: the key used its tokens in "
                  "bedrock_token_limit_zone \"%V\"; retry after %T s",
                  &zones[over]->shm.name, wait);

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%T", wait) - p;

    if (ngx_http_bedrock_retry_after(&r->headers_out.headers, &value)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_bedrock_error_set(&err, NGX_HTTP_TOO_MANY_REQUESTS,
                          "rate_limit_error", "rate_limit_exceeded",
                          "This key has used the tokens the gateway allows "
                          "it for now; retry after the time Retry-After "
                          "gives.");

    ctx->limit_keys = NULL;

    return ngx_http_bedrock_send_error(r, &err);
}


/* after the answer: its input and output tokens, charged to each key */

static void
ngx_http_bedrock_token_charge(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_http_bedrock_loc_conf_t *blcf)
{
    uint64_t          tokens;
    ngx_uint_t        i;
    ngx_shm_zone_t  **zones;

    if (!ctx->has_usage || blcf->token_limits == NULL) {
        return;
    }

    tokens = (uint64_t) ngx_max(ctx->usage.input, 0)
             + (uint64_t) ngx_max(ctx->usage.output, 0);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock token limits: %uL tokens charged", tokens);

    if (tokens == 0) {
        return;
    }

    zones = blcf->token_limits->elts;

    for (i = 0; i < blcf->token_limits->nelts; i++) {
        if (ctx->limit_keys[i].len) {
            ngx_bedrock_limit_charge(zones[i], &ctx->limit_keys[i], tokens);
        }
    }
}


static ngx_int_t
ngx_http_bedrock_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_bedrock_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_bedrock_main_conf_t  *bmcf;
#if (NGX_HTTP_SSL)
    ngx_str_t                      empty = ngx_string("");
#endif

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);

#if (NGX_HTTP_SSL)

    /* TLS for the credentials endpoints (STS): the system's CAs, verified */

    bmcf->ssl = ngx_http_bedrock_fetch_ssl(cf, &empty);
    if (bmcf->ssl == NULL) {
        return NGX_ERROR;
    }
#endif

    if (bmcf->metrics_served && bmcf->metrics == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"bedrock_metrics\" needs a \"bedrock_metrics_zone\"");
        return NGX_ERROR;
    }

    if (bmcf->metrics || bmcf->token_limits) {
        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_bedrock_log_handler;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_bedrock_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_bedrock_body_filter;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_bedrock_request_body_filter;

    return NGX_OK;
}


/*
 * NGX_HTTP_BEDROCK_BODY_MAX while the body is read, also where
 * client_max_body_size is 0 and the body is chunked: before the request
 * body save filter, so that no temporary file grows past it
 */

static ngx_int_t
ngx_http_bedrock_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t             *cl;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL) {
        return ngx_http_next_request_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        ctx->received += ngx_buf_size(cl->buf);
    }

    if (ctx->received > NGX_HTTP_BEDROCK_BODY_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "client sent a body larger than the %O bytes "
                      "the gateway translates",
                      (off_t) NGX_HTTP_BEDROCK_BODY_MAX);

        r->lingering_close = 1;

        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    return ngx_http_next_request_body_filter(r, in);
}


static ngx_int_t
ngx_http_bedrock_init_process(ngx_cycle_t *cycle)
{
    ngx_http_bedrock_main_conf_t  *bmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_bedrock_module);
    if (bmcf == NULL) {
        return NGX_OK;
    }

    bmcf->provider = ngx_bedrock_credentials_init(cycle, &bmcf->credentials,
#if (NGX_HTTP_SSL)
                                                  bmcf->ssl
#else
                                                  NULL
#endif
                                                  );
    if (bmcf->provider == NULL) {
        return NGX_ERROR;
    }

    bmcf->signer = ngx_palloc(cycle->pool, sizeof(ngx_bedrock_sigv4_signer_t));
    if (bmcf->signer == NULL) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_sigv4_signer_init(bmcf->signer) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "bedrock: OpenSSL has no SHA-256 or HMAC to sign with");
        bmcf->signer = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_bedrock_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_bedrock_module);

    if (bmcf && bmcf->provider) {
        ngx_bedrock_credentials_exit(bmcf->provider);
    }

    if (bmcf && bmcf->signer) {
        ngx_bedrock_sigv4_signer_free(bmcf->signer);
        bmcf->signer = NULL;
    }
}


static void *
ngx_http_bedrock_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

#if (NGX_HTTP_SSL)
    if (ngx_array_init(&bmcf->ssl_ctxs, cf->pool, 4,
                       sizeof(ngx_http_bedrock_ssl_ctx_t))
        != NGX_OK
        || ngx_array_init(&bmcf->fetch_ssl, cf->pool, 1,
                          sizeof(ngx_http_bedrock_ssl_ctx_t))
           != NGX_OK)
    {
        return NULL;
    }
#endif

    return bmcf;
}


static void *
ngx_http_bedrock_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_bedrock_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.ignore_headers = 0;
     *     conf->upstream.next_upstream = 0;
     *     conf->upstream.hide_headers_hash = { NULL, 0 };
     *     conf->endpoint = NULL;
     *     conf->pass_url = { 0, NULL };
     *     conf->region = { 0, NULL };
     *     conf->ssl_protocols = 0;
     *     conf->ssl_ciphers = { 0, NULL };
     *     conf->ssl_trusted_certificate = { 0, NULL };
     */

    conf->upstream.local = NGX_CONF_UNSET_PTR;
    conf->upstream.socket_keepalive = NGX_CONF_UNSET;
    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;
    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

#if (NGX_HTTP_SSL)
    conf->upstream.ssl_session_reuse = NGX_CONF_UNSET;
    conf->upstream.ssl_name = NGX_CONF_UNSET_PTR;
    conf->upstream.ssl_server_name = NGX_CONF_UNSET;
    conf->upstream.ssl_verify = NGX_CONF_UNSET;
    conf->ssl_verify_depth = NGX_CONF_UNSET_UINT;
#endif

    conf->pass = NGX_CONF_UNSET;
    conf->models = NGX_CONF_UNSET_PTR;
    conf->passthrough = NGX_CONF_UNSET;
    conf->native = NGX_CONF_UNSET;
    conf->betas = NGX_CONF_UNSET_PTR;
    conf->token_limits = NGX_CONF_UNSET_PTR;
    conf->guardrail = NGX_CONF_UNSET_PTR;
    conf->latency = NGX_CONF_UNSET_UINT;
    conf->max_response_size = NGX_CONF_UNSET_SIZE;
    conf->image_fetch = NGX_CONF_UNSET;
    conf->image_max_size = NGX_CONF_UNSET_SIZE;
    conf->image_timeout = NGX_CONF_UNSET_MSEC;
    conf->image_allow = NGX_CONF_UNSET_PTR;

    /* the hardcoded values */
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.send_lowat = 0;
    conf->upstream.bufs.num = 0;
    conf->upstream.busy_buffers_size = 0;
    conf->upstream.max_temp_file_size = 0;
    conf->upstream.temp_file_write_size = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;
    conf->upstream.force_ranges = 0;
    conf->upstream.pass_trailers = 0;
    conf->upstream.preserve_output = 1;

    ngx_str_set(&conf->upstream.module, "bedrock");

    return conf;
}


static char *
ngx_http_bedrock_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_bedrock_loc_conf_t *prev = parent;
    ngx_http_bedrock_loc_conf_t *conf = child;

    char                      *env;
    ngx_hash_init_t            hash;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_ptr_value(conf->upstream.local, prev->upstream.local,
                             NULL);
    ngx_conf_merge_value(conf->upstream.socket_keepalive,
                         prev->upstream.socket_keepalive, 0);
    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 0);
    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 10000);
    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 60000);
    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 300000);
    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                              prev->upstream.next_upstream_timeout, 0);
    ngx_conf_merge_size_value(conf->upstream.buffer_size,
                              prev->upstream.buffer_size,
                              (size_t) ngx_pagesize);
    ngx_conf_merge_size_value(conf->max_response_size,
                              prev->max_response_size, 8 * 1024 * 1024);

    /*
     * as in proxy: a POST that was sent is not repeated on another server
     * unless "non_idempotent" is given
     */

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                 prev->upstream.next_upstream,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_UPSTREAM_FT_ERROR
                                  |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    ngx_conf_merge_str_value(conf->region, prev->region, "");
    ngx_conf_merge_ptr_value(conf->models, prev->models, NULL);
    ngx_conf_merge_value(conf->passthrough, prev->passthrough, 0);
    ngx_conf_merge_value(conf->native, prev->native, 0);
    ngx_conf_merge_ptr_value(conf->betas, prev->betas, NULL);
    ngx_conf_merge_ptr_value(conf->token_limits, prev->token_limits, NULL);
    ngx_conf_merge_ptr_value(conf->guardrail, prev->guardrail, NULL);
    ngx_conf_merge_bitmask_value(conf->cache_points, prev->cache_points, 0);
    ngx_conf_merge_uint_value(conf->latency, prev->latency, 0);

    if ((conf->cache_points & NGX_HTTP_BEDROCK_CACHE_OFF)
        && conf->cache_points != NGX_HTTP_BEDROCK_CACHE_OFF)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bedrock_cache_point off\" takes no other "
                           "value");
        return NGX_CONF_ERROR;
    }

    if (conf->created == 0) {
        conf->created = ngx_time();
    }

    ngx_conf_merge_value(conf->image_fetch, prev->image_fetch, 0);

    /* Bedrock's own limit for an image: 3.75 MB */

    ngx_conf_merge_size_value(conf->image_max_size, prev->image_max_size,
                              3840 * 1024);
    ngx_conf_merge_msec_value(conf->image_timeout, prev->image_timeout,
                              10000);
    ngx_conf_merge_ptr_value(conf->image_allow, prev->image_allow, NULL);
#if (NGX_HTTP_SSL)
    ngx_conf_merge_str_value(conf->image_trusted_certificate,
                             prev->image_trusted_certificate, "");
#endif

#if (NGX_HTTP_SSL)

    ngx_conf_merge_value(conf->upstream.ssl_session_reuse,
                         prev->upstream.ssl_session_reuse, 1);
    ngx_conf_merge_bitmask_value(conf->ssl_protocols, prev->ssl_protocols,
                                 (NGX_CONF_BITMASK_SET|NGX_SSL_TLSv1_2
                                  |NGX_SSL_TLSv1_3));
    ngx_conf_merge_str_value(conf->ssl_ciphers, prev->ssl_ciphers,
                             "DEFAULT");
    ngx_conf_merge_ptr_value(conf->upstream.ssl_name,
                             prev->upstream.ssl_name, NULL);

    /* unlike proxy_pass: a gateway holding AWS credentials verifies */

    ngx_conf_merge_value(conf->upstream.ssl_server_name,
                         prev->upstream.ssl_server_name, 1);
    ngx_conf_merge_value(conf->upstream.ssl_verify,
                         prev->upstream.ssl_verify, 1);
    ngx_conf_merge_uint_value(conf->ssl_verify_depth,
                              prev->ssl_verify_depth, 9);
    ngx_conf_merge_str_value(conf->ssl_trusted_certificate,
                             prev->ssl_trusted_certificate, "");

#endif

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "bedrock_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
            &prev->upstream, ngx_http_bedrock_hide_headers, &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->image_fetch
        && ngx_http_bedrock_image_conf(cf, conf, clcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->pass == NGX_CONF_UNSET) {

        /* "if" blocks inside a bedrock location keep its endpoint */

        if (clcf->noname && prev->endpoint) {
            conf->endpoint = prev->endpoint;
            conf->upstream.upstream = prev->upstream.upstream;
#if (NGX_HTTP_SSL)
            conf->upstream.ssl = prev->upstream.ssl;
#endif
        }

        /*
         * a "limit_except" block has no handler of its own: the methods
         * it admits are served here, as grpc and proxy do
         */

        if (clcf->lmt_excpt && clcf->handler == NULL && conf->endpoint) {
            clcf->handler = ngx_http_bedrock_handler;
        }

        return NGX_CONF_OK;
    }

    if (conf->region.len == 0) {
        env = getenv("AWS_REGION");

        if (env == NULL || *env == '\0') {
            env = getenv("AWS_DEFAULT_REGION");
        }

        if (env == NULL || *env == '\0') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no AWS region for \"bedrock_pass\": set "
                               "\"bedrock_region\", or AWS_REGION or "
                               "AWS_DEFAULT_REGION in nginx's environment");
            return NGX_CONF_ERROR;
        }

        conf->region.len = ngx_strlen(env);
        conf->region.data = ngx_pnalloc(cf->pool, conf->region.len);
        if (conf->region.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(conf->region.data, env, conf->region.len);
    }

    if (ngx_http_bedrock_set_endpoint(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * bedrock_image_fetch on: the location's resolver (the image hosts are
 * resolved when a request names them, never at load time), the limits,
 * and a TLS context, verified, for each trust setting
 */

static ngx_int_t
ngx_http_bedrock_image_conf(ngx_conf_t *cf, ngx_http_bedrock_loc_conf_t *conf,
    ngx_http_core_loc_conf_t *clcf)
{
    ngx_bedrock_image_conf_t  *ic;

    if (conf->pass != NGX_CONF_UNSET
        && (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bedrock_image_fetch on\" needs a \"resolver\" "
                           "for the image URLs' hosts");
        return NGX_ERROR;
    }

    ic = ngx_pcalloc(cf->pool, sizeof(ngx_bedrock_image_conf_t));
    if (ic == NULL) {
        return NGX_ERROR;
    }

    ic->resolver = clcf->resolver;
    ic->resolver_timeout = clcf->resolver_timeout;
    ic->timeout = conf->image_timeout;
    ic->max = conf->image_max_size;
    ic->allow = conf->image_allow;

#if (NGX_HTTP_SSL)
    ic->ssl = ngx_http_bedrock_fetch_ssl(cf, &conf->image_trusted_certificate);
    if (ic->ssl == NULL) {
        return NGX_ERROR;
    }
#endif

    conf->image = ic;

    return NGX_OK;
}


#if (NGX_HTTP_SSL)

/*
 * A TLS client context for ngx_bedrock_fetch() (STS, images), one per
 * trust file, "" for the system's store, shared by whoever asks for it
 */

static ngx_ssl_t *
ngx_http_bedrock_fetch_ssl(ngx_conf_t *cf, ngx_str_t *trusted)
{
    ngx_str_t                      path;
    ngx_uint_t                     i;
    ngx_pool_cleanup_t            *cln;
    ngx_http_bedrock_ssl_ctx_t    *sc;
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);

    sc = bmcf->fetch_ssl.elts;

    for (i = 0; i < bmcf->fetch_ssl.nelts; i++) {
        if (sc[i].trusted_certificate.len == trusted->len
            && ngx_strncmp(sc[i].trusted_certificate.data, trusted->data,
                           trusted->len)
               == 0)
        {
            return sc[i].ssl;
        }
    }

    sc = ngx_array_push(&bmcf->fetch_ssl);
    if (sc == NULL) {
        return NULL;
    }

    ngx_memzero(sc, sizeof(ngx_http_bedrock_ssl_ctx_t));
    sc->trusted_certificate = *trusted;

    sc->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (sc->ssl == NULL) {
        return NULL;
    }

    sc->ssl->log = cf->log;

    if (ngx_ssl_create(sc->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(sc->ssl);
        return NULL;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = sc->ssl;

    if (trusted->len) {
        path = *trusted;

        if (ngx_ssl_trusted_certificate(cf, sc->ssl, &path, 9) != NGX_OK) {
            return NULL;
        }

    } else if (SSL_CTX_set_default_verify_paths(sc->ssl->ctx) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_default_verify_paths() failed");
        return NULL;
    }

    /*
     * the chain is checked whatever the verify mode, and its result read
     * after the handshake (src/ngx_http_bedrock_fetch.c), as proxy_pass
     * does, so that a refused certificate is an error for this image, not
     * a handshake failure logged as critical
     */

    return sc->ssl;
}

#endif


/* bedrock_image_fetch_allow 192.0.2.0/24 ...: fetched from all the same */

static char *
ngx_http_bedrock_image_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (blcf->image_allow != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    blcf->image_allow = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_cidr_t));
    if (blcf->image_allow == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(blcf->image_allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"%V\"",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


/*
 * The endpoint: an upstream{} block named after the URL's host (for
 * keepalive), else a name resolved at run time when a resolver is
 * configured, else a name resolved now, as proxy_pass does.
 */

static ngx_int_t
ngx_http_bedrock_set_endpoint(ngx_conf_t *cf,
    ngx_http_bedrock_loc_conf_t *conf)
{
    size_t                           add;
    u_char                          *p;
    in_port_t                        port;
    ngx_str_t                        url;
    ngx_url_t                        u;
    ngx_uint_t                       i, ssl;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_bedrock_endpoint_t     *ep;
    ngx_http_upstream_srv_conf_t    *uscf, **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    url = conf->pass_url;

    if (url.len == 0) {
        url.len = sizeof("https://bedrock-runtime..amazonaws.com") - 1
                  + conf->region.len;
        url.data = ngx_pnalloc(cf->pool, url.len);
        if (url.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(url.data, "https://bedrock-runtime.%V.amazonaws.com",
                    &conf->region);
    }

    if (ngx_strncasecmp(url.data, (u_char *) "https://", 8) == 0) {
        add = 8;
        port = 443;
        ssl = 1;

    } else if (ngx_strncasecmp(url.data, (u_char *) "http://", 7) == 0) {
        add = 7;
        port = 80;
        ssl = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL prefix in \"bedrock_pass %V\"", &url);
        return NGX_ERROR;
    }

#if !(NGX_HTTP_SSL)
    if (ssl) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "https in \"bedrock_pass\" needs nginx built "
                           "with the http_ssl_module");
        return NGX_ERROR;
    }
#endif

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.len = url.len - add;
    u.url.data = url.data + add;
    u.default_port = port;
    u.uri_part = 1;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"bedrock_pass %V\"", u.err, &url);
        }

        return NGX_ERROR;
    }

    if (u.uri.len && !(u.uri.len == 1 && u.uri.data[0] == '/')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bedrock_pass %V\" must not have a path", &url);
        return NGX_ERROR;
    }

    ep = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_endpoint_t));
    if (ep == NULL) {
        return NGX_ERROR;
    }

    ep->url = url;
    ep->ssl = ssl;
    ep->port = u.port;

    /* the Host header, which is signed: the port only if not the default */

    if (u.no_port || u.port == port) {
        ep->host = u.host;

    } else {
        ep->host.data = ngx_pnalloc(cf->pool, u.host.len + NGX_INT_T_LEN);
        if (ep->host.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(ep->host.data, "%V:%d", &u.host, (int) u.port);
        ep->host.len = p - ep->host.data;
    }

    conf->endpoint = ep;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        uscf = uscfp[i];

        if ((uscf->flags & NGX_HTTP_UPSTREAM_CREATE)
            && uscf->host.len == u.host.len
            && ngx_strncasecmp(uscf->host.data, u.host.data, u.host.len) == 0)
        {
            if (!u.no_port) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"bedrock_pass %V\" names upstream "
                                   "\"%V\" with a port", &url, &u.host);
                return NGX_ERROR;
            }

            conf->upstream.upstream = uscf;
            goto ssl;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (u.naddrs == 0 && clcf->resolver
        && clcf->resolver->connections.nelts)
    {
        ep->resolve = u.host;
        goto ssl;
    }

    /*
     * No resolver: the name is resolved once, now, as "proxy_pass" does.
     * The upstream is the location's own, not shared through the upstream
     * module's list: TLS sessions are cached per peer, and a session
     * verified against another location's trusted certificates must
     * never be resumed here.
     */

    uscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_srv_conf_t));
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    uscf->host = u.host;
    uscf->port = u.port;
    uscf->no_port = u.no_port;
    uscf->file_name = cf->conf_file->file.name.data;
    uscf->line = cf->conf_file->line;

    if (ngx_http_upstream_init_round_robin(cf, uscf) != NGX_OK) {
        return NGX_ERROR;
    }

    conf->upstream.upstream = uscf;

ssl:

#if (NGX_HTTP_SSL)
    if (ssl && ngx_http_bedrock_set_ssl(cf, conf) != NGX_OK) {
        return NGX_ERROR;
    }
#endif

    return NGX_OK;
}


#if (NGX_HTTP_SSL)

/*
 * One TLS context per set of bedrock_ssl_* settings, whichever locations
 * they come from: loading the CA store takes tens of milliseconds and
 * about a megabyte, and a configuration may have hundreds of bedrock
 * locations, one per model allowlist.  Sharing a context shares no TLS
 * session: nginx keeps client sessions with the upstream peers, which
 * are the location's own unless an upstream{} block is named.
 */

static ngx_int_t
ngx_http_bedrock_set_ssl(ngx_conf_t *cf, ngx_http_bedrock_loc_conf_t *blcf)
{
    ngx_uint_t                     i;
    ngx_pool_cleanup_t            *cln;
    ngx_http_bedrock_ssl_ctx_t    *sc;
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);

    sc = bmcf->ssl_ctxs.elts;

    for (i = 0; i < bmcf->ssl_ctxs.nelts; i++) {
        if (sc[i].protocols == blcf->ssl_protocols
            && sc[i].verify == blcf->upstream.ssl_verify
            && sc[i].verify_depth == blcf->ssl_verify_depth
            && sc[i].session_reuse == blcf->upstream.ssl_session_reuse
            && sc[i].ciphers.len == blcf->ssl_ciphers.len
            && ngx_strncmp(sc[i].ciphers.data, blcf->ssl_ciphers.data,
                           blcf->ssl_ciphers.len)
               == 0
            && sc[i].trusted_certificate.len
               == blcf->ssl_trusted_certificate.len
            && ngx_strncmp(sc[i].trusted_certificate.data,
                           blcf->ssl_trusted_certificate.data,
                           blcf->ssl_trusted_certificate.len)
               == 0)
        {
            blcf->upstream.ssl = sc[i].ssl;
            return NGX_OK;
        }
    }

    sc = ngx_array_push(&bmcf->ssl_ctxs);
    if (sc == NULL) {
        return NGX_ERROR;
    }

    /* the settings as given: ngx_conf_full_name() rewrites the path */

    sc->protocols = blcf->ssl_protocols;
    sc->ciphers = blcf->ssl_ciphers;
    sc->verify = blcf->upstream.ssl_verify;
    sc->verify_depth = blcf->ssl_verify_depth;
    sc->trusted_certificate = blcf->ssl_trusted_certificate;
    sc->session_reuse = blcf->upstream.ssl_session_reuse;

    sc->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (sc->ssl == NULL) {
        return NGX_ERROR;
    }

    sc->ssl->log = cf->log;

    if (ngx_ssl_create(sc->ssl, blcf->ssl_protocols, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(sc->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = sc->ssl;

    if (ngx_ssl_ciphers(cf, sc->ssl, &blcf->ssl_ciphers, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (blcf->upstream.ssl_verify) {

        if (ngx_ssl_trusted_certificate(cf, sc->ssl,
                                        &blcf->ssl_trusted_certificate,
                                        blcf->ssl_verify_depth)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* no bedrock_ssl_trusted_certificate: the system's CA store */

        if (blcf->ssl_trusted_certificate.len == 0
            && SSL_CTX_set_default_verify_paths(sc->ssl->ctx) != 1)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_CTX_set_default_verify_paths() failed");
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_client_session_cache(cf, sc->ssl,
                                     blcf->upstream.ssl_session_reuse)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    blcf->upstream.ssl = sc->ssl;

    return NGX_OK;
}

#endif


static char *
ngx_http_bedrock_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_bedrock_main_conf_t *bmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (bmcf->metrics) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    bmcf->metrics = ngx_bedrock_metrics_zone(cf, &value[1], size,
                                             &ngx_http_bedrock_module);
    if (bmcf->metrics == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);
    bmcf->metrics_served = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_bedrock_metrics_handler;

    return NGX_CONF_OK;
}


/* bedrock_token_limit_zone zone=NAME:SIZE key=VALUE rate=N/m */

static char *
ngx_http_bedrock_token_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_bedrock_main_conf_t *bmcf = conf;

    u_char                            *p;
    ssize_t                            size;
    ngx_int_t                          rate;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    ngx_bedrock_limit_conf_t           lc;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    ngx_memzero(&lc, sizeof(ngx_bedrock_limit_conf_t));
    ngx_str_null(&name);
    size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {

            cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
            if (cv == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &value[i];
            ccv.value->data += 4;
            ccv.value->len -= 4;
            ccv.complex_value = cv;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            lc.key = cv;
            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len > 2 && ngx_strncmp(s.data + s.len - 2, "/m", 2) == 0) {
                lc.period = 60000;

            } else if (s.len > 2
                       && ngx_strncmp(s.data + s.len - 2, "/s", 2) == 0)
            {
                lc.period = 1000;

            } else {
                goto invalid;
            }

            rate = ngx_atoi(s.data, s.len - 2);

            if (rate <= 0) {
                goto invalid;
            }

            lc.rate = (uint64_t) rate;
            continue;
        }

        goto invalid;
    }

    if (name.len == 0 || lc.key == NULL || lc.rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs zone=, key= and rate=",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_bedrock_limit_zone(cf, &name, size, &lc) == NULL) {
        return NGX_CONF_ERROR;
    }

    bmcf->token_limits = 1;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_bedrock_token_limit_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_shm_zone_t   *zone, **z;

    value = cf->args->elts;

    zone = ngx_bedrock_limit_ref(cf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (blcf->token_limits == NGX_CONF_UNSET_PTR) {
        blcf->token_limits = ngx_array_create(cf->pool, 1,
                                              sizeof(ngx_shm_zone_t *));
        if (blcf->token_limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    z = blcf->token_limits->elts;

    for (i = 0; i < blcf->token_limits->nelts; i++) {
        if (z[i] == zone) {
            return "is duplicate";
        }
    }

    z = ngx_array_push(blcf->token_limits);
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    *z = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->pass != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    blcf->pass = 1;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;
        blcf->pass_url = value[1];
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_bedrock_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_model_map(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                 *value;
    ngx_http_bedrock_model_t  *m;

    value = cf->args->elts;

    if (blcf->models == NGX_CONF_UNSET_PTR) {
        blcf->models = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_bedrock_model_t));
        if (blcf->models == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_bedrock_find_model(blcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate model alias \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_bedrock_model_id_valid(&value[2]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Bedrock model id \"%V\": letters, "
                           "digits and \"._:/-\" only", &value[2]);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(blcf->models);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    m->alias = value[1];
    m->id = value[2];
    m->claude = ngx_bedrock_messages_is_claude(&m->id);

    /* an application inference profile's ARN does not name its family */

    if (cf->args->nelts == 4) {
        if (value[3].len != 6
            || ngx_strncmp(value[3].data, "claude", 6) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" of "
                               "\"bedrock_model_map\": only \"claude\" may "
                               "follow the model id", &value[3]);
            return NGX_CONF_ERROR;
        }

        m->claude = 1;
    }

    m->escaped.len = ngx_bedrock_uri_escape_len(m->id.data, m->id.len, 0);
    m->escaped.data = ngx_pnalloc(cf->pool, m->escaped.len);
    if (m->escaped.data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_bedrock_uri_escape(m->escaped.data, m->id.data, m->id.len, 0);

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_anthropic_beta(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (blcf->betas != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    blcf->betas = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                   sizeof(ngx_str_t));
    if (blcf->betas == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(blcf->betas);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_guardrail(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_bedrock_guardrail_t  *g;

    if (blcf->guardrail != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (value[1].len == 3
            && ngx_strncmp(value[1].data, "off", 3) == 0)
        {
            blcf->guardrail = NULL;
            return NGX_CONF_OK;
        }

        return "needs a guardrail id and version, or \"off\"";
    }

    g = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_guardrail_t));
    if (g == NULL) {
        return NGX_CONF_ERROR;
    }

    g->id = value[1];
    g->version = value[2];

    for (i = 3; i < cf->args->nelts; i++) {

        if (value[i].len > 6 && ngx_strncmp(value[i].data, "trace=", 6) == 0
            && g->trace.len == 0)
        {
            g->trace.data = value[i].data + 6;
            g->trace.len = value[i].len - 6;

            if (ngx_strcmp(g->trace.data, "enabled") == 0
                || ngx_strcmp(g->trace.data, "disabled") == 0
                || ngx_strcmp(g->trace.data, "enabled_full") == 0)
            {
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid trace \"%V\": enabled, disabled or "
                               "enabled_full", &g->trace);
            return NGX_CONF_ERROR;
        }

        if (value[i].len > 7 && ngx_strncmp(value[i].data, "stream=", 7) == 0
            && g->stream_mode.len == 0)
        {
            g->stream_mode.data = value[i].data + 7;
            g->stream_mode.len = value[i].len - 7;

            if (ngx_strcmp(g->stream_mode.data, "sync") == 0
                || ngx_strcmp(g->stream_mode.data, "async") == 0)
            {
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid stream \"%V\": sync or async",
                               &g->stream_mode);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    blcf->guardrail = g;

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_main_conf_t *bmcf = conf;

    ngx_str_t   *value, *dst;
    ngx_uint_t   i, n;

    static struct {
        ngx_str_t    name;
        size_t       offset;
    } params[] = {
        { ngx_string("profile="),
          offsetof(ngx_bedrock_credentials_conf_t, profile) },
        { ngx_string("file="),
          offsetof(ngx_bedrock_credentials_conf_t, file) },
        { ngx_string("config="),
          offsetof(ngx_bedrock_credentials_conf_t, config) },
        { ngx_string("api_key_file="),
          offsetof(ngx_bedrock_credentials_conf_t, api_key_file) },
        { ngx_null_string, 0 }
    };

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (n = 0; params[n].name.len; n++) {
            if (value[i].len > params[n].name.len
                && ngx_strncmp(value[i].data, params[n].name.data,
                               params[n].name.len)
                   == 0)
            {
                break;
            }
        }

        if (params[n].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        dst = (ngx_str_t *) ((u_char *) &bmcf->credentials
                             + params[n].offset);

        if (dst->len) {
            return "is duplicate";
        }

        dst->data = value[i].data + params[n].name.len;
        dst->len = value[i].len - params[n].name.len;
    }

    if (bmcf->credentials.api_key_file.len
        && (bmcf->credentials.profile.len || bmcf->credentials.file.len
            || bmcf->credentials.config.len))
    {
        return "takes api_key_file= alone, or profile=, file= and config=";
    }

    return NGX_CONF_OK;
}
