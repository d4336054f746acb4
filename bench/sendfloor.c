/*
 * sendfloor: what the kernel alone charges for a fan-out on this machine,
 * as a reference for the push daemon's CPU per delivery. It opens N TCP
 * connections over loopback. A child process keeps the receiving ends and
 * reads them in one epoll loop, as the benchmark's WebSocket client does.
 * The parent sends one LEN-byte buffer on each sending end with plain
 * send() and times its own CPU (user and system) and the wall clock.
 * On loopback the sender's send() also runs the receiving end's TCP
 * processing and wakes its reader, so this is the least CPU a server can
 * spend per delivery here, with no WebSocket framing and no event loop.
 *
 *   sendfloor N LEN ROUNDS
 *
 * Prints one line per round after the first (which warms the path):
 * "round CPU_NS_PER_SEND WALL_NS".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAUSE_US 300000

static void die(const char *what)
{
    fprintf(stderr, "sendfloor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long long cpu_ns(void)
{
    struct rusage usage;

    if (getrusage(RUSAGE_SELF, &usage) != 0)
        die("getrusage");
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000LL +
           (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000LL;
}

static long long wall_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* The receiving side: N connections read in one epoll loop until the
 * expected byte count has arrived or the parent closes the pipe. */
static void receive(const struct sockaddr_in *addr, int n, long long bytes,
                    int ready_fd)
{
    struct epoll_event events[256];
    char buf[65536];
    long long got = 0;
    int ep = epoll_create1(0);

    if (ep < 0)
        die("epoll_create1");
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN};
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0)
            die("socket");
        if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0)
            die("connect");
        ev.data.fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl");
    }
    if (write(ready_fd, "r", 1) != 1)
        die("write");
    while (got < bytes) {
        int count = epoll_wait(ep, events, 256, -1);

        for (int i = 0; i < count; i++) {
            ssize_t r = read(events[i].data.fd, buf, sizeof(buf));

            if (r > 0)
                got += r;
        }
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t addr_len = sizeof(addr);
    int n, len, rounds, listener, ready[2], one = 1, *fds;
    char *message, byte;
    pid_t child;

    if (argc != 4) {
        fprintf(stderr, "usage: sendfloor N LEN ROUNDS\n");
        return 2;
    }
    n = atoi(argv[1]);
    len = atoi(argv[2]);
    rounds = atoi(argv[3]);
    if (n <= 0 || len <= 0 || rounds < 2) {
        fprintf(stderr, "sendfloor: N and LEN must be positive, ROUNDS at least 2\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0)
        die("socket");
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(listener, 4096) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0)
        die("listen");
    if (pipe(ready) != 0)
        die("pipe");

    child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(listener);
        receive(&addr, n, (long long)n * len * rounds, ready[1]);
    }

    fds = calloc((size_t)n, sizeof(*fds));
    message = malloc((size_t)len);
    if (fds == NULL || message == NULL)
        die("malloc");
    memset(message, 'x', (size_t)len);
    for (int i = 0; i < n; i++) {
        fds[i] = accept(listener, NULL, NULL);
        if (fds[i] < 0)
            die("accept");
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (fcntl(fds[i], F_SETFL, O_NONBLOCK) != 0)
            die("fcntl");
    }
    if (read(ready[0], &byte, 1) != 1)
        die("read");
    usleep(PAUSE_US);

    for (int round = 0; round < rounds; round++) {
        long long cpu = cpu_ns(), start = wall_ns();

        for (int i = 0; i < n; i++) {
            if (send(fds[i], message, (size_t)len, MSG_NOSIGNAL) != len)
                die("send");
        }
        cpu = cpu_ns() - cpu;
        start = wall_ns() - start;
        if (round > 0)
            printf("%d %lld %lld\n", round, cpu / n, start);
        fflush(stdout);
        usleep(PAUSE_US);
    }
    waitpid(child, NULL, 0);
    return 0;
}
