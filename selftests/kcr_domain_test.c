// SPDX-License-Identifier: GPL-2.0
/*
 * Security domains: KCR never serves a result to a principal other than
 * the one it was stored for, so nobody can tell by timing whether somebody
 * else computed the same thing. A principal is an address space.
 *
 * Two unprivileged users hash the same message through AF_ALG (the test
 * sets crypto.af_alg_restrict to 0 so that they may, and puts it back):
 * the second user's first digest is a miss, its second a hit. Another
 * process of the same user is a principal of its own too, and so is a
 * child sharing its parent's AF_ALG socket. The counters of kcr/stats
 * tell hits from misses; the tests run one process at a time.
 *
 * Run as root on a kernel with CONFIG_KCR_SHA256 and AF_ALG hash sockets;
 * skips otherwise.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_alg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define AF_ALG_RESTRICT	"/proc/sys/crypto/af_alg_restrict"
#define USER_A		1000
#define USER_B		1001

static const char message[] = "the same message, hashed by two principals";

/* A sha256 hash socket, or -errno. */
static int sha256_socket(void)
{
	struct sockaddr_alg sa = {
		.salg_family = AF_ALG, .salg_type = "hash", .salg_name = "sha256",
	};
	int fd = socket(AF_ALG, SOCK_SEQPACKET, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* One one-shot digest of message on a request socket of @tfm: 0 or -1. */
static int digest_once(int tfm)
{
	unsigned char out[32];
	int op = accept(tfm, NULL, 0), ret = -1;

	if (op < 0)
		return -1;
	if (send(op, message, sizeof(message), 0) == sizeof(message) &&
	    read(op, out, sizeof(out)) == sizeof(out))
		ret = 0;
	close(op);
	return ret;
}

/*
 * In a child running as @uid, open a sha256 socket and digest the message
 * @times times, one at a time, each when the parent writes a byte to @go;
 * a byte back on @done after each. Returns the child's pid.
 */
static pid_t digester(uid_t uid, int go[2], int done[2], int times)
{
	pid_t pid = fork();
	char c = 0;
	int tfm;

	if (pid)
		return pid;
	close(go[1]);
	close(done[0]);
	if (uid && (setgid(uid) || setuid(uid)))
		_exit(10);
	tfm = sha256_socket();
	if (tfm < 0)
		_exit(11);
	while (times--) {
		if (read(go[0], &c, 1) != 1 || digest_once(tfm))
			_exit(12);
		if (write(done[1], &c, 1) != 1)
			_exit(13);
	}
	_exit(0);
}

struct digester {
	pid_t pid;
	int go[2], done[2];
};

static int start_digester(struct digester *d, uid_t uid, int times)
{
	if (pipe(d->go) || pipe(d->done))
		return -1;
	d->pid = digester(uid, d->go, d->done, times);
	close(d->go[0]);
	close(d->done[1]);
	return d->pid < 0 ? -1 : 0;
}

/* Have @d digest once; return how many of its lookups hit (0 or 1). */
static long step(struct __test_metadata *_metadata, struct digester *d)
{
	long lookups = kcr_domain_stat("hash", "lookups"), hits = kcr_hits("hash");
	char c = 0;

	EXPECT_EQ(1, write(d->go[1], &c, 1));
	EXPECT_EQ(1, read(d->done[0], &c, 1));
	/* Exactly one lookup: nothing else hashes meanwhile. */
	EXPECT_EQ(lookups + 1, kcr_domain_stat("hash", "lookups"));
	return kcr_hits("hash") - hits;
}

static void finish(struct __test_metadata *_metadata, struct digester *d)
{
	int status;

	close(d->go[1]);
	close(d->done[0]);
	ASSERT_EQ(d->pid, waitpid(d->pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

FIXTURE(kcr_domain) {
	struct kcr_saved_config saved;
	char restrict_was[8];
};

FIXTURE_SETUP(kcr_domain)
{
	const char *why = kcr_unavailable();
	int fd;

	self->restrict_was[0] = '\0';
	if (why)
		SKIP(return, "%s", why);
	if (kcr_domain_stat("hash", "lookups") < 0)
		SKIP(return, "no KCR hash statistics");
	fd = sha256_socket();
	if (fd < 0)
		SKIP(return, "no sha256 hash socket (%d)", fd);
	close(fd);
	if (kcr_read(AF_ALG_RESTRICT, self->restrict_was,
		     sizeof(self->restrict_was)) < 0)
		SKIP(return, "no %s", AF_ALG_RESTRICT);
	self->restrict_was[strcspn(self->restrict_was, "\n")] = '\0';
	ASSERT_EQ(0, kcr_stay_on_cpu0());
	ASSERT_EQ(0, kcr_write(AF_ALG_RESTRICT, "0"));
	ASSERT_EQ(0, kcr_serve_at_once(&self->saved));
}

FIXTURE_TEARDOWN(kcr_domain)
{
	kcr_config_restore(&self->saved);
	if (self->restrict_was[0])
		kcr_write(AF_ALG_RESTRICT, self->restrict_was);
}

/*
 * User A hashes the message twice: a miss, then a hit. User B's first
 * digest of the same message is a miss, its second a hit.
 */
TEST_F(kcr_domain, two_users_never_share_a_digest)
{
	struct digester a, b;

	ASSERT_EQ(0, start_digester(&a, USER_A, 2));
	ASSERT_EQ(0, start_digester(&b, USER_B, 2));
	EXPECT_EQ(0, step(_metadata, &a));
	EXPECT_EQ(1, step(_metadata, &a));
	EXPECT_EQ(0, step(_metadata, &b));
	EXPECT_EQ(1, step(_metadata, &b));
	finish(_metadata, &a);
	finish(_metadata, &b);
}

/* Two processes of one user are two principals: they may be sandboxed. */
TEST_F(kcr_domain, two_processes_of_one_user_never_share_a_digest)
{
	struct digester a1, a2;

	ASSERT_EQ(0, start_digester(&a1, USER_A, 2));
	ASSERT_EQ(0, start_digester(&a2, USER_A, 1));
	EXPECT_EQ(0, step(_metadata, &a1));
	EXPECT_EQ(1, step(_metadata, &a1));
	EXPECT_EQ(0, step(_metadata, &a2));
	finish(_metadata, &a1);
	finish(_metadata, &a2);
}

/*
 * A process that goes takes its results with it: they are wiped when its
 * address space goes, not when they are evicted some day.
 */
TEST_F(kcr_domain, results_go_with_their_process)
{
	struct digester a;
	long entries;
	int i;

	usleep(100000);		/* what setting up flushed is freed by now */
	entries = kcr_stat("entries");
	ASSERT_EQ(0, start_digester(&a, USER_A, 2));
	EXPECT_EQ(0, step(_metadata, &a));
	EXPECT_EQ(1, step(_metadata, &a));
	EXPECT_EQ(entries + 1, kcr_stat("entries"));
	finish(_metadata, &a);
	/* Wiped when the mm went, freed after a grace period. */
	for (i = 0; i < 100 && kcr_stat("entries") != entries; i++)
		usleep(10000);
	EXPECT_EQ(entries, kcr_stat("entries"));
}

/*
 * A forked child shares its parent's AF_ALG socket, key and all, but not
 * its results.
 */
TEST_F(kcr_domain, a_shared_socket_does_not_share_results)
{
	long hits;
	int tfm, status;
	pid_t pid;

	tfm = sha256_socket();
	ASSERT_LE(0, tfm);
	ASSERT_EQ(0, digest_once(tfm));
	hits = kcr_hits("hash");
	ASSERT_EQ(0, digest_once(tfm));
	ASSERT_EQ(hits + 1, kcr_hits("hash"));
	hits = kcr_hits("hash");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(digest_once(tfm) ? 1 : 0);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(hits, kcr_hits("hash"));
	close(tfm);
}

TEST_HARNESS_MAIN
