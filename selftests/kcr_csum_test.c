// SPDX-License-Identifier: GPL-2.0
/*
 * Internet checksums served from KCR, over UDP from one network namespace
 * to another through a veth pair with transmit checksum offload off, so
 * that the stack computes every checksum itself: the sender's
 * csum_and_copy_from_user() of a buffer marked with madvise(MADV_KCR)
 * (domain "csum_copy", keyed by the buffer's identity) and the receiver's
 * verification with skb_checksum() (domain "csum", keyed by content, for
 * the process that asks with FIONREAD).
 *
 * The same payload is sent again and again, then a payload that changes
 * between sends: every datagram must arrive, hold what the buffer held when
 * it was sent, and pass its checksum (Udp InCsumErrors stays 0). Sums are
 * kept for the process that verifies them: receivers in two namespaces
 * verifying the same datagrams never share them.
 *
 * Run as root on a kernel with CONFIG_KCR_CSUM, CONFIG_NET_NS and
 * CONFIG_VETH; skips otherwise.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "kcr_lib.h"

#define PAYLOAD		1400
#define SENDS		200
#define CHANGE_EVERY	10
#define PORT		7777
#define TX_IF		"kcrtx0"
#define RX_IF		"kcrrx0"
#define TX_ADDR		"10.211.0.1"
#define RX_ADDR		"10.211.0.2"

/* Append attribute @type with @len bytes of @data to the message @nh. */
static struct rtattr *nl_put(struct nlmsghdr *nh, int type, const void *data,
			     size_t len)
{
	struct rtattr *rta = (void *)nh + NLMSG_ALIGN(nh->nlmsg_len);

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

/* Close the nest @nest, opened with nl_put(), after what follows it. */
static void nl_end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (void *)nh + nh->nlmsg_len - (void *)nest;
}

/* Send @nh to rtnetlink and return the error of its ack: 0 or -errno. */
static int rtnl_request(struct nlmsghdr *nh)
{
	char buf[1024];
	struct nlmsghdr *ack = (void *)buf;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int err = -EIO;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (send(fd, nh, nh->nlmsg_len, 0) < 0) {
		err = -errno;
	} else {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
		    ack->nlmsg_type == NLMSG_ERROR)
			err = ((struct nlmsgerr *)NLMSG_DATA(ack))->error;
	}
	close(fd);
	return err;
}

/*
 * Create the veth pair @name - @peer, with @peer in the network namespace
 * @peer_netns. Return 0 or -errno.
 */
static int veth_create(const char *name, const char *peer, int peer_netns)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[512];
	} req = {
		.nh = {
			.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_NEWLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK |
				       NLM_F_CREATE | NLM_F_EXCL,
		},
	};
	struct ifinfomsg peer_ifi = {};
	struct rtattr *info, *data, *peer_info;
	__u32 fd = peer_netns;

	nl_put(&req.nh, IFLA_IFNAME, name, strlen(name) + 1);
	info = nl_put(&req.nh, IFLA_LINKINFO, NULL, 0);
	nl_put(&req.nh, IFLA_INFO_KIND, "veth", strlen("veth"));
	data = nl_put(&req.nh, IFLA_INFO_DATA, NULL, 0);
	peer_info = nl_put(&req.nh, VETH_INFO_PEER, &peer_ifi, sizeof(peer_ifi));
	nl_put(&req.nh, IFLA_IFNAME, peer, strlen(peer) + 1);
	nl_put(&req.nh, IFLA_NET_NS_FD, &fd, sizeof(fd));
	nl_end(&req.nh, peer_info);
	nl_end(&req.nh, data);
	nl_end(&req.nh, info);
	return rtnl_request(&req.nh);
}

/* ioctl(@req) on @ifr for @ifname; return 0 or -errno. */
static int if_ioctl(int fd, unsigned long req, const char *ifname,
		    struct ifreq *ifr)
{
	strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
	return ioctl(fd, req, ifr) ? -errno : 0;
}

static int if_set_addr(int fd, const char *ifname, unsigned long req,
		       const char *addr)
{
	struct ifreq ifr = {};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	return if_ioctl(fd, req, ifname, &ifr);
}

/* Switch transmit checksum offload of @ifname off and check that it is. */
static int if_tx_csum_off(int fd, const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr = { .ifr_data = (void *)&ev };
	int err = if_ioctl(fd, SIOCETHTOOL, ifname, &ifr);

	if (err)
		return err;
	ev.cmd = ETHTOOL_GTXCSUM;
	err = if_ioctl(fd, SIOCETHTOOL, ifname, &ifr);
	return err ?: ev.data ? -EOPNOTSUPP : 0;
}

/*
 * Bring @ifname of the current network namespace up with @addr/24 and
 * transmit checksum offload off. Return 0 or -errno.
 */
