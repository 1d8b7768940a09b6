// SPDX-License-Identifier: GPL-2.0
/*
 * KCR's crypto call sites through AF_ALG: repeated encryptions of the same
 * plaintext return the same ciphertext with KCR on and off, KCR serves
 * them, and a rekey in the middle changes the output and is never served a
 * stale result. One-shot SHA-256 digests likewise.
 *
 * Run as root (AF_ALG needs CAP_NET_ADMIN for cbc(aes) and sha256) on a
 * kernel with CONFIG_KCR_SKCIPHER and CONFIG_KCR_SHA256; skips otherwise.
 */

#include <errno.h>
#include <linux/if_alg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define LEN	4096
#define REPEAT	24	/* more than the default learning window */

/* A transform socket for @type/@name with @key (NULL: no key). */
static int alg_socket(const char *type, const char *name, const void *key,
		      int keylen)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG };
	int fd = socket(AF_ALG, SOCK_SEQPACKET, 0);

	if (fd < 0)
		return -errno;
	strncpy((char *)sa.salg_type, type, sizeof(sa.salg_type) - 1);
	strncpy((char *)sa.salg_name, name, sizeof(sa.salg_name) - 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (key && setsockopt(fd, SOL_ALG, ALG_SET_KEY, key, keylen))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Encrypt @len bytes of @in with @iv on a request socket of @tfm. */
static int encrypt(int tfm, const unsigned char *iv, const void *in, void *out,
		   size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(__u32)) +
		  CMSG_SPACE(sizeof(struct af_alg_iv) + 16)] = {};
	struct iovec iov = { .iov_base = (void *)in, .iov_len = len };
	struct msghdr msg = {
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	struct af_alg_iv *aiv;
	struct cmsghdr *c;
	int op, ret = -1;

	op = accept(tfm, NULL, 0);
	if (op < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_ALG;
	c->cmsg_type = ALG_SET_OP;
	c->cmsg_len = CMSG_LEN(sizeof(__u32));
	*(__u32 *)CMSG_DATA(c) = ALG_OP_ENCRYPT;
	c = CMSG_NXTHDR(&msg, c);
	c->cmsg_level = SOL_ALG;
	c->cmsg_type = ALG_SET_IV;
	c->cmsg_len = CMSG_LEN(sizeof(*aiv) + 16);
	aiv = (struct af_alg_iv *)CMSG_DATA(c);
	aiv->ivlen = 16;
	memcpy(aiv->iv, iv, 16);
	if (sendmsg(op, &msg, 0) == (ssize_t)len && read(op, out, len) == (ssize_t)len)
		ret = 0;
	close(op);
	return ret;
}

static int digest(int tfm, const void *in, size_t len, unsigned char *out)
{
	int op = accept(tfm, NULL, 0), ret = -1;

	if (op < 0)
		return -errno;
	if (send(op, in, len, 0) == (ssize_t)len && read(op, out, 32) == 32)
		ret = 0;
	close(op);
	return ret;
}

static long hits(const char *domain)
{
	char name[64];
	long l2, l3;

	snprintf(name, sizeof(name), "%s.l2_hits", domain);
	l2 = kcr_stat(name);
	snprintf(name, sizeof(name), "%s.l3_hits", domain);
	l3 = kcr_stat(name);
	return l2 + l3;
}

FIXTURE(kcr_crypto) {
	char enabled[8], control[8];
	unsigned char key[16], key2[16], iv[16];
	unsigned char pt[LEN], ct[LEN], want[LEN];
};

FIXTURE_SETUP(kcr_crypto)
{
	const char *why = kcr_unavailable();
	int fd;

	if (why)
		SKIP(return, "%s", why);
	if (kcr_stat("skcipher.lookups") < 0)
		SKIP(return, "no KCR skcipher statistics");
	fd = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (fd < 0)
		SKIP(return, "no AF_ALG (errno %d)", errno);
	close(fd);
	snprintf(self->enabled, sizeof(self->enabled), "%s",
		 kcr_config_get("enabled"));
	snprintf(self->control, sizeof(self->control), "%s",
		 kcr_config_get("control"));
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "enabled=1"));
	/* These tests are about what is served, not about whether it pays. */
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "control=0"));
	ASSERT_EQ(0, kcr_write(KCR_CONFIG, "flush=all"));
	for (int i = 0; i < LEN; i++)
		self->pt[i] = i * 7 + 1;
	for (int i = 0; i < 16; i++) {
		self->key[i] = i;
		self->key2[i] = 0xa5 ^ i;
		self->iv[i] = 0x30 + i;
	}
}

FIXTURE_TEARDOWN(kcr_crypto)
{
	if (!self->enabled[0])
		return;
	kcr_config_set("enabled", self->enabled);
	kcr_config_set("control", self->control);
}

/* What cbc(aes) gives with KCR off: the reference. */
static int reference(const unsigned char *key, const unsigned char *iv,
		     const void *in, void *out)
{
	int tfm, ret;

	if (kcr_write(KCR_CONFIG, "enabled=0"))
		return -1;
	tfm = alg_socket("skcipher", "cbc(aes)", key, 16);
	ret = tfm < 0 ? tfm : encrypt(tfm, iv, in, out, LEN);
	if (tfm >= 0)
		close(tfm);
	kcr_write(KCR_CONFIG, "enabled=1");
	return ret;
}

