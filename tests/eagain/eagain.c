
/*
 * EAGAIN and short I/O injection for nginx on Linux, as an LD_PRELOAD
 * library: the cheapest test of every NGX_AGAIN path.
 *
 * On non-blocking stream sockets (fstat() S_ISSOCK, SO_TYPE SOCK_STREAM,
 * O_NONBLOCK), every EAGAIN_SHIM_EVERY-th call per socket and direction
 * fails with EAGAIN, starting with the first one, and the others move at
 * most EAGAIN_SHIM_MAX bytes (for the first EAGAIN_SHIM_BYTES bytes, then
 * a varying number of them).  Files, pipes, UDP and blocking sockets are
 * left alone, and so is every program whose name does not start with
 * EAGAIN_SHIM_PROGRAM ("nginx").
 *
 * Wrapped: read, readv, recv, recvfrom, write, writev, send, sendto,
 * sendfile, sendfile64 and the _FORTIFY_SOURCE variants __read_chk,
 * __recv_chk and __recvfrom_chk: what nginx and OpenSSL's socket BIO call
 * on connections (strace: read, recvfrom, write, writev, sendto; sendfile
 * with "sendfile on").
 *
 * nginx runs epoll edge-triggered: after a fake EAGAIN, or after a short
 * transfer that makes nginx think the socket is drained (ngx_unix_recv()
 * clears rev->ready when it gets less than it asked for and EPOLLRDHUP is
 * in use), no new edge comes, since the data was there already.  So every
 * interference leaves the socket "owed" an event, and the next
 * epoll_wait() on the epoll instance the socket is registered with returns
 * at once with that event added (EPOLLIN or EPOLLOUT with the data of the
 * socket's last EPOLL_CTL_ADD/MOD), merged into a real event for the same
 * socket if there is one.  After a fake EAGAIN the event is true (the
 * call never reached the kernel); after a short transfer it may be
 * spurious (nothing more may have come yet), which nginx handles like any
 * spurious event: the next call gets a real EAGAIN.  openresty's
 * mockeagain does the same with poll(), which is level-triggered, by
 * answering EAGAIN only until the next poll() reports the socket; with
 * epoll, the shim has to make the report itself.
 *
 * Environment, read once at load time (nginx workers lose the
 * environment; the settings stay):
 *
 *   EAGAIN_SHIM_MODE     "rw" (default), "r" or "w": the directions to
 *                        interfere with
 *   EAGAIN_SHIM_EVERY    every n-th call fails with EAGAIN (default 2:
 *                        every other one); 0: never
 *   EAGAIN_SHIM_MAX      at most this many bytes per call (default 1);
 *                        0: no limit
 *   EAGAIN_SHIM_BYTES    the EAGAIN_SHIM_MAX limit holds for this many
 *                        bytes of a socket in each direction (default
 *                        65536; 0: for all of them); after them a call
 *                        moves at most 1 to 8192 bytes, varying, so that a
 *                        64 MB body does not take 64 M system calls
 *   EAGAIN_SHIM_PROGRAM  only in programs named so (default "nginx")
 *   EAGAIN_SHIM_VERBOSE  1: log every interference to stderr (nginx sends
 *                        stderr to its error log)
 *   EAGAIN_SHIM_STATS    a file to append one line of counts to at exit
 *
 * The state is per process and not thread-safe: nginx does socket I/O in
 * one thread per process.
 */


#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define SHIM_MAX_FD   65536
#define SHIM_MAX_IOV  64

#define SHIM_LATER_MAX  8192

#define SHIM_READ     0
#define SHIM_WRITE    1


typedef struct {
    unsigned long      calls[2];
    unsigned long      moved[2];
    uint32_t           seq[2];
    uint32_t           owed;
    uint32_t           events;
    epoll_data_t       data;
    int                epfd;
    unsigned           registered:1;
    unsigned           listed:1;
} shim_fd_t;


typedef ssize_t (*shim_read_pt)(int fd, void *buf, size_t len);
typedef ssize_t (*shim_readv_pt)(int fd, const struct iovec *iov, int n);
typedef ssize_t (*shim_recv_pt)(int fd, void *buf, size_t len, int flags);
typedef ssize_t (*shim_recvfrom_pt)(int fd, void *buf, size_t len,
    int flags, struct sockaddr *addr, socklen_t *addrlen);
