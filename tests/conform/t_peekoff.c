/*
 * SO_PEEK_OFF: an offset into the receive queue where MSG_PEEK starts;
 * peeks move it forward, normal reads move it back, -1 turns it off. On a
 * stream it counts bytes across writes; on datagram and seqpacket sockets
 * it counts bytes across whole messages.
 */
#include "harness.h"

static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
#define NTYPES	(sizeof(all_types) / sizeof(all_types[0]))

static int
get_off(int s)
{
	int v = -100;
	socklen_t len = sizeof(v);

	CHECK_OK(getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &v, &len));
	CHECK_EQ(len, sizeof(int));
	return v;
}

static void
set_off(int s, int v)
{
	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof(v)));
}

/*
 * Receives up to @len bytes with @flags (MSG_DONTWAIT added) and checks
 * that exactly @want came back with msg_flags @want_flags.
 */
static void
expect(int s, size_t len, int flags, const char *want, int want_flags)
{
	char buf[64];
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	memset(buf, 0, sizeof(buf));
	n = recvmsg(s, &msg, flags | MSG_DONTWAIT);
	CHECK_EQ(n, strlen(want));
	if (n == (ssize_t)strlen(want))
		CHECK_MEM(buf, want, (size_t)n);
	CHECK_EQ(msg.msg_flags, want_flags);
}

static void
peek(int s, size_t len, const char *want, int want_flags)
{
	expect(s, len, MSG_PEEK, want, want_flags);
}

static void
nothing_to_peek(int s)
{
	char c;

	CHECK_ERR(recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT), EAGAIN);
}

static void
close_pair(int sv[2])
{
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* SO_PEEK_OFF reads -1 on a new socket of every type. */
static void
peekoff_default_minus1(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int s = CHECK_OK(socket(AF_UNIX, all_types[t], 0));
		int sv[2];

		CHECK_EQ(get_off(s), -1);
		CHECK_OK(close(s));
		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(get_off(sv[0]), -1);
		CHECK_EQ(get_off(sv[1]), -1);
		close_pair(sv);
	}
}

/* The value set is read back, -1 included; Linux stores other negative
 * values too, unchecked. */
static void
peekoff_set_reads_back(void)
{
	static const int vals[] = { 0, 5, 100000, -5, -1 };

	for (size_t t = 0; t < NTYPES; t++) {
		int s = CHECK_OK(socket(AF_UNIX, all_types[t], 0));

		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			set_off(s, vals[i]);
			CHECK_EQ(get_off(s), vals[i]);
		}
		CHECK_OK(close(s));
	}
}

/* Without SO_PEEK_OFF every peek starts at the front and leaves the
 * offset at -1. */
static void
peekoff_off_peeks_from_front(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(send(sv[0], "abcd", 4, 0), 4);
		peek(sv[1], 2, "ab", t == 0 ? 0 : MSG_TRUNC);
		peek(sv[1], 2, "ab", t == 0 ? 0 : MSG_TRUNC);
		CHECK_EQ(get_off(sv[1]), -1);
		expect(sv[1], 8, 0, "abcd", 0);
		CHECK_EQ(get_off(sv[1]), -1);
		close_pair(sv);
	}
}

/* Stream: successive peeks move through the bytes; a normal read takes
 * from the front and moves the offset back by what it took, down to 0. */
static void
peekoff_stream_advance_and_back(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	set_off(sv[1], 0);
	CHECK_EQ(send(sv[0], "abcdef", 6, 0), 6);
	peek(sv[1], 2, "ab", 0);
	CHECK_EQ(get_off(sv[1]), 2);
	peek(sv[1], 2, "cd", 0);
	CHECK_EQ(get_off(sv[1]), 4);
	expect(sv[1], 3, 0, "abc", 0);
	CHECK_EQ(get_off(sv[1]), 1);
	peek(sv[1], 2, "ef", 0);
	CHECK_EQ(get_off(sv[1]), 3);
	expect(sv[1], 10, 0, "def", 0);
	CHECK_EQ(get_off(sv[1]), 0);
	close_pair(sv);
}

/* Stream: peeks with an offset join separate writes, and at the end of
 * the queued data there is nothing to peek until more is written. */
static void
peekoff_stream_across_writes(void)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
	CHECK_EQ(send(sv[0], "cd", 2, 0), 2);
	CHECK_EQ(send(sv[0], "ef", 2, 0), 2);
	set_off(sv[1], 1);
	peek(sv[1], 2, "bc", 0);
	peek(sv[1], 10, "def", 0);
	CHECK_EQ(get_off(sv[1]), 6);
	nothing_to_peek(sv[1]);
	CHECK_EQ(send(sv[0], "gh", 2, 0), 2);
	peek(sv[1], 10, "gh", 0);
	CHECK_EQ(get_off(sv[1]), 8);
	expect(sv[1], 10, 0, "abcdefgh", 0);
	CHECK_EQ(get_off(sv[1]), 0);
	close_pair(sv);
}

