// SPDX-License-Identifier: GPL-2.0
/*
 * copy_from_user() served from KCR (domain "usercopy"). A write() to a
 * pipe copies from user memory with the iov_iter user copy, which KCR
 * serves while memory marked with madvise(MADV_KCR) is unchanged, so a
 * pipe round trip shows what KCR served: a stale result comes back as old
 * bytes.
 *
 * Each test warms the cache with round trips of one pattern and makes sure
 * KCR hit, then changes the memory in one of the ways memory can change:
 * a CPU store, read() into it, MADV_DONTNEED, munmap() and a new mapping,
 * mremap(), a fork() child writing its copy, process_vm_writev(), ptrace()
 * and /proc/pid/mem writes, mprotect() and a store, KSM, truncation,
 * swap-out and swap-in, migration to another node, collapse into a huge
 * page, an O_DIRECT read from a disk, and threads storing while another
 * copies. Every later round trip must return what the memory holds now.
 * Also: unchanged memory is served, prctl(PR_SET_KCR, 0) keeps a task's
 * copies out of KCR, and a copy into a page somebody else keeps rewriting
 * never makes KCR keep what it wrote.
 *
 * Run as root on a kernel with CONFIG_KCR_USERCOPY=y; skips otherwise.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	2	/* from <linux/mempolicy.h> */
#endif

#define NR_PAGES	4
#define ROUNDS		8

/* Patterns: any two differ in every byte. */
enum { PAT_A = 1, PAT_B, PAT_C };

static void fill(char *p, size_t len, int pattern)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern * 131 + i * 7 + i / 4096;
}

/* The bytes fill() puts at [off, off + sizeof(long)), into w. */
static void fill_word(char *w, size_t off, int pattern)
{
	for (size_t i = 0; i < sizeof(long); i++)
		w[i] = pattern * 131 + (off + i) * 7 + (off + i) / 4096;
}

static bool holds(const char *p, size_t len, int pattern)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != (char)(pattern * 131 + i * 7 + i / 4096))
			return false;
	}
	return true;
}

/* Write @len bytes of @buf to the pipe @fds and read them back into @out. */
static int round_trip(int fds[2], const char *buf, char *out, size_t len)
{
	size_t done = 0;
	ssize_t n;

	if (write(fds[1], buf, len) != (ssize_t)len)
		return -1;
	while (done < len) {
		n = read(fds[0], out + done, len - done);
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/*
 * Round-trip @buf ROUNDS times: true if every round trip gave back what it
 * holds, and that is @pattern.
 */
static bool round_trips_give(int fds[2], const char *buf, size_t len,
			     int pattern)
{
	char *out = malloc(len);
	bool ok = out && holds(buf, len, pattern);

	for (int i = 0; ok && i < ROUNDS; i++) {
		memset(out, 0, len);
		ok = !round_trip(fds, buf, out, len) && !memcmp(out, buf, len);
	}
	free(out);
	return ok;
}

FIXTURE(kcr_user) {
	struct kcr_saved_config saved;
	size_t page, len;
	int fds[2];
	char *buf;	/* NR_PAGES pages marked with MADV_KCR */
};

FIXTURE_SETUP(kcr_user)
{
	const char *why = kcr_unavailable();

	if (why)
		SKIP(return, "%s", why);
	if (kcr_domain_stat("usercopy", "lookups") < 0)
		SKIP(return, "no KCR usercopy statistics");
	self->page = getpagesize();
	self->len = NR_PAGES * self->page;
	self->buf = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	if (madvise(self->buf, self->len, MADV_KCR))
		SKIP(return, "no MADV_KCR (errno %d)", errno);
	ASSERT_EQ(0, pipe(self->fds));
	ASSERT_EQ(0, kcr_serve_at_once(&self->saved));
}

FIXTURE_TEARDOWN(kcr_user)
{
	kcr_config_restore(&self->saved);
}

/*
 * Fill the buffer with @pattern, round-trip it and make sure that KCR hit:
 * unless it does, a test that changes the memory afterwards cannot see a
 * stale result.
 */
static void warm_up(struct __test_metadata *_metadata,
		    FIXTURE_DATA(kcr_user) *self, int pattern)
{
	long hits = kcr_hits("usercopy");

	fill(self->buf, self->len, pattern);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, pattern));
	ASSERT_LT(hits, kcr_hits("usercopy"));
}

