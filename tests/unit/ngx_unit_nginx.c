
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"


/*
 * The tests and the fuzz targets link nginx's core, event and os objects
 * without src/core/nginx.o and objs/ngx_modules.o: what those define, and
 * a cycle with a log for the few core functions that use ngx_cycle.
 */


ngx_module_t   ngx_core_module;
ngx_module_t  *ngx_modules[] = { NULL };
char          *ngx_module_names[] = { NULL };


char **
ngx_set_environment(ngx_cycle_t *cycle, ngx_uint_t *last)
{
    return NULL;
}


ngx_pid_t
ngx_exec_new_binary(ngx_cycle_t *cycle, char *const *argv)
{
    return NGX_INVALID_PID;
}


ngx_cpuset_t *
ngx_get_cpu_affinity(ngx_uint_t n)
{
    return NULL;
}


ngx_log_t *
ngx_unit_init(void)
{
    char                    *level;
    static ngx_log_t         log;
    static ngx_cycle_t       cycle;
    static ngx_open_file_t   file;

    if (log.file != NULL) {
        return &log;
    }

    ngx_time_init();

    file.fd = ngx_stderr;
    log.file = &file;
    log.log_level = NGX_LOG_NOTICE;

    level = getenv("NGX_UNIT_DEBUG");

    if (level != NULL && level[0] == '1') {
        log.log_level = NGX_LOG_DEBUG_ALL;
    }

    cycle.log = &log;
    ngx_cycle = &cycle;

    return &log;
}