static int if_setup(const char *ifname, const char *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;
	struct ifreq ifr = {};

	if (fd < 0)
		return -errno;
	err = if_set_addr(fd, ifname, SIOCSIFADDR, addr) ?:
	      if_set_addr(fd, ifname, SIOCSIFNETMASK, "255.255.255.0") ?:
	      if_tx_csum_off(fd, ifname) ?:
	      if_ioctl(fd, SIOCGIFFLAGS, ifname, &ifr);
	if (!err) {
		ifr.ifr_flags |= IFF_UP;
		err = if_ioctl(fd, SIOCSIFFLAGS, ifname, &ifr);
	}
	close(fd);
	return err;
}

/* A new network namespace for the calling task, as an fd, or -errno. */
static int new_netns(void)
{
	int fd;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Field @name of the Udp lines of /proc/net/snmp, or -1. */
static long udp_snmp(const char *name)
{
	char buf[8192], *names, *values, *n, *v, *nsave, *vsave;

	if (kcr_read("/proc/net/snmp", buf, sizeof(buf)) < 0)
		return -1;
	names = strstr(buf, "\nUdp: ");
	values = names ? strstr(names + 1, "\nUdp: ") : NULL;
	if (!values)
		return -1;
	*values++ = '\0';
	values[strcspn(values, "\n")] = '\0';
	for (n = strtok_r(names + 1, " ", &nsave),
	     v = strtok_r(values, " ", &vsave); n && v;
	     n = strtok_r(NULL, " ", &nsave), v = strtok_r(NULL, " ", &vsave)) {
		if (!strcmp(n, name))
			return atol(v);
	}
	return -1;
}

FIXTURE(kcr_csum) {
	struct kcr_saved_config saved;
	int tx_netns, rx_netns;
	int tx, rx;		/* UDP sockets in the two namespaces */
	char *buf;		/* the payload, marked with MADV_KCR */
	struct sockaddr_in to;
};

/* Counter @name of the receiver's Udp statistics, or -1. */
static long rx_udp_snmp(FIXTURE_DATA(kcr_csum) *self, const char *name)
{
	long val = -1;

	if (!setns(self->rx_netns, CLONE_NEWNET)) {
		val = udp_snmp(name);
		if (setns(self->tx_netns, CLONE_NEWNET))
			val = -1;
	}
	return val;
}

/*
 * A UDP socket of the current network namespace, bound to RX_ADDR. Not
 * blocking: poll() on a blocking UDP socket verifies the first datagram
 * itself, and KCR caches only what FIONREAD verifies.
 */
static int rx_socket(FIXTURE_DATA(kcr_csum) *self)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&self->to, sizeof(self->to))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

FIXTURE_SETUP(kcr_csum)
{
	const char *why = kcr_unavailable();
	long page = getpagesize();
	int err;

	if (why)
		SKIP(return, "%s", why);
	if (kcr_domain_stat("csum_copy", "lookups") < 0)
		SKIP(return, "no KCR csum_copy statistics");
	self->buf = mmap(NULL, page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	if (madvise(self->buf, page, MADV_KCR))
		SKIP(return, "no MADV_KCR (errno %d)", errno);

	/* Receiver first, then the sender's namespace, which we stay in. */
	self->rx_netns = new_netns();
	if (self->rx_netns < 0)
		SKIP(return, "no network namespaces (%d)", self->rx_netns);
	self->tx_netns = new_netns();
	ASSERT_LE(0, self->tx_netns);
	err = veth_create(TX_IF, RX_IF, self->rx_netns);
	if (err)
		SKIP(return, "cannot create a veth pair (%d)", err);
	ASSERT_EQ(0, if_setup(TX_IF, TX_ADDR));

	self->to.sin_family = AF_INET;
	self->to.sin_port = htons(PORT);
	inet_pton(AF_INET, RX_ADDR, &self->to.sin_addr);
	ASSERT_EQ(0, setns(self->rx_netns, CLONE_NEWNET));
	ASSERT_EQ(0, if_setup(RX_IF, RX_ADDR));
	self->rx = rx_socket(self);
	ASSERT_LE(0, self->rx);
	ASSERT_EQ(0, setns(self->tx_netns, CLONE_NEWNET));
	self->tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, self->tx);
	ASSERT_EQ(0, rx_udp_snmp(self, "InCsumErrors"));

	ASSERT_EQ(0, kcr_serve_at_once(&self->saved));
}

FIXTURE_TEARDOWN(kcr_csum)
{
	kcr_config_restore(&self->saved);
}

static void fill(char *p, int pattern)
{
	for (int i = 0; i < PAYLOAD; i++)
		p[i] = pattern * 37 + i * 13;
}