TEST_F(kcr_user, unchanged_memory_is_served)
{
	long hits, served;

	warm_up(_metadata, self, PAT_A);
	hits = kcr_hits("usercopy");
	served = kcr_domain_stat("usercopy", "bytes_served");
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	/* Every page of every round trip hit and was served. */
	EXPECT_LE(hits + ROUNDS * NR_PAGES, kcr_hits("usercopy"));
	EXPECT_LE(served + ROUNDS * (long)self->len,
		  kcr_domain_stat("usercopy", "bytes_served"));
}

TEST_F(kcr_user, cpu_store_is_not_served_stale)
{
	warm_up(_metadata, self, PAT_A);
	fill(self->buf, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
}

TEST_F(kcr_user, one_byte_store_is_not_served_stale)
{
	size_t at = 2 * self->page + 100;
	char *out = malloc(self->len);

	ASSERT_NE(NULL, out);
	warm_up(_metadata, self, PAT_A);
	self->buf[at] ^= 0x5a;
	for (int i = 0; i < ROUNDS; i++) {
		ASSERT_EQ(0, round_trip(self->fds, self->buf, out, self->len));
		ASSERT_EQ(0, memcmp(out, self->buf, self->len))
			TH_LOG("round %d: byte %zu is 0x%02x, not 0x%02x", i, at,
			       out[at] & 0xff, self->buf[at] & 0xff);
	}
	free(out);
}

TEST_F(kcr_user, read_from_file_is_not_served_stale)
{
	char *b = malloc(self->len);
	int fd = memfd_create("kcr_user_test", MFD_CLOEXEC);

	ASSERT_NE(NULL, b);
	ASSERT_LE(0, fd);
	fill(b, self->len, PAT_B);
	ASSERT_EQ(self->len, write(fd, b, self->len));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(self->len, read(fd, self->buf, self->len));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
	close(fd);
	free(b);
}

TEST_F(kcr_user, dontneed_is_not_served_stale)
{
	char *zeros = calloc(1, self->len), *out = malloc(self->len);

	ASSERT_NE(NULL, zeros);
	ASSERT_NE(NULL, out);
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(0, madvise(self->buf, self->len, MADV_DONTNEED));
	for (int i = 0; i < ROUNDS; i++) {
		ASSERT_EQ(0, round_trip(self->fds, self->buf, out, self->len));
		ASSERT_EQ(0, memcmp(out, zeros, self->len)) TH_LOG("round %d", i);
	}
	ASSERT_EQ(0, memcmp(self->buf, zeros, self->len));
	fill(self->buf, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
	free(zeros);
	free(out);
}

TEST_F(kcr_user, new_mapping_is_not_served_stale)
{
	char *p;

	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(0, munmap(self->buf, self->len));
	p = mmap(self->buf, self->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(self->buf, p);
	ASSERT_EQ(0, madvise(p, self->len, MADV_KCR));
	fill(p, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, p, self->len, PAT_B));
}

TEST_F(kcr_user, mremap_is_not_served_stale)
{
	char *dst, *moved, *p;

	dst = mmap(NULL, self->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	warm_up(_metadata, self, PAT_A);
	moved = mremap(self->buf, self->len, self->len,
		       MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, moved);
	p = mmap(self->buf, self->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(self->buf, p);
	ASSERT_EQ(0, madvise(p, self->len, MADV_KCR));
	fill(p, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, p, self->len, PAT_B));
	/* The pages moved, and still round-trip what they hold. */
	ASSERT_TRUE(round_trips_give(self->fds, moved, self->len, PAT_A));
}

/*
 * The child of fork() writes its copy of the buffer. Return 0 if all it
 * sees is right, or what went wrong.
 */
static int fork_child(FIXTURE_DATA(kcr_user) *self)
{
	long lookups;

	/* Like mlock(), MADV_KCR is not inherited. */
	if (kcr_smaps_marked(self->buf) == 1)
		return 1;
	fill(self->buf, self->len, PAT_B);
	if (!round_trips_give(self->fds, self->buf, self->len, PAT_B))
		return 2;
	/*
	 * Marked again, the child's pages get the same write generations the
	 * parent's had for PAT_A: only the owner tells the results apart.
	 */
	if (madvise(self->buf, self->len, MADV_KCR))
		return 3;
	lookups = kcr_domain_stat("usercopy", "lookups");
	if (!round_trips_give(self->fds, self->buf, self->len, PAT_B))
		return 4;
	if (kcr_domain_stat("usercopy", "lookups") == lookups)
		return 5;
	return 0;
}

TEST_F(kcr_user, fork_child_is_not_served_parent_results)
{
	int status;
	pid_t pid;

	warm_up(_metadata, self, PAT_A);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(fork_child(self));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	fill(self->buf, self->len, PAT_C);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_C));
}

/*
 * Fork a child that waits for a byte on @go, then writes PAT_B into the
 * buffer of @parent with process_vm_writev().
 */
static pid_t fork_vm_writer(FIXTURE_DATA(kcr_user) *self, pid_t parent,
			    int go[2])
{
	struct iovec local, remote = { self->buf, self->len };
	pid_t pid = fork();
	char c;

	if (pid)
		return pid;
	close(go[1]);
	local.iov_base = malloc(self->len);
	local.iov_len = self->len;
	if (!local.iov_base || read(go[0], &c, 1) != 1)
		_exit(1);
	fill(local.iov_base, self->len, PAT_B);
	_exit(process_vm_writev(parent, &local, 1, &remote, 1, 0) ==
	      (ssize_t)self->len ? 0 : 2);
}

TEST_F(kcr_user, process_vm_writev_is_not_served_stale)
{
	int go[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(go));
	pid = fork_vm_writer(self, getpid(), go);
	ASSERT_LE(0, pid);
	close(go[0]);
	/* Warm up after fork(), so that fork() is not what changes the pages. */
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(1, write(go[1], "", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
}

/*
 * The tracee of the ptrace() test: marks and warms up its own copy of the
 * buffer, stops for the tracer to write PAT_B into it, then checks it.
 */
static int ptrace_child(FIXTURE_DATA(kcr_user) *self)
{
	long hits;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) ||
	    madvise(self->buf, self->len, MADV_KCR))
		return 1;
	hits = kcr_hits("usercopy");
	fill(self->buf, self->len, PAT_A);
	if (!round_trips_give(self->fds, self->buf, self->len, PAT_A) ||
	    kcr_hits("usercopy") == hits)
		return 2;
	raise(SIGSTOP);
	if (!round_trips_give(self->fds, self->buf, self->len, PAT_B))
		return 3;
	return 0;
}

/*
 * Wait for the tracee @pid to stop, then write PAT_B into its buffer with
 * PTRACE_POKEDATA, every @step bytes (sizeof(long) for all of it), and let
 * it continue. Returns 0, or -1 with errno set.
 */
static int poke_pattern_b(FIXTURE_DATA(kcr_user) *self, pid_t pid,
			  size_t step)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		errno = ECHILD;
		return -1;
	}
	for (size_t off = 0; off < self->len; off += step) {
		char word[sizeof(long)];
		long w;

		fill_word(word, off, PAT_B);
		memcpy(&w, word, sizeof(w));
		if (ptrace(PTRACE_POKEDATA, pid, self->buf + off, (void *)w))
			return -1;
	}
	return ptrace(PTRACE_CONT, pid, NULL, NULL) ? -1 : 0;
}

