
/*
 * Self-test of eagain.so, run by scripts/eagain.sh as
 *
 *   LD_PRELOAD=eagain.so EAGAIN_SHIM_PROGRAM=eagain-selftest \
 *       EAGAIN_SHIM_EVERY=2 EAGAIN_SHIM_MAX=1 EAGAIN_SHIM_BYTES=4 \
 *       eagain-selftest
 *
 * On a non-blocking socket pair registered edge-triggered with epoll:
 * every other send() fails with EAGAIN and the others move one byte, a
 * file is not touched, and after the shim cuts a read short, epoll_wait()
 * reports the socket again although no new data came; once 4 bytes have
 * gone one way, calls move more than one byte.
 */


#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define check(cond)                                                          \
    if (!(cond)) {                                                           \
        fprintf(stderr, "eagain-selftest: line %d: %s\n", __LINE__, #cond); \
        exit(1);                                                             \
    }


int
main(void)
{
    int                 sv[2], sv2[2], ep, fd, i, n, more;
    char                buf[64], big[256];
    char                name[] = "/tmp/eagain-selftest.XXXXXX";
    ssize_t             rc;
    struct epoll_event  ev, events[4];

    check(socketpair(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK, 0, sv) == 0);

    /* writes: EAGAIN, 1 byte, EAGAIN, 1 byte */

    for (i = 0; i < 4; i++) {
        rc = send(sv[0], "hello", 5, 0);

        if (i % 2 == 0) {
            check(rc == -1 && errno == EAGAIN);

        } else {
            check(rc == 1);
        }
    }

    /* a file is left alone */

    fd = mkstemp(name);
    check(fd != -1);
    check(write(fd, "hello", 5) == 5);
    check(close(fd) == 0);
    check(unlink(name) == 0);

    /* reads, edge-triggered: the shim owes an event after each cut */

    ep = epoll_create1(0);
    check(ep != -1);

    ev.events = EPOLLIN|EPOLLET;
    ev.data.u64 = 42;
    check(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) == 0);

    /* the real edge for the 2 bytes sent above */

    n = epoll_wait(ep, events, 4, 1000);
    check(n == 1 && events[0].data.u64 == 42);

    rc = recv(sv[1], buf, sizeof(buf), 0);
    check(rc == -1 && errno == EAGAIN);

    /* no new data, yet the socket is reported again, at once */

    n = epoll_wait(ep, events, 4, 10000);
    check(n == 1 && events[0].data.u64 == 42
          && (events[0].events & EPOLLIN));

    rc = recv(sv[1], buf, sizeof(buf), 0);
    check(rc == 1 && buf[0] == 'h');

    n = epoll_wait(ep, events, 4, 10000);
    check(n == 1 && events[0].data.u64 == 42);

    rc = recv(sv[1], buf, sizeof(buf), 0);
    check(rc == -1 && errno == EAGAIN);

    n = epoll_wait(ep, events, 4, 10000);
    check(n == 1);

    rc = recv(sv[1], buf, sizeof(buf), 0);
    check(rc == 1 && buf[0] == 'h');

    n = epoll_wait(ep, events, 4, 10000);
    check(n == 1);

    rc = recv(sv[1], buf, sizeof(buf), 0);
    check(rc == -1 && errno == EAGAIN);

    n = epoll_wait(ep, events, 4, 10000);
    check(n == 1);

    /* drained for real now: a real EAGAIN, and no more events */

    rc = recv(sv[1], buf, sizeof(buf), 0);
    check(rc == -1 && errno == EAGAIN);

    n = epoll_wait(ep, events, 4, 100);
    check(n == 0);

    /* EAGAIN_SHIM_BYTES: one byte a call for the first 4, then more */

    check(socketpair(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK, 0, sv2) == 0);
    memset(big, 'x', sizeof(big));

    for (i = 0; i < 8; i++) {
        rc = send(sv2[0], big, sizeof(big), 0);

        if (i % 2 == 0) {
            check(rc == -1 && errno == EAGAIN);

        } else {
            check(rc == 1);
        }
    }

    more = 0;

    for (i = 0; i < 20 && !more; i++) {
        rc = send(sv2[0], big, sizeof(big), 0);
        check(rc == -1 || rc >= 1);
        more = (rc > 1);
    }

    check(more);

    printf("eagain-selftest: ok\n");

    return 0;
}