typedef ssize_t (*shim_write_pt)(int fd, const void *buf, size_t len);
typedef ssize_t (*shim_writev_pt)(int fd, const struct iovec *iov, int n);
typedef ssize_t (*shim_send_pt)(int fd, const void *buf, size_t len,
    int flags);
typedef ssize_t (*shim_sendto_pt)(int fd, const void *buf, size_t len,
    int flags, const struct sockaddr *addr, socklen_t addrlen);
typedef ssize_t (*shim_sendfile_pt)(int out, int in, off_t *offset,
    size_t count);
typedef ssize_t (*shim_sendfile64_pt)(int out, int in, off64_t *offset,
    size_t count);
typedef ssize_t (*shim_read_chk_pt)(int fd, void *buf, size_t len,
    size_t buflen);
typedef ssize_t (*shim_recv_chk_pt)(int fd, void *buf, size_t len,
    size_t buflen, int flags);
typedef ssize_t (*shim_recvfrom_chk_pt)(int fd, void *buf, size_t len,
    size_t buflen, int flags, struct sockaddr *addr, socklen_t *addrlen);
typedef int (*shim_close_pt)(int fd);
typedef int (*shim_epoll_ctl_pt)(int epfd, int op, int fd,
    struct epoll_event *ev);
typedef int (*shim_epoll_wait_pt)(int epfd, struct epoll_event *events,
    int maxevents, int timeout);


static void shim_init(void) __attribute__((constructor));
static void shim_resolve(void);
static void shim_exit(void) __attribute__((destructor));
static void *shim_real(const char *name);
static int shim_target(int fd, int dir);
static int shim_inject(int fd, int dir, const char *func);
static size_t shim_limit(int fd, int dir, size_t len);
static void shim_done(int fd, int dir, ssize_t n, size_t asked,
    size_t len, const char *func);
static int shim_iov(int fd, int dir, const struct iovec *iov, int n,
    struct iovec *out, size_t *len, size_t *asked);
static void shim_owe(int fd, int dir);
static int shim_deliverable(int epfd);
static int shim_merge(int epfd, struct epoll_event *events, int n,
    int maxevents);