/* The tracee's exit status, or -1 if it did not exit. */
static int tracee_exit_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST_F(kcr_user, ptrace_poke_is_not_served_stale)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid)
		_exit(ptrace_child(self));
	ASSERT_EQ(0, poke_pattern_b(self, pid, sizeof(long)));
	ASSERT_EQ(0, tracee_exit_status(pid));
}

TEST_F(kcr_user, proc_mem_write_is_not_served_stale)
{
	char *b = malloc(self->len);
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	ASSERT_NE(NULL, b);
	if (fd < 0)
		SKIP(return, "no /proc/self/mem (errno %d)", errno);
	fill(b, self->len, PAT_B);
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(self->len, pwrite(fd, b, self->len, (off_t)self->buf));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
	close(fd);
	free(b);
}

/* Round-trip the buffer: true if every round trip gave back what it holds. */
static bool round_trips_match(int fds[2], const char *buf, size_t len)
{
	char *out = malloc(len);
	bool ok = out;

	for (int i = 0; ok && i < ROUNDS; i++) {
		memset(out, 0, len);
		ok = !round_trip(fds, buf, out, len) && !memcmp(out, buf, len);
	}
	free(out);
	return ok;
}

/*
 * The tracee of the read-only ptrace() test. Its buffer is read-only, so
 * the tracer's PTRACE_POKEDATA writes with FOLL_FORCE: the first word it
 * writes to a page breaks COW with a write fault, every later one goes
 * through the read-only page table entry without a fault. The tracee
 * stops twice: for the first word of each page, then, once it has warmed
 * its cache again, for all the rest.
 */
