/*
 * sysinfo.h - what the generator reads about itself and the nodes.
 *
 * File descriptor limits (its own, raised to the hard limit; a node's, read
 * from /proc/<pid>/limits), a node's resident memory and CPU time from
 * /proc/<pid>/status and /proc/<pid>/stat, the generator's own CPU time
 * from getrusage, and free loopback ports for scripts that start nodes.
 */
#ifndef BENCH_SYSINFO_H
#define BENCH_SYSINFO_H

#include <stdint.h>
#include <sys/types.h>

typedef struct {
    long soft_before, soft, hard;
} fd_limits;

/* Raise RLIMIT_NOFILE's soft limit to the hard limit. */
void fd_limit_raise(fd_limits *out);

/* "Max open files" soft limit of a process, or -1. */
long proc_fd_limit(pid_t pid);
/* VmRSS in KiB, or -1. */
long proc_rss_kib(pid_t pid);
/* utime + stime in seconds, or -1. */
double proc_cpu_seconds(pid_t pid);
/* CPU seconds the whole machine spent busy (all cores, /proc/stat). */
double machine_busy_seconds(void);
/* User + system CPU seconds of this process. */
double self_cpu_seconds(void);
/* Peak RSS of this process in KiB. */
long self_max_rss_kib(void);

/* Print n distinct ports that were free on 127.0.0.1 a moment ago. */
int print_free_ports(int n);

#endif
