
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"


/*
 * Writes the eventstream target's seed corpus into the directory given:
 * ConverseStream bodies made of frames encoded here, each after the
 * target's 6 bytes (max, flags, read-size seed); a corrupted body has
 * flag 2, which keeps its checksums as they are.  Run by
 * "scripts/unit.sh --seeds"; the output is committed.
 */


typedef struct {
    char                        *message_type;
    char                        *type_header;   /* NULL: none */
    char                        *type;
    char                        *payload;
} ngx_fuzz_seed_event_t;


typedef struct {
    char                        *name;
    u_char                       header[6];
    ngx_fuzz_seed_event_t       *events;
    ngx_uint_t                   corrupt;       /* flip a payload byte */
    ngx_uint_t                   truncate;      /* drop the last bytes */
} ngx_fuzz_seed_t;


#define E(type, payload)  { "event", ":event-type", type, payload }


static ngx_fuzz_seed_event_t  ngx_fuzz_text[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
      "\"Hello\"}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
      "\", world \\u00e9\\n\"}}"),
    E("contentBlockStop", "{\"contentBlockIndex\":0}"),
    E("messageStop", "{\"stopReason\":\"end_turn\"}"),
    E("metadata", "{\"usage\":{\"inputTokens\":10,\"outputTokens\":5,"
      "\"totalTokens\":15},\"metrics\":{\"latencyMs\":120}}"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_tool[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
      "\"Let me check.\"}}"),
    E("contentBlockStop", "{\"contentBlockIndex\":0}"),
    E("contentBlockStart", "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":"
      "{\"toolUseId\":\"tooluse_abc\",\"name\":\"get_weather\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":"
      "{\"input\":\"\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":"
      "{\"input\":\"{\\\"city\\\": \"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":"
      "{\"input\":\"\\\"Paris\\\"}\"}}}"),
    E("contentBlockStop", "{\"contentBlockIndex\":1}"),
    E("contentBlockStart", "{\"contentBlockIndex\":2,\"start\":{\"toolUse\":"
      "{\"toolUseId\":\"tooluse_def\",\"name\":\"get_time\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":2,\"delta\":{\"toolUse\":"
      "{\"input\":\"{}\"}}}"),
    E("messageStop", "{\"stopReason\":\"tool_use\"}"),
    E("metadata", "{\"usage\":{\"inputTokens\":100,\"outputTokens\":20,"
      "\"totalTokens\":120,\"cacheReadInputTokens\":64,"
      "\"cacheWriteInputTokens\":0}}"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_reasoning[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":"
      "{\"reasoningContent\":{\"text\":\"Thinking...\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":"
      "{\"reasoningContent\":{\"signature\":\"c2lnbmF0dXJl\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":"
      "{\"reasoningContent\":{\"redactedContent\":\"cmVkYWN0ZWQ=\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":2,\"delta\":{\"text\":"
      "\"42\"},\"p\":\"abcdefghijklmnop\"}"),
    E("messageStop", "{\"stopReason\":\"max_tokens\"}"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_server_tool[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("contentBlockStart", "{\"contentBlockIndex\":0,\"start\":{\"toolUse\":"
      "{\"toolUseId\":\"t1\",\"name\":\"code\",\"type\":"
      "\"server_tool_use\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":"
      "{\"input\":\"{\\\"code\\\":\\\"1+1\\\"}\"}}}"),
    E("contentBlockStart", "{\"contentBlockIndex\":1,\"start\":"
      "{\"toolResult\":{\"toolUseId\":\"t1\"}}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":"
      "{\"toolResult\":[{\"text\":\"2\"}]}}"),
    E("messageStop", "{\"stopReason\":\"guardrail_intervened\"}"),
    E("metadata", "{\"usage\":{\"inputTokens\":1,\"outputTokens\":1,"
      "\"serverToolUsage\":{}},\"trace\":{\"guardrail\":{}}}"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_exception[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
      "\"Hi\"}}"),
    { "exception", ":exception-type", "throttlingException",
      "{\"message\":\"Too many requests, please wait.\"}" },
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_model_error[] = {
    { "exception", ":exception-type", "modelStreamErrorException",
      "{\"message\":\"Model error\",\"originalStatusCode\":500,"
      "\"originalMessage\":\"boom\"}" },
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_error[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    { "error", ":error-code", "InternalFailure", "" },
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_odd[] = {
    { "event", ":event-type", "initial-response", "{}" },
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("someFutureEvent", "{\"x\":[1,2,{\"y\":null}]}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":-1,\"delta\":{\"text\":"
      "1}}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":99,\"delta\":"
      "{\"toolUse\":{\"input\":\"x\"}}}"),
    E("messageStop", "{\"stopReason\":\"a_reason_from_the_future\"}"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_not_object[] = {
    E("messageStart", "[\"role\",\"assistant\"]"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_not_json[] = {
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":"),
    { NULL, NULL, NULL, NULL }
};


/* a hostile upstream: bad UTF-8, forged log lines, odd types, late events */

static ngx_fuzz_seed_event_t  ngx_fuzz_hostile[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
      "\"a\\udc00b\\ud800\xc0\xaf\xed\xa0\x80\"}}"),
    E("contentBlockStart", "{\"contentBlockIndex\":1,\"start\":"
      "{\"toolUse\":{\"toolUseId\":{\"x\":1},\"name\":42}}}"),
    E("messageStop", "{\"stopReason\":\"end_turn\"}"),
    E("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
      "\"after the stop\"}}"),
    E("metadata", "{\"usage\":{\"inputTokens\":9223372036854775807,"
      "\"cacheReadInputTokens\":9223372036854775807,"
      "\"outputTokens\":9223372036854775807}}"),
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_event_t  ngx_fuzz_forged[] = {
    E("messageStart", "{\"role\":\"assistant\"}"),
    { "exception", ":exception-type", "validationException\n2026/12/02 "
      "10:00:00 [emerg] 1#1: forged",
      "{\"message\":\"arn:aws:bedrock:us-east-1:123456789012:x is "
      "invalid\"}" },
    { NULL, NULL, NULL, NULL }
};


static ngx_fuzz_seed_t  ngx_fuzz_seeds[] = {
    { "hostile", { 7, 1, 0, 0, 0, 0 }, ngx_fuzz_hostile, 0, 0 },
    { "forged-exception", { 7, 0, 2, 0, 0, 0 }, ngx_fuzz_forged, 0, 0 },
    { "stop-then-truncated", { 7, 1, 0, 0, 0, 0 }, ngx_fuzz_text, 0, 10 },
    { "text-whole", { 7, 1, 0, 0, 0, 0 }, ngx_fuzz_text, 0, 0 },
    { "text-split", { 4, 0, 1, 2, 3, 4 }, ngx_fuzz_text, 0, 0 },
    { "text-small-max", { 1, 0, 9, 9, 9, 9 }, ngx_fuzz_text, 0, 0 },
    { "tool-use", { 5, 1, 7, 0, 0, 1 }, ngx_fuzz_tool, 0, 0 },
    { "tool-use-truncated", { 5, 0, 1, 1, 1, 1 }, ngx_fuzz_tool, 0, 9 },
    { "reasoning", { 6, 1, 0, 0, 0, 0 }, ngx_fuzz_reasoning, 0, 0 },
    { "server-tool", { 6, 1, 3, 3, 3, 3 }, ngx_fuzz_server_tool, 0, 0 },
    { "exception", { 7, 0, 0, 0, 0, 0 }, ngx_fuzz_exception, 0, 0 },
    { "model-error", { 3, 0, 5, 0, 0, 0 }, ngx_fuzz_model_error, 0, 0 },
    { "error", { 7, 0, 0, 0, 0, 0 }, ngx_fuzz_error, 0, 0 },
    { "odd-events", { 7, 1, 2, 0, 0, 0 }, ngx_fuzz_odd, 0, 0 },
    { "not-an-object", { 7, 0, 0, 0, 0, 0 }, ngx_fuzz_not_object, 0, 0 },
    { "not-json", { 7, 0, 0, 0, 0, 0 }, ngx_fuzz_not_json, 0, 0 },
    { "corrupted", { 7, 2, 8, 0, 0, 0 }, ngx_fuzz_text, 1, 0 },
    { NULL, { 0, 0, 0, 0, 0, 0 }, NULL, 0, 0 }
};


int
main(int argc, char *argv[])
{
    size_t                  len;
    u_char                 *p, *body;
    ngx_fd_t                fd;
    ngx_str_t               payload, frame;
    ngx_pool_t             *pool;
    ngx_uint_t              i, j;
    ngx_fuzz_seed_event_t  *e;

    if (argc != 2) {
        (void) fprintf(stderr, "usage: %s dir\n", argv[0]);
        return 2;
    }

    ngx_unit_log = ngx_unit_init();

    for (i = 0; ngx_fuzz_seeds[i].name; i++) {
        pool = ngx_unit_pool();

        body = ngx_pnalloc(pool, 64 * 1024);
        if (body == NULL) {
            return 1;
        }

        p = ngx_cpymem(body, ngx_fuzz_seeds[i].header, 6);

        for (j = 0; ngx_fuzz_seeds[i].events[j].message_type; j++) {
            e = &ngx_fuzz_seeds[i].events[j];

            payload.data = (u_char *) e->payload;
            payload.len = ngx_strlen(e->payload);

            if (ngx_unit_frame_event(pool, e->message_type, e->type_header,
                                     e->type, &payload, &frame)
                != NGX_OK)
            {
                return 1;
            }

            if (ngx_fuzz_seeds[i].corrupt && j == 1) {
                frame.data[frame.len - 6] ^= 0x20;
            }

            p = ngx_cpymem(p, frame.data, frame.len);
        }

        len = p - body - ngx_fuzz_seeds[i].truncate;

        fd = ngx_open_file(ngx_unit_path(pool, "%s/%s", argv[1],
                                         ngx_fuzz_seeds[i].name),
                           NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                           NGX_FILE_DEFAULT_ACCESS);
        if (fd == NGX_INVALID_FILE) {
            (void) fprintf(stderr, "%s: cannot write\n", argv[1]);
            return 1;
        }

        if (write(fd, body, len) != (ssize_t) len) {
            return 1;
        }

        (void) ngx_close_file(fd);

        ngx_destroy_pool(pool);
    }

    return 0;
}