static int ptrace_read_only_child(FIXTURE_DATA(kcr_user) *self)
{
	char *want = malloc(self->len);
	long hits;

	if (!want || ptrace(PTRACE_TRACEME, 0, NULL, NULL) ||
	    madvise(self->buf, self->len, MADV_KCR))
		return 1;
	fill(self->buf, self->len, PAT_A);
	if (mprotect(self->buf, self->len, PROT_READ))
		return 2;
	raise(SIGSTOP);
	fill(want, self->len, PAT_A);
	for (size_t off = 0; off < self->len; off += self->page)
		fill_word(want + off, off, PAT_B);
	hits = kcr_hits("usercopy");
	if (memcmp(want, self->buf, self->len) ||
	    !round_trips_match(self->fds, self->buf, self->len) ||
	    kcr_hits("usercopy") == hits)
		return 3;
	raise(SIGSTOP);
	if (!round_trips_give(self->fds, self->buf, self->len, PAT_B))
		return 4;
	return 0;
}

TEST_F(kcr_user, ptrace_poke_into_read_only_is_not_served_stale)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid)
		_exit(ptrace_read_only_child(self));
	/* First stop: the first word of each page only; then all of it. */
	ASSERT_EQ(0, poke_pattern_b(self, pid, self->page));
	ASSERT_EQ(0, poke_pattern_b(self, pid, sizeof(long)));
	ASSERT_EQ(0, tracee_exit_status(pid));
}

#define KSM_RUN			"/sys/kernel/mm/ksm/run"
#define KSM_PAGES_SHARING	"/sys/kernel/mm/ksm/pages_sharing"

/* pages_sharing of KSM, or -1. */
static long ksm_pages_sharing(void)
{
	char buf[32];

	if (kcr_read(KSM_PAGES_SHARING, buf, sizeof(buf)) < 0)
		return -1;
	return atol(buf);
}

/*
 * KSM merges the buffer's identical pages into one write-protected page
 * (under an mmu notifier), and a store breaks the merge again (a write
 * fault): neither may serve a stale copy.
 */
