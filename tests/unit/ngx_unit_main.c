
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"


/*
 * ngx_unit [vectors-dir]: runs every suite and ends with the line
 * "unit: N passed, N failed, N skipped"; exits 1 on any failure
 */

typedef struct {
    const char  *name;
    void       (*run)(void);
} ngx_unit_suite_t;


static ngx_unit_suite_t  ngx_unit_suites[] = {
    { "sigv4", ngx_unit_sigv4 },
    { "eventstream", ngx_unit_eventstream },
    { "stream", ngx_unit_stream },
    { "media", ngx_unit_media },
    { "hostile", ngx_unit_hostile },
    { "error", ngx_unit_error },
    { "credentials", ngx_unit_credentials },
    { "url", ngx_unit_url },
    { "writer", ngx_unit_writer },
    { NULL, NULL }
};


/* ngx_unit VECTORS [SUITE]: every suite, or the one named */

int
main(int argc, char *argv[])
{
    ngx_uint_t         ran;
    ngx_unit_suite_t  *s;

    ngx_unit_log = ngx_unit_init();

    if (argc > 1 && ngx_unit_is_dir(argv[1]) == NGX_OK) {
        ngx_unit_vectors = argv[1];

    } else {
        ngx_unit_print("vectors: %s is absent: the conformance cases that "
                       "need them are skipped\n",
                       argc > 1 ? argv[1] : "(none given)");
    }

    ran = 0;

    for (s = ngx_unit_suites; s->name; s++) {
        if (argc > 2 && ngx_strcmp(argv[2], s->name) != 0) {
            continue;
        }

        s->run();
        ran++;
    }

    if (ran == 0) {
        ngx_unit_print("unit: no suite \"%s\"; the suites:", argv[2]);

        for (s = ngx_unit_suites; s->name; s++) {
            ngx_unit_print(" %s", s->name);
        }

        ngx_unit_print("\n");

        return 2;
    }

    ngx_unit_print("unit: %ui passed, %ui failed, %ui skipped\n",
                   ngx_unit_counts.passed, ngx_unit_counts.failed,
                   ngx_unit_counts.skipped);

    return ngx_unit_counts.failed ? 1 : 0;
}