TEST_F(kcr_crypto, repeated_encryption_is_served_and_identical)
{
	long before;
	int tfm, i;

	ASSERT_EQ(0, reference(self->key, self->iv, self->pt, self->want));
	tfm = alg_socket("skcipher", "cbc(aes)", self->key, 16);
	ASSERT_LE(0, tfm);
	before = hits("skcipher");
	for (i = 0; i < REPEAT; i++) {
		memset(self->ct, 0, LEN);
		ASSERT_EQ(0, encrypt(tfm, self->iv, self->pt, self->ct, LEN));
		ASSERT_EQ(0, memcmp(self->ct, self->want, LEN)) TH_LOG("repeat %d", i);
	}
	EXPECT_LT(before, hits("skcipher"));
	close(tfm);
}

TEST_F(kcr_crypto, rekey_is_never_served_stale)
{
	unsigned char want2[LEN];
	int tfm, i;

	ASSERT_EQ(0, reference(self->key, self->iv, self->pt, self->want));
	ASSERT_EQ(0, reference(self->key2, self->iv, self->pt, want2));
	ASSERT_NE(0, memcmp(self->want, want2, LEN));
	tfm = alg_socket("skcipher", "cbc(aes)", self->key, 16);
	ASSERT_LE(0, tfm);
	for (i = 0; i < REPEAT; i++)
		ASSERT_EQ(0, encrypt(tfm, self->iv, self->pt, self->ct, LEN));
	ASSERT_EQ(0, memcmp(self->ct, self->want, LEN));

	/* Rekey the same transform: every later result is the new key's. */
	ASSERT_EQ(0, setsockopt(tfm, SOL_ALG, ALG_SET_KEY, self->key2, 16));
	for (i = 0; i < REPEAT; i++) {
		ASSERT_EQ(0, encrypt(tfm, self->iv, self->pt, self->ct, LEN));
		ASSERT_EQ(0, memcmp(self->ct, want2, LEN)) TH_LOG("repeat %d", i);
	}
	/* And back: the old key's results again, never the other's. */
	ASSERT_EQ(0, setsockopt(tfm, SOL_ALG, ALG_SET_KEY, self->key, 16));
	for (i = 0; i < REPEAT; i++) {
		ASSERT_EQ(0, encrypt(tfm, self->iv, self->pt, self->ct, LEN));
		ASSERT_EQ(0, memcmp(self->ct, self->want, LEN)) TH_LOG("repeat %d", i);
	}
	close(tfm);
}

TEST_F(kcr_crypto, changed_plaintext_is_not_served)
{
	int tfm, i;

	tfm = alg_socket("skcipher", "cbc(aes)", self->key, 16);
	ASSERT_LE(0, tfm);
	for (i = 0; i < REPEAT; i++)
		ASSERT_EQ(0, encrypt(tfm, self->iv, self->pt, self->ct, LEN));
	self->pt[LEN - 1] ^= 1;
	ASSERT_EQ(0, reference(self->key, self->iv, self->pt, self->want));
	ASSERT_EQ(0, encrypt(tfm, self->iv, self->pt, self->ct, LEN));
	EXPECT_EQ(0, memcmp(self->ct, self->want, LEN));
	close(tfm);
}

TEST_F(kcr_crypto, sha256_digest_is_served_and_correct)
{
	static const unsigned char abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	unsigned char out[32];
	long before;
	int tfm, i;

	tfm = alg_socket("hash", "sha256", NULL, 0);
	if (tfm < 0)
		SKIP(return, "no sha256 hash socket (%d)", tfm);
	before = hits("hash");
	for (i = 0; i < REPEAT; i++) {
		ASSERT_EQ(0, digest(tfm, "abc", 3, out));
		ASSERT_EQ(0, memcmp(out, abc, 32)) TH_LOG("repeat %d", i);
	}
	EXPECT_LT(before, hits("hash"));
	close(tfm);
}

/* What hmac(sha256) of @in under @key gives with KCR off. */
static int hmac_reference(const char *key, const char *in, unsigned char *out)
{
	int tfm, ret;

	if (kcr_write(KCR_CONFIG, "enabled=0"))
		return -1;
	tfm = alg_socket("hash", "hmac(sha256)", key, strlen(key));
	ret = tfm < 0 ? tfm : digest(tfm, in, strlen(in), out);
	if (tfm >= 0)
		close(tfm);
	kcr_write(KCR_CONFIG, "enabled=1");
	return ret;
}

TEST_F(kcr_crypto, hmac_rekey_is_never_served_stale)
{
	static const char *key1 = "first key", *key2 = "second key";
	static const char *msg = "the same message under two keys";
	unsigned char want1[32], want2[32], out[32];
	long before;
	int tfm, i;

	if (hmac_reference(key1, msg, want1) || hmac_reference(key2, msg, want2))
		SKIP(return, "no hmac(sha256) hash socket");
	ASSERT_NE(0, memcmp(want1, want2, 32));
	tfm = alg_socket("hash", "hmac(sha256)", key1, strlen(key1));
	ASSERT_LE(0, tfm);
	before = hits("hash");
	for (i = 0; i < REPEAT; i++) {
		ASSERT_EQ(0, digest(tfm, msg, strlen(msg), out));
		ASSERT_EQ(0, memcmp(out, want1, 32)) TH_LOG("repeat %d", i);
	}
	EXPECT_LT(before, hits("hash"));
	ASSERT_EQ(0, setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key2, strlen(key2)));
	for (i = 0; i < REPEAT; i++) {
		ASSERT_EQ(0, digest(tfm, msg, strlen(msg), out));
		ASSERT_EQ(0, memcmp(out, want2, 32)) TH_LOG("repeat %d", i);
	}
	close(tfm);
}

TEST_HARNESS_MAIN