/* Datagram and seqpacket: the offset walks through a message (a short
 * peek gets MSG_TRUNC) and on into the next; a normal read takes a whole
 * message from the front and moves the offset back by its length. */
static void
peekoff_messages_advance_and_back(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < 2; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
		CHECK_EQ(send(sv[0], "abcd", 4, 0), 4);
		CHECK_EQ(send(sv[0], "ef", 2, 0), 2);
		set_off(sv[1], 0);
		peek(sv[1], 2, "ab", MSG_TRUNC);
		CHECK_EQ(get_off(sv[1]), 2);
		peek(sv[1], 2, "cd", 0);
		CHECK_EQ(get_off(sv[1]), 4);
		peek(sv[1], 10, "ef", 0);
		CHECK_EQ(get_off(sv[1]), 6);
		nothing_to_peek(sv[1]);
		expect(sv[1], 10, 0, "abcd", 0);
		CHECK_EQ(get_off(sv[1]), 2);
		nothing_to_peek(sv[1]);
		expect(sv[1], 10, 0, "ef", 0);
		CHECK_EQ(get_off(sv[1]), 0);
		close_pair(sv);
	}
}

/* Datagram and seqpacket: an offset set past the first message starts
 * the peek inside a later one. */
static void
peekoff_messages_start_inside_later(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t t = 0; t < 2; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
		CHECK_EQ(send(sv[0], "abc", 3, 0), 3);
		CHECK_EQ(send(sv[0], "defg", 4, 0), 4);
		set_off(sv[1], 4);
		peek(sv[1], 10, "efg", 0);
		CHECK_EQ(get_off(sv[1]), 7);
		close_pair(sv);
	}
}

/* Setting -1 again turns the offset off: peeks restart at the front. */
static void
peekoff_minus1_turns_off(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		CHECK_EQ(send(sv[0], "abcd", 4, 0), 4);
		set_off(sv[1], 0);
		peek(sv[1], 2, "ab", t == 0 ? 0 : MSG_TRUNC);
		set_off(sv[1], -1);
		peek(sv[1], 3, "abc", t == 0 ? 0 : MSG_TRUNC);
		CHECK_EQ(get_off(sv[1]), -1);
		expect(sv[1], 10, 0, "abcd", 0);
		CHECK_EQ(get_off(sv[1]), -1);
		close_pair(sv);
	}
}

/* An offset set on an empty queue applies to data that arrives later. */
static void
peekoff_set_before_data(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, all_types[t], 0, sv));
		set_off(sv[1], 2);
		CHECK_EQ(send(sv[0], "wxyz", 4, 0), 4);
		peek(sv[1], 10, "yz", 0);
		CHECK_EQ(get_off(sv[1]), 4);
		close_pair(sv);
	}
}

/* With SO_PEEK_OFF on, a peek passes over an empty datagram or record
 * that an earlier peek returned (Linux marks it peeked), so walking the
 * queue by peeking does not stop at it for ever; a read still gets it. */
static void
peekoff_messages_skip_peeked_empty(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_SEQPACKET };
	char buf[8];

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		int sv[2], off = 0;

		CHECK_OK(socketpair(AF_UNIX, types[t], 0, sv));
		CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &off,
				    sizeof(off)));
		CHECK_EQ(send(sv[0], "", 0, 0), 0);
		CHECK_EQ(send(sv[0], "ab", 2, 0), 2);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), 0);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), 2);
		CHECK_MEM(buf, "ab", 2);
		CHECK_ERR(recv(sv[1], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT),
			  EAGAIN);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
		CHECK_EQ(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 2);
		CHECK_OK(close(sv[0]));
		CHECK_OK(close(sv[1]));
	}
}

static const struct th_test tests[] = {
	{ "peekoff_default_minus1", peekoff_default_minus1 },
	{ "peekoff_set_reads_back", peekoff_set_reads_back },
	{ "peekoff_off_peeks_from_front", peekoff_off_peeks_from_front },
	{ "peekoff_stream_advance_and_back", peekoff_stream_advance_and_back },
	{ "peekoff_stream_across_writes", peekoff_stream_across_writes },
	{ "peekoff_messages_advance_and_back",
	  peekoff_messages_advance_and_back },
	{ "peekoff_messages_start_inside_later",
	  peekoff_messages_start_inside_later },
	{ "peekoff_minus1_turns_off", peekoff_minus1_turns_off },
	{ "peekoff_set_before_data", peekoff_set_before_data },
	{ "peekoff_messages_skip_peeked_empty",
	  peekoff_messages_skip_peeked_empty },
};

TH_MAIN(tests)
