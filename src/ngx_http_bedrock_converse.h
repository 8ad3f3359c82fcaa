
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#ifndef _NGX_HTTP_BEDROCK_CONVERSE_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CONVERSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_bedrock_json.h"
#include "ngx_http_bedrock_error.h"
#include "ngx_http_bedrock_eventstream.h"


/*
 * The Converse core that every client dialect's parser fills: a request's
 * turns of content blocks, its system texts and the tools its history
 * uses, and the writers of those parts of the Converse request.  No HTTP
 * request state.
 */


typedef enum {
    NGX_BEDROCK_BLOCK_TEXT = 0,
    NGX_BEDROCK_BLOCK_IMAGE,
    NGX_BEDROCK_BLOCK_TOOL_USE,
    NGX_BEDROCK_BLOCK_TOOL_RESULT,
    NGX_BEDROCK_BLOCK_REASONING,
    NGX_BEDROCK_BLOCK_REDACTED,
    NGX_BEDROCK_BLOCK_CACHE_POINT,
    NGX_BEDROCK_BLOCK_DOCUMENT
} ngx_bedrock_block_kind_e;


typedef struct {
    ngx_bedrock_block_kind_e  kind;
    ngx_str_t                 text;     /* text, image or document
                                           base64, result text, reasoning,
                                           redacted data */
    ngx_str_t                 format;   /* image or document format,
                                           result status, cache point ttl */
    ngx_str_t                 id;       /* toolUseId, reasoning signature */
    ngx_str_t                 name;     /* tool name, document name */
    ngx_bedrock_json_t       *input;    /* tool input, parsed */
    ngx_uint_t                fetch;    /* an image the gateway fetches:
                                           1 + its index in "images" */
} ngx_bedrock_block_t;


/*
 * An image the gateway fetches for the client (bedrock_image_fetch): its
 * URL, the client's name for the part, and the offsets in the Converse
 * body written where its format and its base64 bytes go
 */
typedef struct {
    ngx_str_t                 url;
    ngx_str_t                 param;
    size_t                    format_at;
    size_t                    bytes_at;

    /* set by whoever fetched it, for ngx_bedrock_converse_splice() */
    ngx_str_t                 format;
    ngx_str_t                 data;     /* base64 */
} ngx_bedrock_image_url_t;

/* Converse takes at most 20 images in a request */
#define NGX_BEDROCK_IMAGE_URLS_MAX  20

#define ngx_bedrock_stringify_(n)   #n
#define ngx_bedrock_stringify(n)    ngx_bedrock_stringify_(n)


typedef struct {
    ngx_uint_t                assistant;
    ngx_array_t               blocks;   /* of ngx_bedrock_block_t */
} ngx_bedrock_turn_t;


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 description;  /* empty: none */
    ngx_bedrock_json_t       *schema;   /* NULL: an object without
                                           properties */
    ngx_str_t                 cache_ttl;
    unsigned                  cache:1;  /* a cachePoint follows it */
    unsigned                  strict:1; /* toolSpec.strict */
} ngx_bedrock_tool_t;


typedef enum {
    NGX_BEDROCK_CHOICE_UNSET = 0,       /* Bedrock's default (auto) */
    NGX_BEDROCK_CHOICE_AUTO,
    NGX_BEDROCK_CHOICE_ANY,
    NGX_BEDROCK_CHOICE_TOOL             /* tool_name */
} ngx_bedrock_tool_choice_e;


typedef struct {
    ngx_pool_t               *pool;
    ngx_array_t               system;   /* of ngx_bedrock_block_t: text,
                                           cache points */
    ngx_array_t               turns;    /* of ngx_bedrock_turn_t */
    ngx_array_t               history_tools; /* of ngx_str_t: names used */
    ngx_bedrock_turn_t       *turn;     /* the last one */

    /* inferenceConfig: numbers as JSON text, data NULL: not set */
    ngx_str_t                 max_tokens;
    ngx_str_t                 temperature;
    ngx_str_t                 top_p;
    ngx_array_t               stop;     /* of ngx_str_t, none empty */

    /* outputConfig.textFormat: a JSON schema, as JSON text; NULL: none */
    ngx_str_t                 schema;
    ngx_str_t                 schema_name;
    ngx_str_t                 schema_description;

    /* additionalModelRequestFields for reasoning; 0: none */
    ngx_uint_t                thinking_budget;  /* Claude */
    char                     *effort;           /* Nova, gpt-oss */
    ngx_uint_t                effort_family;

    /* serviceTier.type, NULL: not sent; performanceConfig */
    char                     *service_tier;
    ngx_uint_t                latency_optimized;

    /* toolConfig: none with "none", the history's tools still written */
    ngx_array_t               tools;    /* of ngx_bedrock_tool_t */
    ngx_bedrock_tool_choice_e tool_choice;
    ngx_str_t                 tool_name;

    /* of ngx_bedrock_image_url_t, nalloc 0 until the first */
    ngx_array_t               images;
} ngx_bedrock_converse_t;