static void shim_forget(int fd);
static void shim_log(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


static shim_fd_t             shim_fds[SHIM_MAX_FD];
static int                   shim_owed[SHIM_MAX_FD];
static int                   shim_nowed;

static int                   shim_enabled;
static int                   shim_modes = (1 << SHIM_READ) | (1 << SHIM_WRITE);
static unsigned long         shim_every = 2;
static size_t                shim_max = 1;
static unsigned long         shim_bytes = 65536;
static int                   shim_verbose;
static const char           *shim_stats;

static unsigned long         shim_n_eagain[2];
static unsigned long         shim_n_short[2];
static unsigned long         shim_n_events;

static shim_read_pt          real_read;
static shim_readv_pt         real_readv;
static shim_recv_pt          real_recv;
static shim_recvfrom_pt      real_recvfrom;
static shim_write_pt         real_write;
static shim_writev_pt        real_writev;
static shim_send_pt          real_send;
static shim_sendto_pt        real_sendto;
static shim_sendfile_pt      real_sendfile;
static shim_sendfile64_pt    real_sendfile64;
static shim_read_chk_pt      real_read_chk;
static shim_recv_chk_pt      real_recv_chk;
static shim_recvfrom_chk_pt  real_recvfrom_chk;
static shim_close_pt         real_close;
static shim_epoll_ctl_pt     real_epoll_ctl;
static shim_epoll_wait_pt    real_epoll_wait;

static const uint32_t        shim_event[2] = { EPOLLIN, EPOLLOUT };


static void
shim_init(void)
{
    char        *p;
    const char  *name, *program;

    shim_resolve();

    program = getenv("EAGAIN_SHIM_PROGRAM");
    if (program == NULL || *program == '\0') {
        program = "nginx";
    }

    /* before nginx overwrites argv[0] with its process title */

    name = program_invocation_short_name;

    if (name == NULL || strncmp(name, program, strlen(program)) != 0) {
        return;
    }

    p = getenv("EAGAIN_SHIM_MODE");
    if (p != NULL && *p != '\0') {
        shim_modes = 0;

        if (strchr(p, 'r') != NULL || strchr(p, 'R') != NULL) {
            shim_modes |= 1 << SHIM_READ;
        }

        if (strchr(p, 'w') != NULL || strchr(p, 'W') != NULL) {
            shim_modes |= 1 << SHIM_WRITE;
        }
    }

    p = getenv("EAGAIN_SHIM_EVERY");
    if (p != NULL && *p != '\0') {
        shim_every = strtoul(p, NULL, 10);

        if (shim_every == 1) {
            /* EAGAIN on every call would never move a byte */
            shim_every = 2;
        }
    }

    p = getenv("EAGAIN_SHIM_MAX");
    if (p != NULL && *p != '\0') {
        shim_max = strtoul(p, NULL, 10);
    }

    p = getenv("EAGAIN_SHIM_BYTES");
    if (p != NULL && *p != '\0') {
        shim_bytes = strtoul(p, NULL, 10);
    }

    p = getenv("EAGAIN_SHIM_VERBOSE");
    shim_verbose = (p != NULL && *p != '\0' && *p != '0');

    shim_stats = getenv("EAGAIN_SHIM_STATS");
    if (shim_stats != NULL && *shim_stats == '\0') {
        shim_stats = NULL;
    }

    if (shim_stats != NULL) {
        /* the environment of a worker is gone by the time it exits */
        shim_stats = strdup(shim_stats);
    }

    shim_enabled = 1;

    shim_log("eagain-shim: pid %d: mode %s%s, EAGAIN every %lu, max %zu "
             "for %lu bytes", (int) getpid(), (shim_modes & 1) ? "r" : "",
             (shim_modes & 2) ? "w" : "", shim_every, shim_max, shim_bytes);
}


/*
 * The wrappers may run before the constructor (in the constructors of
 * other libraries): they resolve the real functions themselves then.
 */

static void
shim_resolve(void)
{
    if (real_epoll_wait != NULL) {
        return;
    }

    real_read = (shim_read_pt) shim_real("read");
    real_readv = (shim_readv_pt) shim_real("readv");
    real_recv = (shim_recv_pt) shim_real("recv");
    real_recvfrom = (shim_recvfrom_pt) shim_real("recvfrom");
    real_write = (shim_write_pt) shim_real("write");
    real_writev = (shim_writev_pt) shim_real("writev");
    real_send = (shim_send_pt) shim_real("send");
    real_sendto = (shim_sendto_pt) shim_real("sendto");
    real_sendfile = (shim_sendfile_pt) shim_real("sendfile");
    real_sendfile64 = (shim_sendfile64_pt) shim_real("sendfile64");
    real_read_chk = (shim_read_chk_pt) shim_real("__read_chk");
    real_recv_chk = (shim_recv_chk_pt) shim_real("__recv_chk");
    real_recvfrom_chk = (shim_recvfrom_chk_pt) shim_real("__recvfrom_chk");
    real_close = (shim_close_pt) shim_real("close");
    real_epoll_ctl = (shim_epoll_ctl_pt) shim_real("epoll_ctl");
    real_epoll_wait = (shim_epoll_wait_pt) shim_real("epoll_wait");
}


static void
shim_exit(void)
{
    int      fd;
    char     line[256];
    ssize_t  len;

    if (!shim_enabled || shim_stats == NULL) {
        return;
    }

    len = snprintf(line, sizeof(line),
                   "pid %d eagain_read %lu eagain_write %lu short_read %lu "
                   "short_write %lu events %lu\n",
                   (int) getpid(), shim_n_eagain[SHIM_READ],
                   shim_n_eagain[SHIM_WRITE], shim_n_short[SHIM_READ],
                   shim_n_short[SHIM_WRITE], shim_n_events);

    if (len <= 0 || (size_t) len >= sizeof(line)) {
        return;
    }

    fd = open(shim_stats, O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, 0666);
    if (fd == -1) {
        return;
    }

    (void) real_write(fd, line, len);
    (void) real_close(fd);
}


static void *
shim_real(const char *name)
{
    void  *f;

    f = dlsym(RTLD_NEXT, name);

    if (f == NULL && name[0] != '_') {
        fprintf(stderr, "eagain-shim: no %s() after the shim: %s\n",
                name, dlerror());
        abort();
    }

    return f;
}


static void
shim_log(const char *fmt, ...)
{
    char     line[512];
    size_t   n;
    va_list  args;

    if (!shim_verbose) {
        return;
    }

    va_start(args, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, args);
    va_end(args);

    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }

    line[n++] = '\n';

    (void) real_write(STDERR_FILENO, line, n);
}


/* whether the shim interferes with this call */

