
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_fuzz.h"


/*
 * The driver of the unit run: each argument is a file given to the
 * target once, as libFuzzer would; a crash or a sanitizer report ends the
 * process with a non-zero status
 */

int
main(int argc, char *argv[])
{
    int               i;
    u_char           *data;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    for (i = 1; i < argc; i++) {
        fd = ngx_open_file(argv[i], NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            (void) fprintf(stderr, "%s: cannot open\n", argv[i]);
            return 2;
        }

        if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
            return 2;
        }

        /* exactly the input's bytes, so that ASan sees any overread */

        data = malloc(ngx_file_size(&fi) ? ngx_file_size(&fi) : 1);
        if (data == NULL) {
            return 2;
        }

        n = read(fd, data, ngx_file_size(&fi));

        (void) ngx_close_file(fd);

        if (n != ngx_file_size(&fi)) {
            (void) fprintf(stderr, "%s: cannot read\n", argv[i]);
            free(data);
            return 2;
        }

        (void) LLVMFuzzerTestOneInput(data, (size_t) n);

        free(data);
    }

    return 0;
}
