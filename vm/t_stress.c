/*
 * Stress: several processes doing random socket operations at once, every
 * byte checked. Run in the VM on Linux and on ksock; the VM run's leak
 * check (vm/init) then proves ksock freed everything: no socket listed,
 * the module unloads, no allocation outstanding.
 *
 * Each worker draws its operations from its own seeded generator, so a
 * failure repeats with the same seed. Operations: a stream round trip of
 * a random length read back in random pieces; a seqpacket record; a
 * datagram to its own abstract name; a socket passed in SCM_RIGHTS and
 * used on arrival; an unreachable cycle of sockets in flight (the
 * collector's work); and a request to the echo server process, through
 * its listener, compared byte for byte.
 */
#include "harness.h"

#define WORKERS		4
#define ROUNDS		600
#define MAX_CHUNK	20000

static uint32_t
next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
fill(unsigned char *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(next(&seed) >> 11);
}

static bool
write_all(int fd, const unsigned char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads exactly @n bytes in pieces of random size. */
static bool
read_all(int fd, unsigned char *b, size_t n, uint32_t *rng)
{
	while (n > 0) {
		size_t want = 1 + next(rng) % n;
		ssize_t r = read(fd, b, want);

		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static int
send_fd(int via, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { "f", 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return (int)sendmsg(via, &m, 0);
}

static int
recv_fd(int via)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, b;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(via, &m, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static unsigned char out[MAX_CHUNK], in[MAX_CHUNK];

static void
op_stream(uint32_t *rng)
{
	size_t n = 1 + next(rng) % MAX_CHUNK;
	uint32_t seed = next(rng);
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fill(out, n, seed);
	CHECK(write_all(sv[0], out, n));
	CHECK(read_all(sv[1], in, n, rng));
	CHECK_MEM(in, out, n);
	close(sv[0]);
	close(sv[1]);
}

static void
op_seqpacket(uint32_t *rng)
{
	size_t n = next(rng) % 4096;
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	fill(out, n, next(rng));
	CHECK_EQ(send(sv[0], out, n, 0), (long)n);
	CHECK_EQ(recv(sv[1], in, sizeof(in), 0), (long)n);
	CHECK_MEM(in, out, n);
	close(sv[0]);
	close(sv[1]);
}

static void
op_dgram_named(uint32_t *rng, int id)
{
	char name[32];
	struct sockaddr_un sun;
	socklen_t len;
	size_t n = next(rng) % 2048;
	int s, c;

	snprintf(name, sizeof(name), "%s-d%d", th_unique(), id);
	len = th_addr_abstract(&sun, name, strlen(name));
	s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	c = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	CHECK_OK(bind(s, (struct sockaddr *)&sun, len));
	fill(out, n, next(rng));
	CHECK_EQ(sendto(c, out, n, 0, (struct sockaddr *)&sun, len), (long)n);
	CHECK_EQ(recv(s, in, sizeof(in), 0), (long)n);
	CHECK_MEM(in, out, n);
	close(c);
	close(s);
}

/* A socket passed over another arrives as a working end of its pair. */
static void
op_pass(uint32_t *rng)
{
	int via[2], sv[2], got;
	char b = 0;

	CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, via));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send_fd(via[0], sv[1]), 1);
	close(sv[1]);
	got = recv_fd(via[1]);
	CHECK(got >= 0);
	CHECK_EQ(send(sv[0], "p", 1, 0), 1);
	CHECK_EQ(recv(got, &b, 1, 0), 1);
	CHECK_EQ(b, 'p');
	close(got);
	close(sv[0]);
	close(via[0]);
	close(via[1]);
}

/* Each end of a pair in flight in the other's queue, then both closed:
 * only the collector can free them. */
static void
op_cycle(uint32_t *rng)
{
	int sv[2];

	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_EQ(send_fd(sv[0], sv[0]), 1);
	CHECK_EQ(send_fd(sv[1], sv[1]), 1);
	close(sv[0]);
	close(sv[1]);
}

/* A request of random length to the echo server, compared on return. */
static void
op_echo(uint32_t *rng, const struct sockaddr_un *srv, socklen_t len)
{
	uint32_t n = 1 + next(rng) % 8192;
	int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_OK(connect(c, (const struct sockaddr *)srv, len));
	fill(out, n, next(rng));
	CHECK(write_all(c, (unsigned char *)&n, sizeof(n)));
	CHECK(write_all(c, out, n));
	CHECK(read_all(c, in, n, rng));
	CHECK_MEM(in, out, n);
	close(c);
}

struct arg {
	int			id;
	struct sockaddr_un	srv;
	socklen_t		len;
	int			lfd;
};

static int
worker(void *p)
{
	struct arg *a = p;
	uint32_t rng = 0x9e3779b9u * (uint32_t)(a->id + 1);

	close(a->lfd);
	for (int i = 0; i < ROUNDS && th_failures() == 0; i++) {
		switch (next(&rng) % 6) {
		case 0: op_stream(&rng); break;
		case 1: op_seqpacket(&rng); break;
		case 2: op_dgram_named(&rng, a->id); break;
		case 3: op_pass(&rng); break;
		case 4: op_cycle(&rng); break;
		case 5: op_echo(&rng, &a->srv, a->len); break;
		}
	}
	return th_failures();
}

/* Echoes each request (a length, then that many bytes) until told to
 * stop by a request of length 0. */
static int
echo_server(void *p)
{
	struct arg *a = p;
	static unsigned char buf[8192];
	uint32_t rng = 1;

	for (;;) {
		int c = accept(a->lfd, NULL, NULL);
		uint32_t n;

		if (c < 0)
			return th_failures() + 1;
		if (!read_all(c, (unsigned char *)&n, sizeof(n), &rng) || n == 0) {
			close(c);
			break;
		}
		if (n > sizeof(buf) || !read_all(c, buf, n, &rng) ||
		    !write_all(c, buf, n))
			CHECK(false);
		close(c);
	}
	close(a->lfd);
	return th_failures();
}

static void
stress_mixed(void)
{
	struct arg srv, w[WORKERS];
	struct th_child *server, *kids[WORKERS];
	uint32_t zero = 0;
	int c;

	char name[64];

	snprintf(name, sizeof(name), "%s-echo", th_unique());
	srv.id = -1;
	srv.len = th_addr_abstract(&srv.srv, name, strlen(name));
	srv.lfd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(bind(srv.lfd, (struct sockaddr *)&srv.srv, srv.len));
	CHECK_OK(listen(srv.lfd, 64));
	server = th_fork(echo_server, &srv);
	for (int i = 0; i < WORKERS; i++) {
		w[i] = srv;
		w[i].id = i;
		kids[i] = th_fork(worker, &w[i]);
	}
	for (int i = 0; i < WORKERS; i++)
		CHECK_EQ(th_join(kids[i]), 0);
	c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK_OK(connect(c, (struct sockaddr *)&srv.srv, srv.len));
	CHECK_EQ(write(c, &zero, sizeof(zero)), (long)sizeof(zero));
	CHECK_EQ(th_join(server), 0);
	close(c);
	close(srv.lfd);
}

static const struct th_test tests[] = {
	{ "stress_mixed", stress_mixed },
};

TH_MAIN(tests)
