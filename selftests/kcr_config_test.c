// SPDX-License-Identifier: GPL-2.0
/*
 * KCR's tunables and counters as user space sees them in debugfs: every
 * tunable can be read back after a write, every bad value is rejected with
 * EINVAL and changes nothing, the commands (flush, relearn) check their
 * argument, and kcr/stats and kcr/classes show what the documentation says.
 *
 * Run as root on a kernel with CONFIG_KCR=y; skips otherwise.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

static const char * const domains[] = {
	"test", "skcipher", "hash", "csum", "usercopy",
};

static const char * const counters[] = {
	"lookups", "l2_hits", "l3_hits", "misses", "stores", "store_fails",
	"evictions", "invalidations", "verify_pass", "verify_fail",
	"bytes_served", "bypassed",
};

FIXTURE(kcr) {
	char config[4096];
};

FIXTURE_SETUP(kcr)
{
	const char *why = kcr_unavailable();

	if (why)
		SKIP(return, "%s", why);
	ASSERT_LT(0, kcr_read(KCR_CONFIG, self->config, sizeof(self->config)));
}

/* Put every writable tunable back as it was. */
FIXTURE_TEARDOWN(kcr)
{
	static const char * const keys[] = {
		"budget", "max_entry", "learn_window", "verify_shift", "control",
	};
	char val[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (kcr_field(self->config, keys[i], '=', val, sizeof(val)))
			kcr_config_set(keys[i], val);
	}
}

TEST_F(kcr, tunables_read_back)
{
	static const struct {
		const char *key, *val;
	} cases[] = {
		{ "budget", "1048576" }, { "budget", "16777216" },
		{ "max_entry", "4096" }, { "max_entry", "65536" },
		{ "learn_window", "1" }, { "learn_window", "8" },
		{ "verify_shift", "0" }, { "verify_shift", "6" },
		{ "control", "0" }, { "control", "1" },
	};
	char line[96];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(line, sizeof(line), "%s=%s\n", cases[i].key, cases[i].val);
		ASSERT_EQ(0, kcr_write(KCR_CONFIG, line)) TH_LOG("%s", line);
		EXPECT_STREQ(cases[i].val, kcr_config_get(cases[i].key));
	}
}

TEST_F(kcr, tunables_reject_bad_values)
{
	static const char * const bad[] = {
		"budget=0", "budget=65535", "budget=1073741825", "budget=16M",
		"budget=-1", "budget=", "max_entry=63", "max_entry=131585",
		"max_entry=4k", "learn_window=0", "learn_window=1000001",
		"learn_window=two", "verify_shift=31", "verify_shift=-1",
		"verify_shift=1 ", "control=2", "control=on", "flush=bogus",
		"flush=", "flush=all x",
		"relearn=0", "relearn=yes", "bytes_used=0", "stats=0",
	};
	char before[4096], after[4096];
	size_t i;

	ASSERT_LT(0, kcr_read(KCR_CONFIG, before, sizeof(before)));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, kcr_write(KCR_CONFIG, bad[i]))
			TH_LOG("write \"%s\"", bad[i]);
	}
	ASSERT_LT(0, kcr_read(KCR_CONFIG, after, sizeof(after)));
	EXPECT_STREQ(before, after);
}

TEST_F(kcr, commands_are_write_only)
{
	size_t i;

	EXPECT_EQ(NULL, strstr(self->config, "flush="));
	EXPECT_EQ(NULL, strstr(self->config, "relearn="));
	EXPECT_EQ(0, kcr_write(KCR_CONFIG, "flush=all\n"));
	for (i = 0; i < ARRAY_SIZE(domains); i++) {
		char line[64];

		snprintf(line, sizeof(line), "flush=%s", domains[i]);
		EXPECT_EQ(0, kcr_write(KCR_CONFIG, line)) TH_LOG("%s", line);
	}
	EXPECT_EQ(0, kcr_write(KCR_CONFIG, "relearn=1"));
}

/* Flushing everything leaves no entries and no bytes in use. */
TEST_F(kcr, flush_all_empties_the_cache)
{
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "flush=all"));
	/* Entries are freed after an RCU grace period: give it a moment. */
	for (int i = 0; i < 50 && kcr_stat("entries") != 0; i++)
		usleep(20000);
	EXPECT_EQ(0, kcr_stat("entries"));
	EXPECT_EQ(0, kcr_stat("bytes_used"));
}

TEST_F(kcr, stats_has_every_counter)
{
	char name[64];
	size_t d, c;

	EXPECT_LE(0, kcr_stat("bytes_used"));
	EXPECT_LE(0, kcr_stat("entries"));
	for (d = 0; d < ARRAY_SIZE(domains); d++) {
		for (c = 0; c < ARRAY_SIZE(counters); c++) {
			snprintf(name, sizeof(name), "%s.%s", domains[d], counters[c]);
			EXPECT_LE(0, kcr_stat(name)) TH_LOG("no %s", name);
		}
	}
}

TEST_F(kcr, classes_file_lists_classes)
{
	char buf[8192];

	ASSERT_LT(0, kcr_read(KCR_DEBUGFS "/classes", buf, sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "class ", 6)) TH_LOG("header: %.60s", buf);
	EXPECT_NE(NULL, strstr(buf, "verify_fail"));
}

/* kcr.control is the stable switch of the controller, mirrored in config. */
TEST_F(kcr, control_module_param)
{
	static const char * const bad[] = { "2", "yes", "on x", "-1" };
	const char *param = "/sys/module/kcr/parameters/control";
	char buf[8];
	size_t i;

	ASSERT_EQ(0, kcr_write(param, "0"));
	EXPECT_STREQ("0", kcr_config_get("control"));
	ASSERT_LT(0, kcr_read(param, buf, sizeof(buf)));
	EXPECT_STREQ("N\n", buf);
	ASSERT_EQ(0, kcr_write(param, "on"));
	EXPECT_STREQ("1", kcr_config_get("control"));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, kcr_write(param, bad[i])) TH_LOG("%s", bad[i]);
		EXPECT_STREQ("1", kcr_config_get("control"));
	}
}

TEST_HARNESS_MAIN