TEST_F(kcr_user, ksm_merge_and_unmerge_are_not_served_stale)
{
	long hits, before = ksm_pages_sharing();
	char *want = malloc(self->len);
	int i;

	ASSERT_NE(NULL, want);
	if (before < 0 || kcr_write(KSM_RUN, "1"))
		SKIP(return, "no KSM");
	fill(self->buf, self->page, PAT_A);
	for (i = 1; i < NR_PAGES; i++)
		memcpy(self->buf + i * self->page, self->buf, self->page);
	ASSERT_TRUE(round_trips_match(self->fds, self->buf, self->len));
	ASSERT_EQ(0, madvise(self->buf, self->len, MADV_MERGEABLE));
	for (i = 0; i < 100 && ksm_pages_sharing() <= before; i++)
		usleep(50 * 1000);
	if (ksm_pages_sharing() <= before) {
		kcr_write(KSM_RUN, "0");
		SKIP(return, "KSM did not merge the buffer in 5 s");
	}
	hits = kcr_hits("usercopy");
	memcpy(want, self->buf, self->len);
	ASSERT_TRUE(round_trips_match(self->fds, self->buf, self->len));
	ASSERT_EQ(0, memcmp(want, self->buf, self->len));
	ASSERT_LT(hits, kcr_hits("usercopy"));
	/* A store into the merged page of the third page of the buffer. */
	self->buf[2 * self->page + 5] ^= 0x5a;
	want[2 * self->page + 5] ^= 0x5a;
	ASSERT_TRUE(round_trips_match(self->fds, self->buf, self->len));
	ASSERT_EQ(0, memcmp(want, self->buf, self->len));
	madvise(self->buf, self->len, MADV_UNMERGEABLE);
	kcr_write(KSM_RUN, "0");
	free(want);
}

/*
 * Truncating a privately mapped file zaps the pages the process wrote too
 * (its copies of the file's): after the file is cut and grown again, the
 * mapping reads zeros.
 */
TEST_F(kcr_user, file_truncation_is_not_served_stale)
{
	int fd = memfd_create("kcr_user_test", MFD_CLOEXEC);
	char *p, *zeros = calloc(1, self->len);
	long hits;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, zeros);
	ASSERT_EQ(0, ftruncate(fd, self->len));
	p = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	fill(p, self->len, PAT_A);	/* private copies, which KCR tracks */
	ASSERT_EQ(0, madvise(p, self->len, MADV_KCR));
	hits = kcr_hits("usercopy");
	ASSERT_TRUE(round_trips_give(self->fds, p, self->len, PAT_A));
	ASSERT_LT(hits, kcr_hits("usercopy"));
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(0, ftruncate(fd, self->len));
	ASSERT_EQ(0, memcmp(p, zeros, self->len));
	ASSERT_TRUE(round_trips_match(self->fds, p, self->len));
	munmap(p, self->len);
	close(fd);
	free(zeros);
}

TEST_F(kcr_user, mprotect_without_store_keeps_content)
{
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(0, mprotect(self->buf, self->len, PROT_READ));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	ASSERT_EQ(0, mprotect(self->buf, self->len, PROT_READ | PROT_WRITE));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
}

