/*
 * What a process costs, read from /proc/self: open file descriptors,
 * threads, resident memory and CPU time. Shared by the scale bench, the
 * load generator and the fd-budget test, so all three count the same way.
 * Each returns -1 when /proc cannot be read (the callers print or assert
 * that, never a made-up figure).
 */
#ifndef FLOE_BENCH_PROCSTAT_H
#define FLOE_BENCH_PROCSTAT_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* Entries in /proc/<pid>/fd, minus the directory handle used to list them. */
static inline long floe_procstat_fds(int pid)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	long n = 0;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	/* Our own listing holds one fd while it counts. */
	return pid > 0 ? n : n - 1;
}

/* A "Key:   value kB" line of /proc/<pid>/status (VmRSS, Threads). */
static inline long floe_procstat_status(int pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			if (sscanf(line + klen + 1, "%ld", &v) != 1)
				v = -1;
			break;
		}
	fclose(f);
	return v;
}

static inline long floe_procstat_rss_kib(int pid)
{
	return floe_procstat_status(pid, "VmRSS");
}

static inline long floe_procstat_threads(int pid)
{
	return floe_procstat_status(pid, "Threads");
}

/* User + system CPU of this process, all threads, in microseconds. */
static inline long long floe_procstat_cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

/* Context switches of all threads: a thread that sleeps and wakes costs
 * one each time, so over an idle window this counts wake-ups. */
static inline long long floe_procstat_wakeups(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (long long)ru.ru_nvcsw + ru.ru_nivcsw;
}

#endif
