/*
 * harness_ports.c - loopback ports for the servers a test starts, and a
 * check that a server listening on one is the process we started.
 *
 * criterion runs several tests at once, each in its own process, and a
 * port that is free when one test picks it may be picked by another
 * before either server binds it. So a port is reserved for the whole run
 * with a lock file per port (flock, held by the test process until it
 * exits), and only ports outside the kernel's ephemeral range are used:
 * that range serves every outgoing connection the tests open, which could
 * take a port between the pick and the bind.
 *
 * Whatever else holds a port (a program outside the suite), a server's
 * start is only trusted when the listening socket belongs to its pid
 * (h_port_listener_is), never because something answered on the port.
 */
#include "harness_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

/* Our span: the widest run of ports above 10000 the kernel does not hand
 * out for outgoing connections (20000..32767 with Linux's defaults). */
static void own_port_span(int *low, int *high)
{
    int eph_lo = 32768, eph_hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &eph_lo, &eph_hi) != 2)
            eph_lo = 32768, eph_hi = 60999;
        fclose(f);
    }
    int below = eph_lo - 10000, above = 65535 - eph_hi;
    if (below >= above && below >= 2000)
        *low = 10000, *high = eph_lo;
    else if (above >= 2000)
        *low = eph_hi + 1, *high = 65536;
    else /* the kernel uses nearly every port: the reservation still holds */
        *low = 20000, *high = 32768;
    if (*low == 10000 && *high > 20000)
        *low = 20000; /* stay clear of well-known services below 20000 */
}

/* True when port can be bound on 127.0.0.1 right now. */
static bool loopback_port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Take the run-wide lock of port; the descriptor stays open (and the lock
 * held) until this test process exits. */
static bool reserve_port(int port)
{
    char dir[64], path[96];
    snprintf(dir, sizeof dir, "/tmp/sb-it-ports.%u", (unsigned)getuid());
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        cr_assert_fail("mkdir %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/%d", dir, port);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return true;
    close(fd);
    return false;
}

int h_free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)h_now_ms();
    int low, high;
    own_port_span(&low, &high);
    for (int attempt = 0; attempt < 500; attempt++) {
        int port = low + (int)(rand_r(&seed) % (unsigned)(high - low));
        if (loopback_port_bindable(port) && reserve_port(port))
            return port;
    }
    cr_assert_fail("no free loopback port in %d..%d after 500 tries", low, high - 1);
    return -1;
}

int h_free_port_range(int n)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int base = h_free_port();
        if (base + n > 65535)
            continue;
        bool ok = true;
        for (int i = 1; i < n && ok; i++)
            ok = loopback_port_bindable(base + i) && reserve_port(base + i);
        if (ok)
            return base;
    }
    cr_assert_fail("no %d consecutive free loopback ports found in 100 attempts", n);
    return -1;
}

/* Inode of the TCP socket listening on port (IPv4 or IPv6), or 0. */
static unsigned long listening_inode(int port)
{
    static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    for (int t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        if (!f)
            continue;
        char line[512];
        unsigned long inode = 0;
        while (!inode && fgets(line, sizeof line, f)) {
            char local[64];
            unsigned state;
            unsigned long ino;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
            if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &state, &ino) != 3)
                continue;
            const char *colon = strrchr(local, ':');
            if (state == 0x0A /* LISTEN */ && colon && strtol(colon + 1, NULL, 16) == port)
                inode = ino;
        }
        fclose(f);
        if (inode)
            return inode;
    }
    return 0;
}

bool h_port_listener_is(int port, pid_t pid)
{
    unsigned long inode = listening_inode(port);
    if (!inode)
        return false;
    char dir[64], want[48];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char link[PATH_MAX], target[64];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return found;
}
