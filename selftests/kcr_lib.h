/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the KCR selftests: finding KCR's files and reading and
 * writing them, setting KCR up to serve hits at once, and telling whether
 * memory is marked with madvise(MADV_KCR).
 */
#ifndef KCR_LIB_H
#define KCR_LIB_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* KCR's uapi, for C libraries that do not have it yet. */
#ifndef MADV_KCR
#define MADV_KCR	26
#endif
#ifndef MADV_NOKCR
#define MADV_NOKCR	27
#endif
#ifndef PR_SET_KCR
#define PR_SET_KCR	82
#endif
#ifndef PR_GET_KCR
#define PR_GET_KCR	83
#endif

#define KCR_PARAM_ENABLE	"/sys/module/kcr/parameters/enable"
#define KCR_DEBUGFS		"/sys/kernel/debug/kcr"
#define KCR_CONFIG		KCR_DEBUGFS "/config"
#define KCR_STATS		KCR_DEBUGFS "/stats"

/* True if the running kernel has KCR built in. */
static inline bool kcr_present(void)
{
	return access("/sys/module/kcr", F_OK) == 0;
}

/* Mount debugfs if KCR's directory is not visible yet. */
static inline bool kcr_debugfs_ready(void)
{
	if (access(KCR_DEBUGFS, F_OK) == 0)
		return true;
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	return access(KCR_DEBUGFS, F_OK) == 0;
}

/* Read a whole (small) file into buf; return its length or -errno. */
static inline int kcr_read(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	if (n < 0)
		return -errno;
	buf[total] = '\0';
	return total;
}

/* Write len bytes of s with one write(); return 0 or -errno. */
static inline int kcr_write_len(const char *path, const char *s, size_t len)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	return n == (ssize_t)len ? 0 : -EIO;
}

static inline int kcr_write(const char *path, const char *s)
{
	return kcr_write_len(path, s, strlen(s));
}

/*
 * Find "key<sep>" at the start of a line of text and return the value that
 * follows (up to the newline) in val; return false if there is no such line.
 */
static inline bool kcr_field(const char *text, const char *key, char sep,
			     char *val, size_t size)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == sep) {
			const char *v = p + klen + 1;
			size_t n = strcspn(v, "\n");

			while (*v == ' ' && n) {
				v++;
				n--;
			}
			if (n >= size)
				n = size - 1;
			memcpy(val, v, n);
			val[n] = '\0';
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* The value of a key=value line of kcr/config, or "" if it is missing. */
static inline const char *kcr_config_get(const char *key)
{
	static char buf[4096], val[64];

	val[0] = '\0';
	if (kcr_read(KCR_CONFIG, buf, sizeof(buf)) >= 0)
		kcr_field(buf, key, '=', val, sizeof(val));
	return val;
}

/* A "name: N" counter of kcr/stats, or -1 if it is missing. */
static inline long kcr_stat(const char *name)
{
	static char buf[16384];
	char val[32];

	if (kcr_read(KCR_STATS, buf, sizeof(buf)) < 0 ||
	    !kcr_field(buf, name, ':', val, sizeof(val)))
		return -1;
	return atol(val);
}

/* Counter @stat ("lookups", ...) of @domain ("usercopy", ...), or -1. */
static inline long kcr_domain_stat(const char *domain, const char *stat)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.%s", domain, stat);
	return kcr_stat(name);
}

/* Hits of @domain, in either tier of the cache. */
static inline long kcr_hits(const char *domain)
{
	return kcr_domain_stat(domain, "l2_hits") +
	       kcr_domain_stat(domain, "l3_hits");
}

/* Write "key=value" to kcr/config; return 0 or -errno. */
static inline int kcr_config_set(const char *key, const char *value)
{
	char line[96];

	snprintf(line, sizeof(line), "%s=%s", key, value);
	return kcr_write(KCR_CONFIG, line);
}

#define KCR_SAVED_MAX	8

/* Tunables a test changed, and their values before, to put back after. */
struct kcr_saved_config {
	char key[KCR_SAVED_MAX][16];
	char val[KCR_SAVED_MAX][16];
	int nr;
};

/* Remember the value of @key in @saved, then set it to @val. */
static inline int kcr_config_change(struct kcr_saved_config *saved,
				    const char *key, const char *val)
{
	if (saved->nr == KCR_SAVED_MAX)
		return -ENOSPC;
	snprintf(saved->key[saved->nr], sizeof(saved->key[0]), "%s", key);
	snprintf(saved->val[saved->nr], sizeof(saved->val[0]), "%s",
		 kcr_config_get(key));
	saved->nr++;
	return kcr_config_set(key, val);
}

/* Put back what kcr_config_change() changed, last change first. */
static inline void kcr_config_restore(struct kcr_saved_config *saved)
{
	while (saved->nr > 0) {
		saved->nr--;
		kcr_config_set(saved->key[saved->nr], saved->val[saved->nr]);
	}
}

/*
 * Make KCR serve hits at once, for tests about what is served: KCR on, the
 * adaptive controller off (it switches domains that do not pay off),
 * classes trusted after one consistent recomputation and verified once in
 * 2^30 hits after that, and an empty cache. kcr_config_restore() undoes
 * it; so does a failure here. Return 0 or -errno.
 */
static inline int kcr_serve_at_once(struct kcr_saved_config *saved)
{
	int err = kcr_config_change(saved, "enabled", "1") ?:
		  kcr_config_change(saved, "control", "0") ?:
		  kcr_config_change(saved, "learn_window", "1") ?:
		  kcr_config_change(saved, "verify_shift", "30") ?:
		  kcr_config_set("flush", "all");

	if (err)
		kcr_config_restore(saved);
	return err;
}

/*
 * Whether the VMA that holds @addr is marked with madvise(MADV_KCR), as
 * the "kc" of its VmFlags in /proc/self/smaps shows: 1 or 0, or -1 if
 * there is no smaps (CONFIG_PROC_PAGE_MONITOR=n) or no such VMA.
 */
static inline int kcr_smaps_marked(const void *addr)
{
	unsigned long a = (unsigned long)addr, start, end;
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in_vma = false;
	char line[512];
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in_vma = start <= a && a < end;
		} else if (in_vma && !strncmp(line, "VmFlags:", 8)) {
			ret = strstr(line, " kc ") || strstr(line, " kc\n");
			break;
		}
	}
	fclose(f);
	return ret;
}

/*
 * Keep the calling process, and the processes it creates, on CPU 0: the
 * cache is per NUMA node, so two processes on different nodes would miss
 * each other's results whether or not KCR keeps them apart, and a test of
 * that could not fail. Return 0 or -errno.
 */
static inline int kcr_stay_on_cpu0(void)
{
	unsigned long mask = 1;

	return syscall(SYS_sched_setaffinity, 0, sizeof(mask), &mask) ? -errno : 0;
}

/*
 * Why the KCR tests cannot run here (not root, no KCR, no debugfs), or
 * NULL if they can. Mounts debugfs if needed.
 */
static inline const char *kcr_unavailable(void)
{
	if (!kcr_present())
		return "KCR is not built into this kernel";
	if (geteuid())
		return "must be run as root";
	if (!kcr_debugfs_ready())
		return "no " KCR_DEBUGFS;
	return NULL;
}

#endif /* KCR_LIB_H */