/* bedrock_cache_point: where cache points are added */
#define NGX_BEDROCK_CACHE_SYSTEM    0x01
#define NGX_BEDROCK_CACHE_TOOLS     0x02
#define NGX_BEDROCK_CACHE_MESSAGES  0x04

/* Bedrock takes at most this many cache points in one request */
#define NGX_BEDROCK_CACHE_MAX       4


/* what a location adds to every Converse request it sends */
typedef struct {
    ngx_uint_t                cache;    /* NGX_BEDROCK_CACHE_* */
    ngx_uint_t                latency_optimized;
    ngx_uint_t                image_fetch;  /* http(s) image URLs taken */
} ngx_bedrock_converse_conf_t;


/* bedrock_guardrail: empty id, none */
typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 version;
    ngx_str_t                 trace;        /* empty: not sent */
    ngx_str_t                 stream_mode;  /* empty: not sent */
} ngx_bedrock_guardrail_conf_t;


typedef struct {
    ngx_int_t                 input;
    ngx_int_t                 output;
    ngx_int_t                 cache_read;
    ngx_int_t                 cache_write;
} ngx_bedrock_usage_t;


typedef struct {
    ngx_str_t                 id;       /* toolUseId */
    ngx_str_t                 name;
    ngx_bedrock_json_t       *input;    /* NULL: none */
} ngx_bedrock_tool_call_t;


/* a Converse answer, read */
typedef struct {
    ngx_array_t               blocks;     /* of ngx_bedrock_block_t, in
                                             order: text, reasoning (id:
                                             signature), redacted, tool
                                             use */
    ngx_str_t                 text;       /* all text; data NULL: none */
    ngx_str_t                 reasoning;  /* all reasoning; NULL: none */
    ngx_array_t               calls;      /* of ngx_bedrock_tool_call_t */
    ngx_str_t                 stop_reason;
    ngx_bedrock_usage_t       usage;
} ngx_bedrock_answer_t;


/*
 * A ConverseStream frame decoded: each Bedrock event becomes at most one
 * of these, which a dialect's stream writer turns into its own events.
 */

typedef enum {
    NGX_BEDROCK_EVENT_NONE = 0,     /* nothing a client sees */
    NGX_BEDROCK_EVENT_START,        /* the first messageStart */
    NGX_BEDROCK_EVENT_TOOL_START,   /* a client tool call: id, name, tool */
    NGX_BEDROCK_EVENT_TEXT,         /* text */
    NGX_BEDROCK_EVENT_TOOL_INPUT,   /* a piece of its JSON input: tool */
    NGX_BEDROCK_EVENT_REASONING,    /* text and (or) signature */
    NGX_BEDROCK_EVENT_REDACTED,     /* redacted reasoning: text */
    NGX_BEDROCK_EVENT_BLOCK_STOP,
    NGX_BEDROCK_EVENT_STOP,         /* messageStop: see stop_reason */
    NGX_BEDROCK_EVENT_USAGE         /* metadata: see usage */
} ngx_bedrock_event_e;


typedef struct {
    ngx_bedrock_event_e       type;
    ngx_int_t                 block;    /* contentBlockIndex, -1: none */
    ngx_int_t                 tool;     /* client tool calls from 0 */
    ngx_str_t                 text;     /* data NULL: none */
    ngx_str_t                 signature;
    ngx_str_t                 id;
    ngx_str_t                 name;
} ngx_bedrock_event_t;


typedef struct {
    ngx_int_t                 block;
    ngx_int_t                 tool;     /* -1: a server-side tool */
} ngx_bedrock_events_block_t;


/* the state of one ConverseStream, shared by every dialect */
typedef struct {
    ngx_array_t               blocks;   /* of ngx_bedrock_events_block_t */
    ngx_uint_t                tools;
    ngx_bedrock_usage_t       usage;
    ngx_str_t                 stop_reason;
    u_char                    stop_reason_data[32];

    unsigned                  started:1;
    unsigned                  stopped:1;  /* messageStop arrived */
    unsigned                  has_usage:1;
} ngx_bedrock_events_t;