TEST_F(kcr_user, mprotect_then_store_is_not_served_stale)
{
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(0, mprotect(self->buf, self->len, PROT_READ));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	ASSERT_EQ(0, mprotect(self->buf, self->len, PROT_READ | PROT_WRITE));
	fill(self->buf, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
}

TEST_F(kcr_user, opted_out_task_is_not_looked_up)
{
	long lookups, stores;

	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ(0, prctl(PR_SET_KCR, 0, 0, 0, 0));
	lookups = kcr_domain_stat("usercopy", "lookups");
	stores = kcr_domain_stat("usercopy", "stores");
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	fill(self->buf, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
	EXPECT_EQ(lookups, kcr_domain_stat("usercopy", "lookups"));
	EXPECT_EQ(stores, kcr_domain_stat("usercopy", "stores"));

	ASSERT_EQ(0, prctl(PR_SET_KCR, 1, 0, 0, 0));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
	EXPECT_LT(lookups, kcr_domain_stat("usercopy", "lookups"));
}

/*
 * A copy's destination is not the copy's result. process_vm_writev() copies
 * from the caller's memory (marked, so KCR keys the copy on it) into a
 * kernel mapping of a page another thread or process rewrites all the
 * time. Whatever KCR keeps of such a copy must be what it read from the
 * source: a pipe round trip of the source, served from KCR, must carry the
 * source's bytes, and the usercopy class must not be found nondeterministic
 * (which anyone could otherwise use to switch it off for everyone).
 */
#define REWRITES	300

struct rewriter {
	char *page;
	size_t len;
	int stop;
};

static void *rewrite_fn(void *arg)
{
	struct rewriter *r = arg;

	for (unsigned int n = 0; !__atomic_load_n(&r->stop, __ATOMIC_RELAXED); n++)
		memset(r->page, n & 1 ? 0xee : 0x11, r->len);
	return NULL;
}

/* The state of the usercopy class in kcr/classes, or "". */
static const char *usercopy_class_state(void)
{
	static char buf[8192], state[16];
	char *line;

	state[0] = '\0';
	if (kcr_read(KCR_DEBUGFS "/classes", buf, sizeof(buf)) < 0)
		return state;
	line = strstr(buf, "\ncopy_from_user ");
	if (line)
		sscanf(line, "%*s %*s %15s", state);
	return state;
}

/*
 * Copy the buffer into @pid's @dst REWRITES times, each followed by a pipe
 * round trip of the buffer; return how many round trips gave back bytes
 * other than PAT_A.
 */
static int copies_then_round_trips(FIXTURE_DATA(kcr_user) *self, pid_t pid,
				   char *dst)
{
	struct iovec local = { self->buf, self->len }, remote = { dst, self->len };
	char *out = malloc(self->len);
	int wrong = 0;

	if (!out)
		return -1;
	fill(self->buf, self->len, PAT_A);
	for (int i = 0; i < REWRITES; i++) {
		if (process_vm_writev(pid, &local, 1, &remote, 1, 0) !=
		    (ssize_t)self->len ||
		    round_trip(self->fds, self->buf, out, self->len)) {
			wrong = -1;
			break;
		}
		wrong += !holds(out, self->len, PAT_A);
	}
	free(out);
	return wrong;
}

TEST_F(kcr_user, copy_into_rewritten_page_is_not_served)
{
	struct rewriter r = { .len = self->len };
	long hits = kcr_hits("usercopy");
	pthread_t t;

	r.page = mmap(NULL, r.len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r.page);
	ASSERT_EQ(0, pthread_create(&t, NULL, rewrite_fn, &r));
	EXPECT_EQ(0, copies_then_round_trips(self, getpid(), r.page));
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	/* The round trips were served: the test saw what KCR keeps. */
	EXPECT_LT(hits + REWRITES, kcr_hits("usercopy"));
	EXPECT_STRNE("rejected", usercopy_class_state());
	munmap(r.page, r.len);
}

TEST_F(kcr_user, copy_into_other_process_rewritten_page_is_not_served)
{
	long hits = kcr_hits("usercopy");
	int status, ready[2];
	char *page, c;
	pid_t pid;

	page = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* The other process: rewrite its copy of the page forever. */
		c = 1;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (unsigned int n = 0;; n++)
			memset(page, n & 1 ? 0xee : 0x11, self->len);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	EXPECT_EQ(0, copies_then_round_trips(self, pid, page));
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_LT(hits + REWRITES, kcr_hits("usercopy"));
	EXPECT_STRNE("rejected", usercopy_class_state());
}

/* Whether any swap space is active. */
static bool swap_active(void)
{
	char buf[4096];

	return kcr_read("/proc/swaps", buf, sizeof(buf)) > 0 &&
	       strchr(buf, '\n') && strchr(buf, '\n')[1];
}

/* How many pages of [p, p + len) are swapped out, per /proc/self/pagemap. */
static int pages_swapped(const char *p, size_t len, size_t page)
{
	int fd = open("/proc/self/pagemap", O_RDONLY), n = 0;
	unsigned long long e;

	if (fd < 0)
		return -1;
	for (size_t off = 0; off < len; off += page) {
		if (pread(fd, &e, sizeof(e),
			  ((unsigned long)p + off) / page * sizeof(e)) != sizeof(e))
			break;
		n += !!(e & (1ULL << 62));
	}
	close(fd);
	return n;
}

/*
 * Swapped out with MADV_PAGEOUT (an mmu notifier invalidation) and in
 * again, by a read and by a store: the contents are what they were, then
 * what was stored.
 */
/*
 * Swap the buffer out. Pages just faulted or swapped in may still sit in a
 * per-CPU LRU batch, where reclaim cannot take them: try a few times.
 */
static bool page_out(FIXTURE_DATA(kcr_user) *self)
{
	for (int i = 0; i < 20; i++) {
		if (madvise(self->buf, self->len, MADV_PAGEOUT))
			return false;
		if (pages_swapped(self->buf, self->len, self->page) > 0)
			return true;
		usleep(10000);
	}
	return false;
}

TEST_F(kcr_user, pageout_and_swapin_are_not_served_stale)
{
	if (!swap_active())
		SKIP(return, "no swap space");
	warm_up(_metadata, self, PAT_A);
	if (!page_out(self))
		SKIP(return, "MADV_PAGEOUT swapped nothing out");
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	ASSERT_TRUE(page_out(self));
	fill(self->buf, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
}

/*
 * move_pages() migrates the buffer to another NUMA node: new pages with
 * the same contents, then a store into them.
 */
TEST_F(kcr_user, migration_is_not_served_stale)
{
	void *pages[NR_PAGES];
	int nodes[NR_PAGES], status[NR_PAGES], target;

	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "needs two NUMA nodes");
	warm_up(_metadata, self, PAT_A);
	for (int i = 0; i < NR_PAGES; i++)
		pages[i] = self->buf + i * self->page;
	ASSERT_EQ(0, syscall(__NR_move_pages, 0, NR_PAGES, pages, NULL, status, 0))
		TH_LOG("move_pages: errno %d", errno);
	target = status[0] == 0 ? 1 : 0;
	for (int i = 0; i < NR_PAGES; i++)
		nodes[i] = target;
	ASSERT_EQ(0, syscall(__NR_move_pages, 0, NR_PAGES, pages, nodes, status,
			     MPOL_MF_MOVE));
	for (int i = 0; i < NR_PAGES; i++)
		ASSERT_EQ(target, status[i]);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_A));
	fill(self->buf, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_B));
}

