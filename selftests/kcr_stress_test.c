// SPDX-License-Identifier: GPL-2.0
/*
 * Nothing an unprivileged user does through KCR may cost the rest of the
 * machine. An unprivileged process pinned to one CPU digests ever new
 * messages through AF_ALG as fast as it can, with the budget at its
 * minimum, so that nearly every store finds the budget full, evicts and is
 * dropped, and keys a hash socket again and again. Meanwhile the last CPU
 * idles, with every task that may move moved off it, as an isolated CPU
 * would be: once it is quiet, the function-call IPIs it receives during the
 * storm (the CAL line of /proc/interrupts) must be about as few with KCR
 * on as with KCR off, as they would not be if KCR emptied the per-CPU
 * caches by IPI whenever a store found no room or a key was replaced.
 *
 * Run as root on a kernel with CONFIG_KCR_SHA256, AF_ALG hash sockets and
 * at least two CPUs; skips otherwise.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/if_alg.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define AF_ALG_RESTRICT	"/proc/sys/crypto/af_alg_restrict"
#define STORM_SECONDS	3
#define MAX_IDLE_IPIS	8
#define UNPRIVILEGED	1000
#define MSG_LEN		2048

/* The CAL count of @cpu in /proc/interrupts, or -1. */
static long cal_ipis(int cpu)
{
	static char buf[65536];
	char *line, *p;
	long n = -1;

	if (kcr_read("/proc/interrupts", buf, sizeof(buf)) < 0)
		return -1;
	line = strstr(buf, "\n CAL:");
	if (!line)
		line = strstr(buf, "\nCAL:");
	if (!line)
		return -1;
	p = strchr(line, ':') + 1;
	for (int i = 0; i <= cpu; i++)
		n = strtol(p, &p, 10);
	return n;
}