static int
shim_target(int fd, int dir)
{
    int          type, flags;
    socklen_t    len;
    struct stat  st;

    shim_resolve();

    if (!shim_enabled
        || !(shim_modes & (1 << dir))
        || fd < 0
        || fd >= SHIM_MAX_FD)
    {
        return 0;
    }

    if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
        return 0;
    }

    len = sizeof(int);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1
        || type != SOCK_STREAM)
    {
        return 0;
    }

    flags = fcntl(fd, F_GETFL);

    if (flags == -1 || !(flags & O_NONBLOCK)) {
        return 0;
    }

    return 1;
}


/* every shim_every-th call fails with EAGAIN, the first one included */

static int
shim_inject(int fd, int dir, const char *func)
{
    unsigned long  n;

    if (shim_every == 0) {
        return 0;
    }

    n = shim_fds[fd].calls[dir]++;

    if (n % shim_every != 0) {
        return 0;
    }

    shim_n_eagain[dir]++;
    shim_owe(fd, dir);

    shim_log("eagain-shim: %s(%d): EAGAIN", func, fd);

    errno = EAGAIN;
    return 1;
}


/*
 * The most a call may move: shim_max bytes for the first shim_bytes bytes
 * of a socket in a direction, then a size from a fixed pseudo-random
 * sequence between 1 and SHIM_LATER_MAX, so that large transfers still
 * split at varying places but finish in a reasonable time.
 */

static size_t
shim_limit(int fd, int dir, size_t len)
{
    size_t      max;
    shim_fd_t  *s;

    if (shim_max == 0) {
        return len;
    }

    s = &shim_fds[fd];

    if (shim_bytes == 0 || s->moved[dir] < shim_bytes) {
        max = shim_max;

    } else {
        s->seq[dir] = s->seq[dir] * 1103515245 + 12345;
        max = 1 + (s->seq[dir] >> 8) % SHIM_LATER_MAX;

        if (max < shim_max) {
            max = shim_max;
        }
    }

    return len > max ? max : len;
}


/*
 * After a call that moved "asked" of the "len" bytes the caller wanted:
 * when the shim cut it short, there may be more to move, and no edge will
 * come for it.
 */

static void
shim_done(int fd, int dir, ssize_t n, size_t asked, size_t len,
    const char *func)
{
    if (n > 0) {
        shim_fds[fd].moved[dir] += n;
    }

    if (n > 0 && (size_t) n == asked && asked < len) {
        shim_n_short[dir]++;
        shim_owe(fd, dir);

        shim_log("eagain-shim: %s(%d): %zd of %zu bytes", func, fd, n, len);
    }
}


/* the first bytes of an iovec array, up to shim_limit() of them */

static int
shim_iov(int fd, int dir, const struct iovec *iov, int n, struct iovec *out,
    size_t *len, size_t *asked)
{
    int     i, k;
    size_t  total, want, size;

    total = 0;

    for (i = 0; i < n; i++) {
        total += iov[i].iov_len;
    }

    *len = total;
    want = shim_limit(fd, dir, total);

    k = 0;
    size = 0;

    for (i = 0; i < n && size < want && k < SHIM_MAX_IOV; i++) {
        if (iov[i].iov_len == 0) {
            continue;
        }

        out[k].iov_base = iov[i].iov_base;
        out[k].iov_len = iov[i].iov_len;

        if (out[k].iov_len > want - size) {
            out[k].iov_len = want - size;
        }

        size += out[k].iov_len;
        k++;
    }

    *asked = size;

    return k;
}


static void
shim_owe(int fd, int dir)
{
    shim_fd_t  *s;

    s = &shim_fds[fd];
    s->owed |= shim_event[dir];

    if (!s->listed) {
        s->listed = 1;
        shim_owed[shim_nowed++] = fd;
    }
}


/* whether an owed event can be reported on this epoll instance now */

static int
shim_deliverable(int epfd)
{
    int         i;
    shim_fd_t  *s;

    for (i = 0; i < shim_nowed; i++) {
        s = &shim_fds[shim_owed[i]];

        if (s->registered && s->epfd == epfd && (s->owed & s->events)) {
            return 1;
        }
    }

    return 0;
}