#define HPAGE	(2UL << 20)

/*
 * MADV_COLLAPSE replaces the small pages of a 2 MiB range by a huge page,
 * mapped writable: a store into it then takes no fault at all. The copy of
 * the first pages, served before, must not be served after.
 */
TEST_F(kcr_user, collapse_is_not_served_stale)
{
	char *map, *p;
	long hits;

	map = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	p = (char *)(((unsigned long)map + HPAGE - 1) & ~(HPAGE - 1));
	/* Small pages first, then allow huge ones and mark the range. */
	ASSERT_EQ(0, madvise(p, HPAGE, MADV_NOHUGEPAGE));
	memset(p, 1, HPAGE);
	ASSERT_EQ(0, madvise(p, HPAGE, MADV_HUGEPAGE));
	ASSERT_EQ(0, madvise(p, HPAGE, MADV_KCR));
	fill(p, self->len, PAT_A);
	ASSERT_TRUE(round_trips_give(self->fds, p, self->len, PAT_A));
	hits = kcr_hits("usercopy");
	ASSERT_TRUE(round_trips_give(self->fds, p, self->len, PAT_A));
	ASSERT_LT(hits, kcr_hits("usercopy"));
	if (madvise(p, HPAGE, MADV_COLLAPSE))
		SKIP(munmap(map, 2 * HPAGE); return,
		     "MADV_COLLAPSE failed (errno %d)", errno);
	fill(p, self->len, PAT_B);
	ASSERT_TRUE(round_trips_give(self->fds, p, self->len, PAT_B));
	munmap(map, 2 * HPAGE);
}