/*
 * Send the payload once and receive it. Return 1 if the datagram arrived
 * with the bytes the buffer holds, 0 if it did not.
 */
static int send_and_receive(FIXTURE_DATA(kcr_csum) *self)
{
	struct pollfd pfd = { .fd = self->rx, .events = POLLIN };
	char out[PAYLOAD + 1];
	int len;

	if (sendto(self->tx, self->buf, PAYLOAD, 0,
		   (struct sockaddr *)&self->to, sizeof(self->to)) != PAYLOAD)
		return 0;
	if (poll(&pfd, 1, 5000) != 1)
		return 0;
	/*
	 * FIONREAD verifies the checksum of the datagram at the head of the
	 * queue with skb_checksum(), and drops the datagram if it is bad.
	 */
	if (ioctl(self->rx, FIONREAD, &len) || len != PAYLOAD)
		return 0;
	return recv(self->rx, out, sizeof(out), MSG_DONTWAIT) == PAYLOAD &&
	       !memcmp(out, self->buf, PAYLOAD);
}

/* Send the payload @count times; return how many datagrams came intact. */
static int send_and_receive_n(FIXTURE_DATA(kcr_csum) *self, int count)
{
	int good = 0;

	for (int i = 0; i < count; i++)
		good += send_and_receive(self);
	return good;
}

TEST_F(kcr_csum, unchanged_buffer_reuses_its_sum)
{
	long hits = kcr_hits("csum_copy");

	fill(self->buf, 0);
	EXPECT_EQ(SENDS, send_and_receive_n(self, SENDS));
	EXPECT_EQ(0, rx_udp_snmp(self, "InCsumErrors"));
	EXPECT_LT(hits, kcr_hits("csum_copy"));
}

/*
 * A changed buffer is summed again, never served a stale sum: the receiver
 * would drop a datagram with a wrong one. All bytes change, then one bit.
 */
TEST_F(kcr_csum, changed_buffer_is_summed_again)
{
	long hits = kcr_hits("csum_copy");
	int good = 0;

	fill(self->buf, 0);
	ASSERT_EQ(CHANGE_EVERY, send_and_receive_n(self, CHANGE_EVERY));
	ASSERT_LT(hits, kcr_hits("csum_copy"));
	for (int i = 0; i < SENDS; i++) {
		if (i % CHANGE_EVERY == 0)
			fill(self->buf, 1 + i / CHANGE_EVERY);
		else if (i % CHANGE_EVERY == CHANGE_EVERY / 2)
			self->buf[i * 7 % PAYLOAD] ^= 1;
		good += send_and_receive(self);
	}
	EXPECT_EQ(SENDS, good);
	EXPECT_EQ(0, rx_udp_snmp(self, "InCsumErrors"));
}

/* The receiver verifies the same datagram again and again. */
TEST_F(kcr_csum, receiver_finds_repeated_sums)
{
	long lookups = kcr_domain_stat("csum", "lookups");
	long hits = kcr_hits("csum");

	fill(self->buf, 0);
	EXPECT_EQ(SENDS, send_and_receive_n(self, SENDS));
	EXPECT_EQ(0, rx_udp_snmp(self, "InCsumErrors"));
	EXPECT_LT(lookups, kcr_domain_stat("csum", "lookups"));
	EXPECT_LT(hits, kcr_hits("csum"))
		TH_LOG("csum: %ld lookups, %ld misses, %ld stores",
		       kcr_domain_stat("csum", "lookups"),
		       kcr_domain_stat("csum", "misses"),
		       kcr_domain_stat("csum", "stores"));
}

/*
 * Two pairs of namespaces with the same addresses: the datagrams the two
 * receivers verify are byte for byte the same. Each receiver is a process
 * of its own, as receivers in two namespaces would be. A sum is kept for
 * the process that verified it: the other's first datagram is a miss, its
 * second a hit.
 */
struct link {
	int tx_netns, rx_netns;
	int tx, rx;
	pid_t receiver;
	int go[2], done[2];
};

FIXTURE(kcr_csum_netns) {
	struct kcr_saved_config saved;
	struct link link[2];
	struct sockaddr_in to;
	char payload[PAYLOAD];
};

/* Set up namespaces, veth pair and sockets of @l; stay in its sender's. */
static int link_setup(FIXTURE_DATA(kcr_csum_netns) *self, struct link *l)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(PORT + 1) };

	inet_pton(AF_INET, TX_ADDR, &from.sin_addr);
	l->receiver = -1;
	l->rx_netns = new_netns();
	if (l->rx_netns < 0)
		return l->rx_netns;
	l->tx_netns = new_netns();
	if (l->tx_netns < 0 || veth_create(TX_IF, RX_IF, l->rx_netns) ||
	    if_setup(TX_IF, TX_ADDR) || setns(l->rx_netns, CLONE_NEWNET) ||
	    if_setup(RX_IF, RX_ADDR))
		return -1;
	/* Not blocking: see rx_socket(). */
	l->rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->rx < 0 || bind(l->rx, (struct sockaddr *)&self->to, sizeof(self->to)) ||
	    setns(l->tx_netns, CLONE_NEWNET))
		return -1;
	/* The same source too: the two links carry the same datagrams. */
	l->tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->tx < 0 || bind(l->tx, (struct sockaddr *)&from, sizeof(from)))
		return -1;
	return 0;
}