ngx_int_t ngx_bedrock_converse_init(ngx_bedrock_converse_t *conv,
    ngx_pool_t *pool, ngx_uint_t nturns);
ngx_pool_t *ngx_bedrock_converse_scratch(ngx_pool_t *temp);
ngx_bedrock_block_t *ngx_bedrock_converse_block(ngx_bedrock_converse_t *conv,
    ngx_uint_t assistant, ngx_bedrock_block_kind_e kind);
void ngx_bedrock_converse_messages(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w);
ngx_bedrock_block_t *ngx_bedrock_converse_system(
    ngx_bedrock_converse_t *conv, ngx_bedrock_block_kind_e kind);
void ngx_bedrock_converse_system_json(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w);
ngx_bedrock_tool_t *ngx_bedrock_converse_tool(ngx_bedrock_converse_t *conv,
    ngx_str_t *name);
ngx_int_t ngx_bedrock_converse_tool_use(ngx_bedrock_converse_t *conv,
    ngx_bedrock_json_opts_t *jo, ngx_pool_t *scratch, ngx_str_t *id,
    ngx_str_t *name, ngx_str_t *args, ngx_str_t *error);
void ngx_bedrock_converse_inference(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w);
ngx_int_t ngx_bedrock_converse_effort(ngx_bedrock_converse_t *conv,
    ngx_str_t *effort, ngx_str_t *id, ngx_uint_t claude);
void ngx_bedrock_converse_extra(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w);
ngx_bedrock_block_t *ngx_bedrock_converse_document(
    ngx_bedrock_converse_t *conv, ngx_str_t *format, ngx_str_t *data,
    ngx_str_t *name);
ngx_int_t ngx_bedrock_converse_service_tier(ngx_bedrock_converse_t *conv,
    ngx_str_t *tier);
ngx_int_t ngx_bedrock_converse_cache_control(ngx_bedrock_json_t *cc,
    ngx_str_t *ttl);
ngx_int_t ngx_bedrock_converse_image_url(ngx_bedrock_converse_t *conv,
    ngx_str_t *url, ngx_str_t *param, char **msg);
ngx_int_t ngx_bedrock_converse_images(ngx_bedrock_converse_t *conv,
    ngx_pool_t *pool, ngx_array_t **images);
ngx_int_t ngx_bedrock_converse_splice(ngx_pool_t *pool, ngx_str_t *body,
    ngx_array_t *images, ngx_str_t *out);
ngx_int_t ngx_bedrock_converse_conf(ngx_bedrock_converse_t *conv,
    ngx_bedrock_converse_conf_t *conf);
void ngx_bedrock_converse_tools(ngx_bedrock_converse_t *conv,
    ngx_bedrock_jw_t *w);
void ngx_bedrock_converse_guardrail(ngx_bedrock_guardrail_conf_t *g,
    ngx_uint_t stream, ngx_bedrock_jw_t *w);

ngx_int_t ngx_bedrock_converse_set_guardrail(ngx_pool_t *pool,
    ngx_pool_t *temp, u_char *data, size_t len,
    ngx_bedrock_guardrail_conf_t *g, ngx_uint_t stream, ngx_str_t *out);
ngx_int_t ngx_bedrock_converse_answer(ngx_pool_t *temp, u_char *data,
    size_t len, ngx_bedrock_answer_t *a);
void ngx_bedrock_usage(ngx_bedrock_json_t *usage, ngx_bedrock_usage_t *u);
ngx_int_t ngx_bedrock_sum(ngx_int_t a, ngx_int_t b);
ngx_int_t ngx_bedrock_events_init(ngx_bedrock_events_t *es,
    ngx_pool_t *pool);
ngx_int_t ngx_bedrock_events_next(ngx_bedrock_events_t *es,
    ngx_pool_t *scratch, ngx_bedrock_es_message_t *msg,
    ngx_bedrock_event_t *ev, ngx_bedrock_error_t *err);
ngx_int_t ngx_bedrock_events_frame(ngx_pool_t *scratch,
    ngx_bedrock_es_message_t *msg, ngx_bedrock_json_t **root,
    ngx_bedrock_error_t *err);

ngx_int_t ngx_bedrock_concat(ngx_pool_t *pool, ngx_array_t *parts,
    ngx_str_t *out);


#endif /* _NGX_HTTP_BEDROCK_CONVERSE_H_INCLUDED_ */
