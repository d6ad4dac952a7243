/*
 * sysinfo.c - limits, /proc readings and free ports (see sysinfo.h).
 *
 * /proc/<pid>/stat is parsed from the last ')' on, since the command name
 * in parentheses may itself hold spaces or parentheses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sysinfo.h"

void fd_limit_raise(fd_limits *out)
{
    struct rlimit rl;
    out->soft_before = out->soft = out->hard = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    out->soft_before = (long)rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    out->soft = rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
    out->hard = rl.rlim_max == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_max;
}

static FILE *open_proc(pid_t pid, const char *what)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    return fopen(path, "r");
}

long proc_fd_limit(pid_t pid)
{
    FILE *f = open_proc(pid, "limits");
    char line[256];
    long soft = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Max open files", 14) == 0) {
            soft = strtol(line + 14, NULL, 10);
            break;
        }
    }
    fclose(f);
    return soft;
}

long proc_rss_kib(pid_t pid)
{
    FILE *f = open_proc(pid, "status");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

double proc_cpu_seconds(pid_t pid)
{
    FILE *f = open_proc(pid, "stat");
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    if (!n)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* after ')': state is field 3; utime and stime are fields 14 and 15 */
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 14)
            utime = strtoull(tok, NULL, 10);
        if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            break;
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
}

double machine_busy_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = { 0 };
    int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                       &v[4], &v[5], &v[6], &v[7])
              : 0;
    if (f)
        fclose(f);
    if (n < 4)
        return -1;
    /* user nice system idle iowait irq softirq steal: busy is all but idle and iowait */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    long hz = sysconf(_SC_CLK_TCK);
    return (double)busy / (double)(hz > 0 ? hz : 100);
}

double self_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

long self_max_rss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* Ports are found by binding port 0 and kept bound until all are found,
 * so the n are distinct. */
int print_free_ports(int n)
{
    int *fds = calloc((size_t)n, sizeof(int));
    int rc = 0;
    if (!fds)
        return 1;
    for (int i = 0; i < n; i++) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
        socklen_t len = sizeof(sa);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0
            || getsockname(fds[i], (struct sockaddr *)&sa, &len) != 0) {
            perror("switchboard-bench: ports");
            rc = 1;
            n = i + 1;
            break;
        }
        printf("%d\n", ntohs(sa.sin_port));
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return rc;
}