static int
shim_merge(int epfd, struct epoll_event *events, int n, int maxevents)
{
    int         i, j, k, fd;
    uint32_t    bits;
    shim_fd_t  *s;

    k = 0;

    for (i = 0; i < shim_nowed; i++) {
        fd = shim_owed[i];
        s = &shim_fds[fd];

        bits = 0;

        if (s->registered && s->epfd == epfd) {
            bits = s->owed & s->events;
        }

        if (bits != 0) {

            /* into the real event of the socket, or as an event of its own */

            for (j = 0; j < n; j++) {
                if (events[j].data.u64 == s->data.u64) {
                    break;
                }
            }

            if (j < n) {
                events[j].events |= bits;

            } else if (n < maxevents) {
                events[n].events = bits;
                events[n].data = s->data;
                n++;

            } else {
                bits = 0;
            }

            if (bits != 0) {
                s->owed &= ~bits;
                shim_n_events++;

                shim_log("eagain-shim: epoll_wait():%s%s on fd %d",
                         (bits & EPOLLIN) ? " EPOLLIN" : "",
                         (bits & EPOLLOUT) ? " EPOLLOUT" : "", fd);
            }
        }

        if (s->owed == 0) {
            s->listed = 0;
            continue;
        }

        shim_owed[k++] = fd;
    }

    shim_nowed = k;

    return n;
}


static void
shim_forget(int fd)
{
    shim_fd_t  *s;

    if (fd < 0 || fd >= SHIM_MAX_FD) {
        return;
    }

    s = &shim_fds[fd];

    s->calls[SHIM_READ] = 0;
    s->calls[SHIM_WRITE] = 0;
    s->moved[SHIM_READ] = 0;
    s->moved[SHIM_WRITE] = 0;
    s->seq[SHIM_READ] = (uint32_t) fd;
    s->seq[SHIM_WRITE] = (uint32_t) fd;
    s->owed = 0;
    s->registered = 0;

    /* shim_merge() drops it from the owed list */
}


ssize_t
read(int fd, void *buf, size_t len)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_READ)) {
        return real_read(fd, buf, len);
    }

    if (shim_inject(fd, SHIM_READ, "read")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_READ, len);
    n = real_read(fd, buf, asked);
    shim_done(fd, SHIM_READ, n, asked, len, "read");

    return n;
}


ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_READ) || len > buflen) {
        return real_read_chk(fd, buf, len, buflen);
    }

    if (shim_inject(fd, SHIM_READ, "read")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_READ, len);
    n = real_read_chk(fd, buf, asked, buflen);
    shim_done(fd, SHIM_READ, n, asked, len, "read");

    return n;
}


ssize_t
readv(int fd, const struct iovec *iov, int iovcnt)
{
    int           k;
    size_t        len, asked;
    ssize_t       n;
    struct iovec  part[SHIM_MAX_IOV];

    if (!shim_target(fd, SHIM_READ) || iovcnt < 0) {
        return real_readv(fd, iov, iovcnt);
    }

    if (shim_inject(fd, SHIM_READ, "readv")) {
        return -1;
    }

    k = shim_iov(fd, SHIM_READ, iov, iovcnt, part, &len, &asked);
    if (k == 0) {
        return real_readv(fd, iov, iovcnt);
    }

    n = real_readv(fd, part, k);
    shim_done(fd, SHIM_READ, n, asked, len, "readv");

    return n;
}


ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_READ)) {
        return real_recv(fd, buf, len, flags);
    }

    if (shim_inject(fd, SHIM_READ, "recv")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_READ, len);
    n = real_recv(fd, buf, asked, flags);
    shim_done(fd, SHIM_READ, n, asked, len, "recv");

    return n;
}


ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_READ) || len > buflen) {
        return real_recv_chk(fd, buf, len, buflen, flags);
    }

    if (shim_inject(fd, SHIM_READ, "recv")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_READ, len);
    n = real_recv_chk(fd, buf, asked, buflen, flags);
    shim_done(fd, SHIM_READ, n, asked, len, "recv");

    return n;
}


ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
    socklen_t *addrlen)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_READ)) {
        return real_recvfrom(fd, buf, len, flags, addr, addrlen);
    }

    if (shim_inject(fd, SHIM_READ, "recvfrom")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_READ, len);
    n = real_recvfrom(fd, buf, asked, flags, addr, addrlen);
    shim_done(fd, SHIM_READ, n, asked, len, "recvfrom");

    return n;
}