/*
 * The receiving process of @l: for each byte on go, verify and read one
 * datagram (FIONREAD verifies its checksum) and answer 1 if it came intact.
 */
static void receive_loop(FIXTURE_DATA(kcr_csum_netns) *self, struct link *l)
{
	struct pollfd pfd = { .fd = l->rx, .events = POLLIN };
	char out[PAYLOAD + 1], c;
	int len;

	while (read(l->go[0], &c, 1) == 1) {
		c = poll(&pfd, 1, 5000) == 1 && !ioctl(l->rx, FIONREAD, &len) &&
		    len == PAYLOAD &&
		    recv(l->rx, out, sizeof(out), MSG_DONTWAIT) == PAYLOAD &&
		    !memcmp(out, self->payload, PAYLOAD);
		if (write(l->done[1], &c, 1) != 1)
			break;
	}
	_exit(0);
}

static int start_receiver(FIXTURE_DATA(kcr_csum_netns) *self, struct link *l)
{
	if (pipe(l->go) || pipe(l->done))
		return -1;
	l->receiver = fork();
	if (l->receiver < 0)
		return -1;
	if (!l->receiver)
		receive_loop(self, l);
	close(l->go[0]);
	close(l->done[1]);
	return 0;
}

FIXTURE_SETUP(kcr_csum_netns)
{
	const char *why = kcr_unavailable();
	int err;

	self->link[0].receiver = -1;
	self->link[1].receiver = -1;
	if (why)
		SKIP(return, "%s", why);
	if (kcr_domain_stat("csum", "lookups") < 0)
		SKIP(return, "no KCR csum statistics");
	self->to.sin_family = AF_INET;
	self->to.sin_port = htons(PORT);
	inet_pton(AF_INET, RX_ADDR, &self->to.sin_addr);
	ASSERT_EQ(0, kcr_stay_on_cpu0());
	for (int i = 0; i < PAYLOAD; i++)
		self->payload[i] = i * 29 + 3;
	for (int i = 0; i < 2; i++) {
		err = link_setup(self, &self->link[i]);
		if (err == -EPERM || err == -EINVAL)
			SKIP(return, "no network namespaces (%d)", err);
		ASSERT_EQ(0, err);
		ASSERT_EQ(0, start_receiver(self, &self->link[i]));
	}
	ASSERT_EQ(0, kcr_serve_at_once(&self->saved));
}

FIXTURE_TEARDOWN(kcr_csum_netns)
{
	for (int i = 0; i < 2; i++) {
		if (self->link[i].receiver > 0) {
			kill(self->link[i].receiver, SIGKILL);
			waitpid(self->link[i].receiver, NULL, 0);
		}
	}
	kcr_config_restore(&self->saved);
}

/* Send the payload over @l and have its receiver verify it: 1 if intact. */
static int link_round_trip(FIXTURE_DATA(kcr_csum_netns) *self, struct link *l)
{
	char c = 0;

	if (sendto(l->tx, self->payload, PAYLOAD, 0, (struct sockaddr *)&self->to,
		   sizeof(self->to)) != PAYLOAD ||
	    write(l->go[1], &c, 1) != 1 || read(l->done[0], &c, 1) != 1)
		return 0;
	return c;
}

TEST_F(kcr_csum_netns, namespaces_never_share_sums)
{
	long hits, lookups;

	for (int i = 0; i < 4; i++)
		ASSERT_EQ(1, link_round_trip(self, &self->link[0]));
	hits = kcr_hits("csum");
	ASSERT_EQ(1, link_round_trip(self, &self->link[0]));
	ASSERT_LT(hits, kcr_hits("csum"));

	/* The other namespace verifies the same bytes: not from the first's. */
	hits = kcr_hits("csum");
	lookups = kcr_domain_stat("csum", "lookups");
	ASSERT_EQ(1, link_round_trip(self, &self->link[1]));
	EXPECT_LT(lookups, kcr_domain_stat("csum", "lookups"));
	EXPECT_EQ(hits, kcr_hits("csum"));
	/* Its own repeats hit. */
	ASSERT_EQ(1, link_round_trip(self, &self->link[1]));
	EXPECT_LT(hits, kcr_hits("csum"));
}

TEST_HARNESS_MAIN
