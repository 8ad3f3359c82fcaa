
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

int
main(int argc, char *argv[])
{
    ngx_unit_log = ngx_unit_init();

    if (argc > 1 && ngx_unit_is_dir(argv[1]) == NGX_OK) {
        ngx_unit_vectors = argv[1];

    } else {
        ngx_unit_print("vectors: %s is absent: the conformance cases that "
                       "need them are skipped\n",
                       argc > 1 ? argv[1] : "(none given)");
    }

    ngx_unit_sigv4();
    ngx_unit_eventstream();
    ngx_unit_stream();
    ngx_unit_media();
    ngx_unit_hostile();
    ngx_unit_error();
    ngx_unit_credentials();
    ngx_unit_url();

    ngx_unit_print("unit: %ui passed, %ui failed, %ui skipped\n",
                   ngx_unit_counts.passed, ngx_unit_counts.failed,
                   ngx_unit_counts.skipped);

    return ngx_unit_counts.failed ? 1 : 0;
}