ssize_t
__recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
    struct sockaddr *addr, socklen_t *addrlen)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_READ) || len > buflen) {
        return real_recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen);
    }

    if (shim_inject(fd, SHIM_READ, "recvfrom")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_READ, len);
    n = real_recvfrom_chk(fd, buf, asked, buflen, flags, addr, addrlen);
    shim_done(fd, SHIM_READ, n, asked, len, "recvfrom");

    return n;
}


ssize_t
write(int fd, const void *buf, size_t len)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_WRITE)) {
        return real_write(fd, buf, len);
    }

    if (shim_inject(fd, SHIM_WRITE, "write")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_WRITE, len);
    n = real_write(fd, buf, asked);
    shim_done(fd, SHIM_WRITE, n, asked, len, "write");

    return n;
}


ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
    int           k;
    size_t        len, asked;
    ssize_t       n;
    struct iovec  part[SHIM_MAX_IOV];

    if (!shim_target(fd, SHIM_WRITE) || iovcnt < 0) {
        return real_writev(fd, iov, iovcnt);
    }

    if (shim_inject(fd, SHIM_WRITE, "writev")) {
        return -1;
    }

    k = shim_iov(fd, SHIM_WRITE, iov, iovcnt, part, &len, &asked);
    if (k == 0) {
        return real_writev(fd, iov, iovcnt);
    }

    n = real_writev(fd, part, k);
    shim_done(fd, SHIM_WRITE, n, asked, len, "writev");

    return n;
}


ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_WRITE)) {
        return real_send(fd, buf, len, flags);
    }

    if (shim_inject(fd, SHIM_WRITE, "send")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_WRITE, len);
    n = real_send(fd, buf, asked, flags);
    shim_done(fd, SHIM_WRITE, n, asked, len, "send");

    return n;
}


ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *addr, socklen_t addrlen)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(fd, SHIM_WRITE)) {
        return real_sendto(fd, buf, len, flags, addr, addrlen);
    }

    if (shim_inject(fd, SHIM_WRITE, "sendto")) {
        return -1;
    }

    asked = shim_limit(fd, SHIM_WRITE, len);
    n = real_sendto(fd, buf, asked, flags, addr, addrlen);
    shim_done(fd, SHIM_WRITE, n, asked, len, "sendto");

    return n;
}


ssize_t
sendfile(int out, int in, off_t *offset, size_t count)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(out, SHIM_WRITE)) {
        return real_sendfile(out, in, offset, count);
    }

    if (shim_inject(out, SHIM_WRITE, "sendfile")) {
        return -1;
    }

    asked = shim_limit(out, SHIM_WRITE, count);
    n = real_sendfile(out, in, offset, asked);
    shim_done(out, SHIM_WRITE, n, asked, count, "sendfile");

    return n;
}


ssize_t
sendfile64(int out, int in, off64_t *offset, size_t count)
{
    size_t   asked;
    ssize_t  n;

    if (!shim_target(out, SHIM_WRITE)) {
        return real_sendfile64(out, in, offset, count);
    }

    if (shim_inject(out, SHIM_WRITE, "sendfile64")) {
        return -1;
    }

    asked = shim_limit(out, SHIM_WRITE, count);
    n = real_sendfile64(out, in, offset, asked);
    shim_done(out, SHIM_WRITE, n, asked, count, "sendfile64");

    return n;
}


int
close(int fd)
{
    shim_resolve();

    if (shim_enabled) {
        shim_forget(fd);
    }

    return real_close(fd);
}


int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int         rc;
    shim_fd_t  *s;

    shim_resolve();

    rc = real_epoll_ctl(epfd, op, fd, ev);

    if (rc == -1 || !shim_enabled || fd < 0 || fd >= SHIM_MAX_FD) {
        return rc;
    }

    s = &shim_fds[fd];

    switch (op) {

    case EPOLL_CTL_ADD:
    case EPOLL_CTL_MOD:
        s->registered = 1;
        s->epfd = epfd;
        s->events = ev->events;
        s->data = ev->data;
        break;

    case EPOLL_CTL_DEL:
        s->registered = 0;
        break;
    }

    return rc;
}


int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    int  n;

    shim_resolve();

    if (!shim_enabled || shim_nowed == 0) {
        return real_epoll_wait(epfd, events, maxevents, timeout);
    }

    if (shim_deliverable(epfd)) {
        timeout = 0;
    }

    n = real_epoll_wait(epfd, events, maxevents, timeout);

    if (n == -1) {
        return n;
    }

    return shim_merge(epfd, events, n, maxevents);
}
