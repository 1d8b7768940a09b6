// SPDX-License-Identifier: GPL-2.0
/*
 * madvise(MADV_KCR) and madvise(MADV_NOKCR) as user space sees them: the
 * mappings MADV_KCR accepts (private anonymous and private file mappings),
 * the errors for the rest (shared mappings, hugetlb, userfaultfd
 * write-protection, holes, unaligned starts), that a refused call marks no
 * part of the range, that the mark covers the range given and no more, and
 * that a fork() child does not inherit it.
 *
 * KCR shows a mark two ways, and both are checked where they exist: "kc" in
 * the VmFlags of /proc/self/smaps (CONFIG_PROC_PAGE_MONITOR), and lookups
 * of copies from the memory, which KCR makes for marked memory only.
 *
 * Run as root on a kernel with CONFIG_KCR_USERCOPY=y; skips otherwise.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << MAP_HUGE_SHIFT)
#endif

FIXTURE(kcr_madvise) {
	struct kcr_saved_config saved;
	size_t page;
	int fds[2];
};

FIXTURE_SETUP(kcr_madvise)
{
	const char *why = kcr_unavailable();
	char *p;
	int ret;

	if (why)
		SKIP(return, "%s", why);
	if (kcr_domain_stat("usercopy", "lookups") < 0)
		SKIP(return, "no KCR usercopy statistics");
	self->page = getpagesize();
	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ret = madvise(p, self->page, MADV_KCR);
	if (ret)
		SKIP(return, "no MADV_KCR (errno %d)", errno);
	munmap(p, self->page);
	ASSERT_EQ(0, pipe(self->fds));
	ASSERT_EQ(0, kcr_serve_at_once(&self->saved));
}

FIXTURE_TEARDOWN(kcr_madvise)
{
	kcr_config_restore(&self->saved);
}

/* A mapping of @pages pages with @flags, every page written. */
static char *map_pages(FIXTURE_DATA(kcr_madvise) *self, int pages, int flags)
{
	char *p = mmap(NULL, pages * self->page, PROT_READ | PROT_WRITE,
		       flags | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		memset(p, 0x6b, pages * self->page);
	return p;
}

/*
 * Whether the VMA holding @addr is marked: 1 or 0 if smaps (if there is
 * one) and the lookups of a copy from @addr agree, -1 if they do not. The
 * page at @addr must have been written, to be resident and anonymous.
 */
static int marked(FIXTURE_DATA(kcr_madvise) *self, const char *addr)
{
	long lookups = kcr_domain_stat("usercopy", "lookups");
	int smaps = kcr_smaps_marked(addr);
	char out[256];
	int looked_up;

	if (write(self->fds[1], addr, sizeof(out)) != sizeof(out) ||
	    read(self->fds[0], out, sizeof(out)) != sizeof(out))
		return -1;
	looked_up = kcr_domain_stat("usercopy", "lookups") != lookups;
	if (smaps >= 0 && smaps != looked_up)
		return -1;
	return looked_up;
}

TEST_F(kcr_madvise, kcr_and_nokcr_set_and_clear_the_mark)
{
	char *p = map_pages(self, 3, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, marked(self, p));
	ASSERT_EQ(0, madvise(p, 3 * self->page, MADV_KCR));
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(1, marked(self, p + i * self->page))
			TH_LOG("page %d", i);
	}
	ASSERT_EQ(0, madvise(p, 3 * self->page, MADV_NOKCR));
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(0, marked(self, p + i * self->page))
			TH_LOG("page %d", i);
	}
	/* Both are idempotent. */
	ASSERT_EQ(0, madvise(p, 3 * self->page, MADV_NOKCR));
	ASSERT_EQ(0, madvise(p, 3 * self->page, MADV_KCR));
	ASSERT_EQ(0, madvise(p, 3 * self->page, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
}

TEST_F(kcr_madvise, smaps_shows_the_mark)
{
	char *p = map_pages(self, 1, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	if (kcr_smaps_marked(p) < 0)
		SKIP(return, "no /proc/self/smaps (CONFIG_PROC_PAGE_MONITOR=n)");
	EXPECT_EQ(0, kcr_smaps_marked(p));
	ASSERT_EQ(0, madvise(p, self->page, MADV_KCR));
	EXPECT_EQ(1, kcr_smaps_marked(p));
	ASSERT_EQ(0, madvise(p, self->page, MADV_NOKCR));
	EXPECT_EQ(0, kcr_smaps_marked(p));
}

TEST_F(kcr_madvise, mark_covers_the_range_only)
{
	char *p = map_pages(self, 3, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p + self->page, self->page, MADV_KCR));
	EXPECT_EQ(0, marked(self, p));
	EXPECT_EQ(1, marked(self, p + self->page));
	EXPECT_EQ(0, marked(self, p + 2 * self->page));
	/* A length that is not a multiple of the page size is rounded up. */
	ASSERT_EQ(0, madvise(p, 1, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
	EXPECT_EQ(0, marked(self, p + 2 * self->page));
}

/* One page of a new memfd, mapped with @flags; the fd goes with the test. */
static char *map_file_page(FIXTURE_DATA(kcr_madvise) *self, int flags)
{
	int fd = memfd_create("kcr_madvise_test", MFD_CLOEXEC);
	char *p = MAP_FAILED;

	if (fd >= 0 && !ftruncate(fd, self->page))
		p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (fd >= 0)
		close(fd);
	return p;
}

TEST_F(kcr_madvise, private_file_mapping_is_accepted)
{
	char *p = map_file_page(self, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, self->page, MADV_KCR));
	/* Written, the page is an anonymous copy of the file's. */
	memset(p, 0x6b, self->page);
	EXPECT_EQ(1, marked(self, p));
}

TEST_F(kcr_madvise, unaligned_start_is_refused)
{
	char *p = map_pages(self, 2, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, madvise(p + 1, self->page, MADV_KCR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, marked(self, p));
	ASSERT_EQ(0, madvise(p, 2 * self->page, MADV_KCR));
	EXPECT_EQ(-1, madvise(p + 1, self->page, MADV_NOKCR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, marked(self, p));
}

TEST_F(kcr_madvise, unmapped_range_is_refused)
{
	char *p = map_pages(self, 3, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p, 3 * self->page));
	EXPECT_EQ(-1, madvise(p, 3 * self->page, MADV_KCR));
	EXPECT_EQ(ENOMEM, errno);
}

/* A hole anywhere refuses the whole range: no VMA of it is marked. */
TEST_F(kcr_madvise, range_with_hole_marks_nothing)
{
	char *p = map_pages(self, 3, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + self->page, self->page));
	EXPECT_EQ(-1, madvise(p, 3 * self->page, MADV_KCR));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_EQ(0, marked(self, p));
	EXPECT_EQ(0, marked(self, p + 2 * self->page));
	/* The pages themselves can be marked. */
	ASSERT_EQ(0, madvise(p, self->page, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
}

TEST_F(kcr_madvise, shared_anon_mapping_is_refused)
{
	char *p = map_pages(self, 1, MAP_SHARED);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, madvise(p, self->page, MADV_KCR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, marked(self, p));
}

TEST_F(kcr_madvise, shared_file_mapping_is_refused)
{
	char *p = map_file_page(self, MAP_SHARED);

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x6b, self->page);
	EXPECT_EQ(-1, madvise(p, self->page, MADV_KCR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, marked(self, p));
}

/*
 * A range of a private VMA followed by a shared one is refused as a whole:
 * the private VMA, which comes first, is not marked either.
 */
TEST_F(kcr_madvise, refused_range_marks_nothing)
{
	char *p = map_pages(self, 2, MAP_PRIVATE), *q;

	ASSERT_NE(MAP_FAILED, p);
	q = mmap(p + self->page, self->page, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(p + self->page, q);
	memset(q, 0x6b, self->page);
	EXPECT_EQ(-1, madvise(p, 2 * self->page, MADV_KCR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, marked(self, p));
	EXPECT_EQ(0, marked(self, q));
	/* What refused the range was the shared VMA. */
	ASSERT_EQ(0, madvise(p, self->page, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
	EXPECT_EQ(0, marked(self, q));
}

TEST_F(kcr_madvise, hugetlb_mapping_is_refused)
{
	size_t len = 2UL << 20;
	/* MAP_NORESERVE: no huge page needs to be free, none is touched. */
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		       MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb mappings (errno %d)", errno);
	EXPECT_EQ(-1, madvise(p, len, MADV_KCR));
	EXPECT_EQ(EINVAL, errno);
	if (kcr_smaps_marked(p) >= 0)
		EXPECT_EQ(0, kcr_smaps_marked(p));
	munmap(p, len);
}

/* A userfaultfd with [@p, @p + @len) registered in @mode, or -errno. */
static int uffd_register(void *p, size_t len, __u64 mode)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = mode & UFFDIO_REGISTER_MODE_WP ?
			    UFFD_FEATURE_PAGEFAULT_FLAG_WP : 0,
	};
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)p, .len = len },
		.mode = mode,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

TEST_F(kcr_madvise, uffd_wp_range_is_refused)
{
	char *p = map_pages(self, 2, MAP_PRIVATE);
	int uffd;

	ASSERT_NE(MAP_FAILED, p);
	uffd = uffd_register(p, 2 * self->page, UFFDIO_REGISTER_MODE_WP);
	if (uffd < 0)
		SKIP(return, "no userfaultfd write-protection (%d)", uffd);
	EXPECT_EQ(-1, madvise(p, 2 * self->page, MADV_KCR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, marked(self, p));
	/* Unregistered, the range is an ordinary one. */
	ASSERT_EQ(0, close(uffd));
	ASSERT_EQ(0, madvise(p, 2 * self->page, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
}

/* And the other way round: userfaultfd will not write-protect marked memory. */
TEST_F(kcr_madvise, uffd_wp_refuses_marked_range)
{
	char *p = map_pages(self, 2, MAP_PRIVATE);
	int uffd;

	ASSERT_NE(MAP_FAILED, p);
	uffd = uffd_register(p, 2 * self->page, UFFDIO_REGISTER_MODE_WP);
	if (uffd < 0)
		SKIP(return, "no userfaultfd write-protection (%d)", uffd);
	ASSERT_EQ(0, close(uffd));
	ASSERT_EQ(0, madvise(p, 2 * self->page, MADV_KCR));
	EXPECT_EQ(-EINVAL, uffd_register(p, 2 * self->page,
					 UFFDIO_REGISTER_MODE_WP));
	uffd = uffd_register(p, 2 * self->page, UFFDIO_REGISTER_MODE_MISSING);
	EXPECT_LE(0, uffd);
	if (uffd >= 0)
		close(uffd);
}

/* Only write-protection (and minor faults) are userfaultfd's to handle. */
TEST_F(kcr_madvise, uffd_missing_range_is_accepted)
{
	char *p = map_pages(self, 2, MAP_PRIVATE);
	int uffd;

	ASSERT_NE(MAP_FAILED, p);
	uffd = uffd_register(p, 2 * self->page, UFFDIO_REGISTER_MODE_MISSING);
	if (uffd < 0)
		SKIP(return, "no userfaultfd (%d)", uffd);
	EXPECT_EQ(0, madvise(p, 2 * self->page, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
	close(uffd);
}

/* The fork() child of the test below: 0 if its copy is not marked. */
static int unmarked_in_child(FIXTURE_DATA(kcr_madvise) *self, char *p)
{
	char *q = map_pages(self, 1, MAP_PRIVATE);

	/* With memory of its own marked, the child makes lookups. */
	if (q == MAP_FAILED || madvise(q, self->page, MADV_KCR))
		return 1;
	if (marked(self, q) != 1)
		return 2;
	memset(p, 0x5a, self->page);
	return marked(self, p) ? 3 : 0;
}

TEST_F(kcr_madvise, mark_is_not_inherited)
{
	char *p = map_pages(self, 1, MAP_PRIVATE);
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, self->page, MADV_KCR));
	EXPECT_EQ(1, marked(self, p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(unmarked_in_child(self, p));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(1, marked(self, p));
}

TEST_HARNESS_MAIN