/* The disk for the direct I/O test, as the QEMU runs name it. */
#define KCR_TEST_DISK	"/dev/kcr-disk"

/*
 * An O_DIRECT read from a disk into the buffer: the device writes the
 * pages by DMA, after GUP took them for writing. The copy of the buffer is
 * then the disk's data.
 */
TEST_F(kcr_user, direct_io_read_is_not_served_stale)
{
	char *data;
	int fd;

	fd = open(KCR_TEST_DISK, O_RDWR | O_DIRECT);
	if (fd < 0)
		SKIP(return, "no %s (errno %d)", KCR_TEST_DISK, errno);
	data = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, data);
	fill(data, self->len, PAT_C);
	ASSERT_EQ((ssize_t)self->len, pwrite(fd, data, self->len, 0));
	warm_up(_metadata, self, PAT_A);
	ASSERT_EQ((ssize_t)self->len, pread(fd, self->buf, self->len, 0));
	ASSERT_TRUE(round_trips_give(self->fds, self->buf, self->len, PAT_C));
	close(fd);
	munmap(data, self->len);
}

/*
 * Threads keep storing into the buffer while the main thread copies it.
 * Each writer owns a slice of words, writes a new version into all of them,
 * then publishes that version. A copy that began after a version was
 * published must carry that version or a later one in every word of the
 * slice: a result served from before the stores would carry an older one.
 */
#define WRITERS		3
#define COPIES		2000

struct writer {
	unsigned long *words;
	size_t nr;
	unsigned long published;
	int *stop;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;

	for (unsigned long v = 1; !__atomic_load_n(w->stop, __ATOMIC_RELAXED); v++) {
		for (size_t i = 0; i < w->nr; i++)
			__atomic_store_n(&w->words[i], v, __ATOMIC_RELAXED);
		__atomic_store_n(&w->published, v, __ATOMIC_RELEASE);
		/* Mostly idle, so that many copies hit between stores. */
		usleep(2000);
	}
	return NULL;
}

TEST_F(kcr_user, concurrent_stores_are_never_undone)
{
	size_t words = self->len / sizeof(long), per = words / WRITERS;
	unsigned long *out = malloc(self->len), seen[WRITERS];
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	int stop = 0;
	long hits = kcr_hits("usercopy");
	int old = 0;

	ASSERT_NE(NULL, out);
	memset(self->buf, 0, self->len);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){
			.words = (unsigned long *)self->buf + i * per,
			.nr = per, .stop = &stop,
		};
		ASSERT_EQ(0, pthread_create(&t[i], NULL, writer_fn, &w[i]));
	}
	for (int n = 0; n < COPIES; n++) {
		for (int i = 0; i < WRITERS; i++)
			seen[i] = __atomic_load_n(&w[i].published, __ATOMIC_ACQUIRE);
		if (round_trip(self->fds, self->buf, (char *)out, self->len))
			break;
		for (int i = 0; i < WRITERS; i++)
			for (size_t j = 0; j < per; j++)
				old += out[i * per + j] < seen[i];
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, old);
	/* The copies were served from KCR between the stores. */
	EXPECT_LT(hits, kcr_hits("usercopy"));
	free(out);
}

TEST_HARNESS_MAIN
