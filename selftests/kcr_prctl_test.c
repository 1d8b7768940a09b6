// SPDX-License-Identifier: GPL-2.0
/*
 * prctl(PR_SET_KCR) and prctl(PR_GET_KCR), the per-thread switch that keeps
 * KCR out of a task's computations: on by default, switched off and on
 * again, bad arguments rejected with EINVAL and the setting unchanged, set
 * for the calling thread only, inherited by fork() and new threads, kept
 * across execve().
 *
 * What an opted-out task is served is tested in kcr_user_test.
 *
 * Run on a kernel with CONFIG_KCR=y; skips otherwise.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

/* argv[1] that makes this program exit with what PR_GET_KCR returns. */
#define EXIT_WITH_KCR	"--exit-with-pr-get-kcr"

static int get_kcr(void)
{
	return prctl(PR_GET_KCR, 0, 0, 0, 0);
}

/* What PR_GET_KCR returns in a fork() child, or -1. */
static int get_kcr_in_child(void)
{
	int status;
	pid_t pid = fork();

	if (!pid)
		_exit(get_kcr());
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* What PR_GET_KCR returns in this program execve()d by a child, or -1. */
static int get_kcr_after_exec(void)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		execl("/proc/self/exe", "kcr_prctl_test", EXIT_WITH_KCR, NULL);
		_exit(100);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void *get_kcr_in_thread(void *arg)
{
	return (void *)(long)get_kcr();
}

static void *opt_out_in_thread(void *arg)
{
	if (prctl(PR_SET_KCR, 0, 0, 0, 0))
		return (void *)-1L;
	return (void *)(long)get_kcr();
}

/* Run @fn in a new thread; return what it returns, or -1. */
static long in_thread(void *(*fn)(void *))
{
	pthread_t t;
	void *ret;

	if (pthread_create(&t, NULL, fn, NULL) || pthread_join(t, &ret))
		return -1;
	return (long)ret;
}

FIXTURE(kcr_prctl) {
};

FIXTURE_SETUP(kcr_prctl)
{
	if (!kcr_present())
		SKIP(return, "KCR is not built into this kernel");
	if (get_kcr() < 0)
		SKIP(return, "no PR_GET_KCR (errno %d)", errno);
}

FIXTURE_TEARDOWN(kcr_prctl)
{
}

/* Every task starts with KCR allowed, as the test runner did. */
TEST_F(kcr_prctl, default_is_on)
{
	EXPECT_EQ(1, get_kcr());
}

TEST_F(kcr_prctl, set_and_get)
{
	ASSERT_EQ(0, prctl(PR_SET_KCR, 0, 0, 0, 0));
	EXPECT_EQ(0, get_kcr());
	ASSERT_EQ(0, prctl(PR_SET_KCR, 0, 0, 0, 0));
	EXPECT_EQ(0, get_kcr());
	ASSERT_EQ(0, prctl(PR_SET_KCR, 1, 0, 0, 0));
	EXPECT_EQ(1, get_kcr());
}

TEST_F(kcr_prctl, set_rejects_bad_arguments)
{
	static const unsigned long bad[][4] = {
		{ 2, 0, 0, 0 }, { -1UL, 0, 0, 0 }, { 1UL << 32, 0, 0, 0 },
		{ 1, 1, 0, 0 }, { 1, 0, 1, 0 }, { 1, 0, 0, 1 },
		{ 0, 1, 0, 0 }, { 0, 0, 0, -1UL },
	};

	for (int state = 0; state <= 1; state++) {
		ASSERT_EQ(0, prctl(PR_SET_KCR, state, 0, 0, 0));
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			errno = 0;
			EXPECT_EQ(-1, prctl(PR_SET_KCR, bad[i][0], bad[i][1],
					    bad[i][2], bad[i][3]))
				TH_LOG("case %zu", i);
			EXPECT_EQ(EINVAL, errno);
			EXPECT_EQ(state, get_kcr()) TH_LOG("case %zu", i);
		}
	}
}

TEST_F(kcr_prctl, get_rejects_bad_arguments)
{
	static const unsigned long bad[][4] = {
		{ 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		EXPECT_EQ(-1, prctl(PR_GET_KCR, bad[i][0], bad[i][1], bad[i][2],
				    bad[i][3]))
			TH_LOG("case %zu", i);
		EXPECT_EQ(EINVAL, errno);
	}
}

TEST_F(kcr_prctl, fork_inherits)
{
	ASSERT_EQ(0, prctl(PR_SET_KCR, 0, 0, 0, 0));
	EXPECT_EQ(0, get_kcr_in_child());
	ASSERT_EQ(0, prctl(PR_SET_KCR, 1, 0, 0, 0));
	EXPECT_EQ(1, get_kcr_in_child());
}

TEST_F(kcr_prctl, exec_keeps)
{
	ASSERT_EQ(0, prctl(PR_SET_KCR, 0, 0, 0, 0));
	EXPECT_EQ(0, get_kcr_after_exec());
	ASSERT_EQ(0, prctl(PR_SET_KCR, 1, 0, 0, 0));
	EXPECT_EQ(1, get_kcr_after_exec());
}

TEST_F(kcr_prctl, set_is_per_thread)
{
	/* A thread that opts out leaves the others as they were. */
	EXPECT_EQ(0, in_thread(opt_out_in_thread));
	EXPECT_EQ(1, get_kcr());
	/* A new thread starts as the thread that creates it. */
	EXPECT_EQ(1, in_thread(get_kcr_in_thread));
	ASSERT_EQ(0, prctl(PR_SET_KCR, 0, 0, 0, 0));
	EXPECT_EQ(0, in_thread(get_kcr_in_thread));
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], EXIT_WITH_KCR))
		return get_kcr();
	return test_harness_run(argc, argv);
}