static int alg_socket(const char *name, const char *key, int keylen)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "hash" };
	int fd = socket(AF_ALG, SOCK_SEQPACKET, 0);

	if (fd < 0)
		return -errno;
	strncpy((char *)sa.salg_name, name, sizeof(sa.salg_name) - 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (key && setsockopt(fd, SOL_ALG, ALG_SET_KEY, key, keylen))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Digest @len bytes of @msg on the request socket @op. */
static int digest(int op, const void *msg, size_t len)
{
	unsigned char out[32];

	return send(op, msg, len, 0) == (ssize_t)len &&
	       read(op, out, sizeof(out)) == sizeof(out) ? 0 : -1;
}

#define WQ_CPUMASK	"/sys/devices/virtual/workqueue/cpumask"

/*
 * Make @cpu as quiet as an isolated CPU: move every task that may move,
 * kernel threads included, and unbound work off it. Waking a task on
 * another CPU sends that CPU a function-call IPI, so otherwise any system
 * call of the storm could show up there. @on restores.
 */
static void isolate(int cpu, bool on, char *wq_mask, size_t size)
{
	cpu_set_t set;
	char path[300];
	DIR *procs, *tasks;
	struct dirent *p, *t;

	CPU_ZERO(&set);
	for (int i = 0; i < sysconf(_SC_NPROCESSORS_ONLN); i++)
		if (i != cpu || !on)
			CPU_SET(i, &set);
	procs = opendir("/proc");
	while (procs && (p = readdir(procs))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		tasks = opendir(path);
		while (tasks && (t = readdir(tasks)))
			if (t->d_name[0] != '.')
				sched_setaffinity(atoi(t->d_name), sizeof(set), &set);
		if (tasks)
			closedir(tasks);
	}
	if (procs)
		closedir(procs);
	if (on) {
		wq_mask[0] = '\0';
		if (kcr_read(WQ_CPUMASK, wq_mask, size) > 0) {
			char mask[32];

			snprintf(mask, sizeof(mask), "%lx",
				 ((1UL << sysconf(_SC_NPROCESSORS_ONLN)) - 1) &
				 ~(1UL << cpu));
			kcr_write(WQ_CPUMASK, mask);
		}
	} else if (wq_mask[0]) {
		kcr_write(WQ_CPUMASK, wq_mask);
	}
}

/*
 * Wait until @cpu receives at most one function-call IPI a second, for up
 * to 30 s: what a previous test left behind (network namespaces torn
 * down, static keys flipped) sends some. Return false if it never calms.
 */
static bool wait_quiet(int cpu)
{
	for (int i = 0; i < 30; i++) {
		long before = cal_ipis(cpu);

		sleep(1);
		if (cal_ipis(cpu) - before <= 1)
			return true;
	}
	return false;
}

/*
 * The storm: as an unprivileged user on @cpu, until killed. Request
 * sockets are kept open, so that the storm's own system calls disturb
 * other CPUs little: what KCR adds stands out.
 */
static int storm(int cpu)
{
	int sha, sha_op, hmac, hmac_op = -1;
	unsigned char *msg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    setgid(UNPRIVILEGED) || setuid(UNPRIVILEGED))
		return 1;
	/* A page: one-shot digests (data over two pages would be streamed). */
	msg = mmap(NULL, MSG_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (msg == MAP_FAILED)
		return 4;
	sha = alg_socket("sha256", NULL, 0);
	hmac = alg_socket("hmac(sha256)", "a key", 5);
	sha_op = sha < 0 ? -1 : accept(sha, NULL, 0);
	if (sha_op < 0)
		return 2;
	for (unsigned long n = 0;; n++) {
		memcpy(msg, &n, sizeof(n));
		if (digest(sha_op, msg, MSG_LEN))
			return 3;
		if (hmac < 0 || n % 16)
			continue;
		/* A new key, which retires the old one's results. */
		if (hmac_op >= 0)
			close(hmac_op);
		setsockopt(hmac, SOL_ALG, ALG_SET_KEY, &n, sizeof(n));
		hmac_op = accept(hmac, NULL, 0);
		if (hmac_op >= 0)
			digest(hmac_op, msg, MSG_LEN);
	}
}

FIXTURE(kcr_stress) {
	struct kcr_saved_config saved;
	char restrict_was[8];
	char wq_mask[64];
	int idle;
};

FIXTURE_SETUP(kcr_stress)
{
	const char *why = kcr_unavailable();
	int fd;

	self->restrict_was[0] = '\0';
	self->idle = -1;
	if (why)
		SKIP(return, "%s", why);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	if (sysconf(_SC_NPROCESSORS_ONLN) > 64)
		SKIP(return, "more CPUs than this test handles");
	if (cal_ipis(0) < 0)
		SKIP(return, "no CAL line in /proc/interrupts");
	fd = alg_socket("sha256", NULL, 0);
	if (fd < 0)
		SKIP(return, "no sha256 hash socket (%d)", fd);
	close(fd);
	if (kcr_read(AF_ALG_RESTRICT, self->restrict_was,
		     sizeof(self->restrict_was)) < 0)
		SKIP(return, "no %s", AF_ALG_RESTRICT);
	self->restrict_was[strcspn(self->restrict_was, "\n")] = '\0';
	ASSERT_EQ(0, kcr_write(AF_ALG_RESTRICT, "0"));
	ASSERT_EQ(0, kcr_serve_at_once(&self->saved));
	ASSERT_EQ(0, kcr_config_change(&self->saved, "budget", "65536"));
	self->idle = sysconf(_SC_NPROCESSORS_ONLN) - 1;
	isolate(self->idle, true, self->wq_mask, sizeof(self->wq_mask));
}

FIXTURE_TEARDOWN(kcr_stress)
{
	if (self->idle >= 0)
		isolate(self->idle, false, self->wq_mask, sizeof(self->wq_mask));
	kcr_config_restore(&self->saved);
	if (self->restrict_was[0])
		kcr_write(AF_ALG_RESTRICT, self->restrict_was);
}

/*
 * Run the storm on CPU 0 for STORM_SECONDS, once @cpu is quiet; return the
 * function-call IPIs @cpu got meanwhile, or -1.
 */
static long storm_ipis(int cpu)
{
	long before, after;
	int status;
	pid_t pid;

	if (!wait_quiet(cpu))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid)
		_exit(storm(0));
	usleep(200000);		/* let it start */
	before = cal_ipis(cpu);
	sleep(STORM_SECONDS);
	after = cal_ipis(cpu);
	kill(pid, SIGKILL);
	/* Still storming when killed, or the storm did not happen. */
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
		return -1;
	return after - before;
}

/*
 * The same storm with KCR off, then on: with KCR on, the idle CPU gets
 * hardly more IPIs than the storm's own system calls send it anyway.
 */
TEST_F(kcr_stress, store_storm_sends_no_ipis_to_an_idle_cpu)
{
	int idle = self->idle;
	long fails, evictions, off, on;

	ASSERT_EQ(0, kcr_config_set("enabled", "0"));
	off = storm_ipis(idle);
	ASSERT_EQ(0, kcr_config_set("enabled", "1"));
	fails = kcr_domain_stat("hash", "store_fails");
	evictions = kcr_domain_stat("hash", "evictions");
	on = storm_ipis(idle);
	if (off < 0 || on < 0)
		SKIP(return, "CPU %d never got quiet, or the storm stopped", idle);
	TH_LOG("CPU %d got %ld function-call IPIs in %d s with KCR on, %ld with it off",
	       idle, on, STORM_SECONDS, off);
	/* It was a storm: the budget was full and stores were dropped. */
	EXPECT_LT(fails + 100, kcr_domain_stat("hash", "store_fails"));
	EXPECT_LT(evictions + 100, kcr_domain_stat("hash", "evictions"));
	EXPECT_LE(on, off + MAX_IDLE_IPIS);
}

TEST_HARNESS_MAIN
