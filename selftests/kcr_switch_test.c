// SPDX-License-Identifier: GPL-2.0
/*
 * KCR's switch as user space sees it: the debugfs files, the boot state
 * given by kcr=on|off, switching at run time through kcr.enable and through
 * kcr/config, and the rejection of bad input with nothing changed.
 *
 * Run as root on a kernel with CONFIG_KCR=y; skips otherwise.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

/* What kcr=... on the kernel command line asked for: "on", "off" or "default". */
static const char *cmdline_boot_state(void)
{
	static char cmdline[4096];
	const char *state = "default";
	char *tok, *save;

	if (kcr_read("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		return "unknown";
	for (tok = strtok_r(cmdline, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (!strcmp(tok, "kcr=on"))
			state = "on";
		else if (!strcmp(tok, "kcr=off"))
			state = "off";
	}
	return state;
}

FIXTURE(kcr) {
	char enabled[8];
};

FIXTURE_SETUP(kcr)
{
	const char *why = kcr_unavailable();

	if (why)
		SKIP(return, "%s", why);
	snprintf(self->enabled, sizeof(self->enabled), "%s",
		 kcr_config_get("enabled"));
}

FIXTURE_TEARDOWN(kcr)
{
	if (self->enabled[0])
		kcr_config_set("enabled", self->enabled);
}

TEST_F(kcr, debugfs_files_present)
{
	struct stat st;

	ASSERT_EQ(0, stat(KCR_STATS, &st));
	EXPECT_EQ(0400, st.st_mode & 0777);
	ASSERT_EQ(0, stat(KCR_CONFIG, &st));
	EXPECT_EQ(0600, st.st_mode & 0777);
	EXPECT_STRNE("", kcr_config_get("enabled"));
	EXPECT_STRNE("", kcr_config_get("boot"));
	EXPECT_LE(0, kcr_stat("enabled"));
	EXPECT_LE(0, kcr_stat("enable_transitions"));
	EXPECT_LE(0, kcr_stat("disable_transitions"));
}

/*
 * kcr=on and kcr=off show in config as boot=on and boot=off, and decide the
 * state until something switches KCR at run time.
 */
TEST_F(kcr, boot_state_matches_cmdline)
{
	const char *want = cmdline_boot_state();

	TH_LOG("kernel command line asks for kcr=%s", want);
	ASSERT_STREQ(want, kcr_config_get("boot"));
	if (kcr_stat("enable_transitions") || kcr_stat("disable_transitions"))
		SKIP(return, "KCR was switched since boot");
	if (strcmp(want, "default"))
		EXPECT_STREQ(strcmp(want, "on") ? "0" : "1",
			     kcr_config_get("enabled"));
}

TEST_F(kcr, switch_with_module_param)
{
	char buf[8];
	long on, off;

	ASSERT_EQ(0, kcr_write(KCR_PARAM_ENABLE, "0"));
	ASSERT_STREQ("0", kcr_config_get("enabled"));
	ASSERT_LT(0, kcr_read(KCR_PARAM_ENABLE, buf, sizeof(buf)));
	EXPECT_STREQ("N\n", buf);
	EXPECT_EQ(0, kcr_stat("enabled"));

	on = kcr_stat("enable_transitions");
	off = kcr_stat("disable_transitions");
	ASSERT_EQ(0, kcr_write(KCR_PARAM_ENABLE, "1"));
	EXPECT_STREQ("1", kcr_config_get("enabled"));
	ASSERT_LT(0, kcr_read(KCR_PARAM_ENABLE, buf, sizeof(buf)));
	EXPECT_STREQ("Y\n", buf);
	EXPECT_EQ(1, kcr_stat("enabled"));
	EXPECT_EQ(on + 1, kcr_stat("enable_transitions"));

	ASSERT_EQ(0, kcr_write(KCR_PARAM_ENABLE, "off"));
	EXPECT_STREQ("0", kcr_config_get("enabled"));
	EXPECT_EQ(off + 1, kcr_stat("disable_transitions"));
}

TEST_F(kcr, switch_with_config)
{
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "enabled=1\n"));
	EXPECT_STREQ("1", kcr_config_get("enabled"));
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "enabled=0"));
	EXPECT_STREQ("0", kcr_config_get("enabled"));
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "enabled=on"));
	EXPECT_STREQ("1", kcr_config_get("enabled"));
}

/* Each bad write fails with its documented error and changes nothing. */
TEST_F(kcr, config_rejects_bad_writes)
{
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{ "enabled", EINVAL }, { "enabled=", EINVAL },
		{ "enabled=2", EINVAL }, { "enabled=yes", EINVAL },
		{ "enabled=1x", EINVAL }, { "enabled =1", EINVAL },
		{ "=1", EINVAL }, { "bogus=1", EINVAL },
		{ "enabled=1\nenabled=0", EINVAL }, { "\n", EINVAL },
		{ "boot=on", EPERM }, { "boot=off\n", EPERM },
	};
	char before[4096], after[4096], longline[256];
	int state;
	size_t i;

	for (state = 0; state <= 1; state++) {
		ASSERT_EQ(0, kcr_write(KCR_CONFIG, state ? "enabled=1" :
						       "enabled=0"));
		ASSERT_LT(0, kcr_read(KCR_CONFIG, before, sizeof(before)));
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			EXPECT_EQ(-bad[i].err, kcr_write(KCR_CONFIG, bad[i].s))
				TH_LOG("write \"%s\"", bad[i].s);
		}
		memset(longline, '1', sizeof(longline));
		memcpy(longline, "enabled=", 8);
		EXPECT_EQ(-EINVAL, kcr_write_len(KCR_CONFIG, longline,
						 sizeof(longline)));
		EXPECT_EQ(-EINVAL, kcr_write_len(KCR_CONFIG, "enabled=0\0", 10));
		ASSERT_LT(0, kcr_read(KCR_CONFIG, after, sizeof(after)));
		EXPECT_STREQ(before, after);
	}
}

TEST_F(kcr, module_param_rejects_bad_writes)
{
	static const char * const bad[] = { "2", "yes", "1x", "-1", "o", "\n" };
	char before[8], after[8];
	size_t i;

	ASSERT_LT(0, kcr_read(KCR_PARAM_ENABLE, before, sizeof(before)));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, kcr_write(KCR_PARAM_ENABLE, bad[i]))
			TH_LOG("write \"%s\"", bad[i]);
	}
	ASSERT_LT(0, kcr_read(KCR_PARAM_ENABLE, after, sizeof(after)));
	EXPECT_STREQ(before, after);
}

TEST_HARNESS_MAIN
