/*
 * Unit tests: single copy for large stream and seqpacket transfers
 * (src/unix/offer.c). A writer blocked for room offers the rest of its
 * send; a reader that has read everything queued copies further bytes
 * straight from the writer's memory through the port's copy_user_cross.
 *
 * Each test runs a writer (a simulated process of its own) that blocks
 * behind a full send buffer, and checks what a Linux program would see:
 * every byte once, in order (a pattern that cannot pass by accident),
 * peeks that see only queued bytes, partial reads, timeouts, signals and
 * shutdowns on the writer's side mid-transfer, a reader's close, bad
 * memory on either side, and descriptors attached to the first message.
 * It also counts the bytes copy_user_cross moved, so a test that expects
 * single copy proves it happened.
 *
 * The tests wait for real time (a writer must be blocked before the
 * reader comes), so they run without allocation-failure injection; the
 * send and receive paths' failures are injected by t_data and t_block.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "unit.h"

#define BIG		(1024 * 1024)
/* Long enough for a writer to fill the send buffer and block. */
#define SETTLE_MS	100

static atomic_long crossed;	/* bytes copy_user_cross moved */

static int
counting_cross(void *udst, void *owner, const void *usrc, size_t len)
{
	int err = ksp_port()->copy_user_cross(udst, owner, usrc, len);

	if (err == 0)
		atomic_fetch_add(&crossed, (long)len);
	return err;
}

static void
count_cross(void)
{
	ut_port_edit()->copy_user_cross = counting_cross;
	atomic_store(&crossed, 0);
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 12) + 7);
}

static unsigned char *
pattern_buf(size_t len)
{
	unsigned char *b = malloc(len);

	for (size_t i = 0; i < len && b != NULL; i++)
		b[i] = pattern(i);
	return b;
}

/* Whether @b holds the pattern from stream offset @at for @len bytes. */
static bool
is_pattern(const unsigned char *b, size_t at, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern(at + i))
			return false;
	return true;
}

struct writer {
	struct ks_sock	*so;
	const void	*buf;
	size_t		 len;
	int		 flags;
	struct ks_msghdr *msg;	/* instead of buf/len when set */
	atomic_long	 result;
	atomic_bool	 done;
};

static int
writer_main(void *p)
{
	struct writer *w = p;
	long r;

	if (w->msg != NULL)
		r = ks_sendmsg(w->so, w->msg, w->flags);
	else
		r = ut_send(w->so, w->buf, w->len, w->flags);
	atomic_store(&w->result, r);
	atomic_store(&w->done, true);
	return 0;
}

/* Starts a writer of @len pattern bytes on @so and lets it block. */
static struct ksp_proc *
start_writer(struct writer *w, struct ks_sock *so, const void *buf,
	     size_t len, int flags)
{
	struct ksp_proc *p;

	w->so = so;
	w->buf = buf;
	w->len = len;
	w->flags = flags;
	atomic_store(&w->result, 0);
	atomic_store(&w->done, false);
	p = ut_spawn(writer_main, w);
	ut_sleep_ms(SETTLE_MS);
	return p;
}

/* Reads until @want bytes or EOF/error, in reads of at most @piece;
 * checks the pattern from @at. Returns the bytes read. */
static size_t
read_pattern(struct ks_sock *so, size_t at, size_t want, size_t piece,
	     int flags, unsigned char *buf)
{
	size_t got = 0;

	while (got < want) {
		size_t n = want - got < piece ? want - got : piece;
		long r = ut_recv(so, buf, n, flags);

		if (r <= 0)
			break;
		if (!is_pattern(buf, at + got, (size_t)r)) {
			ut_fail(__FILE__, __LINE__, "wrong bytes at %zu",
				at + got);
			break;
		}
		got += (size_t)r;
	}
	return got;
}

/* One read with MSG_WAITALL of a writer's 1 MiB: every byte, in order,
 * and most of them copied once. */
static void
t_blocked_writer_copied_once(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;

	count_cross();
	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, 0);
	EQ(ut_recv(s[1], dst, BIG, KS_MSG_WAITALL), BIG);
	CHECK(is_pattern(dst, 0, BIG));
	ut_join(p);
	CHECK_EQ(atomic_load(&w.result), BIG);
	/* Only what was queued before the writer blocked went twice. */
	CHECK(atomic_load(&crossed) >= BIG - 2 * 212992);
	free(src);
	free(dst);
}

/* A peek sees what is queued, no more (a blocked Linux writer's bytes
 * are not in the queue either), and takes nothing from the writer. */
static void
t_peek_sees_queued_only(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	int inq = -1, outq = -1;

	count_cross();
	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, 0);
	EQ(ut_ioctl_int(s[1], KS_SIOCINQ, &inq), 0);
	CHECK(inq > 0 && inq < BIG);
	/* As for a blocked Linux writer: its charge is at SO_SNDBUF, poll
	 * says the reader may read and the writer may not write. */
	EQ(ut_ioctl_int(s[0], KS_SIOCOUTQ, &outq), 0);
	CHECK(outq >= 212992 && outq >= inq);
	CHECK((ks_poll(s[1], NULL) & KS_POLLIN) != 0);
	CHECK((ks_poll(s[0], NULL) & KS_POLLOUT) == 0);
	EQ(ut_recv(s[1], dst, BIG, KS_MSG_PEEK), inq);
	CHECK(is_pattern(dst, 0, (size_t)inq));
	CHECK_EQ(atomic_load(&crossed), 0);
	CHECK(!atomic_load(&w.done));
	CHECK_EQ(read_pattern(s[1], 0, BIG, BIG, 0, dst), BIG);
	ut_join(p);
	CHECK_EQ(atomic_load(&w.result), BIG);
	free(src);
	free(dst);
}

/* Reads of 10,000 bytes take the writer's bytes piece by piece. */
static void
t_partial_reads(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;

	count_cross();
	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, 0);
	CHECK_EQ(read_pattern(s[1], 0, BIG, 10000, 0, dst), BIG);
	ut_join(p);
	CHECK_EQ(atomic_load(&w.result), BIG);
	free(src);
	free(dst);
}

/*
 * A writer whose SO_SNDTIMEO ends while it offers returns what was
 * queued or taken; the reader gets exactly those bytes, then nothing.
 */
static void
t_writer_timeout(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	size_t first;
	long sent;

	count_cross();
	ut_pair(KS_SOCK_STREAM, s);
	EQ(ut_settimeo(s[0], KS_SO_SNDTIMEO, 400), 0);
	p = start_writer(&w, s[0], src, BIG, 0);
	/* A read bigger than the queue takes some of the offer. */
	first = read_pattern(s[1], 0, 500000, 500000, 0, dst);
	CHECK(first > 0);
	ut_join(p);
	sent = atomic_load(&w.result);
	CHECK(sent > (long)first && sent < BIG);
	CHECK_EQ(first + read_pattern(s[1], first, BIG, BIG,
				      KS_MSG_DONTWAIT, dst), (size_t)sent);
	ERR(ut_recv(s[1], dst, 1, KS_MSG_DONTWAIT), -KS_EAGAIN);
	free(src);
	free(dst);
}

/* A signal ends the writer's wait: it returns the bytes sent so far,
 * and the reader gets exactly those. */
static void
t_writer_interrupted(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	long sent;

	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, 0);
	if (p != NULL)
		ksp_interrupt(p);
	ut_join(p);
	sent = atomic_load(&w.result);
	CHECK(sent > 0 && sent < BIG);
	CHECK_EQ(read_pattern(s[1], 0, BIG, BIG, KS_MSG_DONTWAIT, dst),
		 (size_t)sent);
	free(src);
	free(dst);
}

/* SHUT_WR from another thread while the writer offers: the writer
 * returns its count, the reader gets those bytes and then EOF. */
static void
t_writer_shut_down_mid_transfer(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	long sent;

	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, KS_MSG_NOSIGNAL);
	OK(ks_shutdown(s[0], KS_SHUT_WR));
	ut_join(p);
	sent = atomic_load(&w.result);
	CHECK(sent > 0 && sent < BIG);
	CHECK_EQ(read_pattern(s[1], 0, BIG, BIG, 0, dst), (size_t)sent);
	EQ(ut_recv(s[1], dst, 1, 0), 0);
	free(src);
	free(dst);
}

/* The reader takes part of the offer, then closes: the writer returns
 * the bytes it got rid of (more than were queued when it blocked). */
static void
t_reader_closes_mid_transfer(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	size_t got;

	count_cross();
	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, KS_MSG_NOSIGNAL);
	got = read_pattern(s[1], 0, 600000, 600000, KS_MSG_WAITALL, dst);
	CHECK_EQ(got, 600000);
	CHECK(atomic_load(&crossed) > 0);
	ut_close(&s[1]);
	ut_join(p);
	CHECK(atomic_load(&w.result) >= (long)got &&
	      atomic_load(&w.result) < BIG);
	free(src);
	free(dst);
}

/*
 * Bad memory. The writer's buffer ends in an unmapped page: the reader
 * gets the good bytes, the writer returns their count. The reader's
 * buffer ends in one: it returns what fitted before, and the bytes it
 * could not take are read next, in order.
 */
static void
t_bad_memory_either_side(void)
{
	size_t page = 4096, len = 256 * page;
	unsigned char *map, *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	long sent, r;

	map = mmap(NULL, len + page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(map != MAP_FAILED);
	if (map == MAP_FAILED)
		return;
	for (size_t i = 0; i < len; i++)
		map[i] = pattern(i);
	munmap(map + len - page, 2 * page);
	ut_pair(KS_SOCK_STREAM, s);
	/* The reader reads until the writer has given up and nothing is
	 * left: exactly the bytes the writer reports, all good ones. */
	EQ(ut_settimeo(s[1], KS_SO_RCVTIMEO, 500), 0);
	p = start_writer(&w, s[0], map, len, 0);
	r = (long)read_pattern(s[1], 0, len, 65536, 0, dst);
	ut_join(p);
	sent = atomic_load(&w.result);
	CHECK(sent > 0 && sent <= (long)(len - page));
	CHECK_EQ(r, sent);
	ut_close(&s[0]);
	ut_close(&s[1]);
	munmap(map, len - page);

	/* The reader's side. */
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(map != MAP_FAILED);
	if (map == MAP_FAILED)
		return;
	munmap(map + page, page);
	{
		unsigned char *src = pattern_buf(BIG);
		size_t got;

		ut_pair(KS_SOCK_STREAM, s);
		p = start_writer(&w, s[0], src, BIG, 0);
		got = read_pattern(s[1], 0, 212992 * 2, 212992 * 2, 0, dst);
		r = ut_recv(s[1], map, 2 * page, 0);
		/* Partial (a first segment fitted) or EFAULT: no byte lost. */
		CHECK(r == -KS_EFAULT || (r > 0 && r <= (long)page));
		if (r > 0) {
			CHECK(is_pattern(map, got, (size_t)r));
			got += (size_t)r;
		}
		CHECK_EQ(got + read_pattern(s[1], got, BIG - got, BIG, 0, dst),
			 BIG);
		ut_join(p);
		CHECK_EQ(atomic_load(&w.result), BIG);
		free(src);
	}
	munmap(map, page);
	free(dst);
}

/* Descriptors ride on the first message: the read that meets them ends
 * there, with them; the bytes after, offered or queued, follow. */
static void
t_descriptors_with_large_send(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	union {
		char		buf[KS_CMSG_SPACE(sizeof(int))];
		struct ks_cmsghdr align;
	} c, rc;
	struct ks_cmsghdr *h = (struct ks_cmsghdr *)(void *)c.buf;
	struct ks_iovec iov = { src, BIG }, riov;
	struct ks_msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = c.buf, .msg_controllen = sizeof(c.buf),
	}, rmsg;
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	int pfd[2] = { -1, -1 }, got_fd = -1;
	long r;
	size_t got;

	EQ(ksp_pipe(pfd) < 0 ? -errno : 0, 0);
	memset(&c, 0, sizeof(c));
	h->cmsg_len = KS_CMSG_LEN(sizeof(int));
	h->cmsg_level = KS_SOL_SOCKET;
	h->cmsg_type = KS_SCM_RIGHTS;
	memcpy(((unsigned char *)h + sizeof(struct ks_cmsghdr)), &pfd[1], sizeof(int));
	ut_pair(KS_SOCK_STREAM, s);
	w.msg = &msg;
	p = start_writer(&w, s[0], NULL, 0, 0);
	riov.iov_base = dst;
	riov.iov_len = BIG;
	memset(&rmsg, 0, sizeof(rmsg));
	rmsg.msg_iov = &riov;
	rmsg.msg_iovlen = 1;
	rmsg.msg_control = rc.buf;
	rmsg.msg_controllen = sizeof(rc.buf);
	r = CALL(ks_recvmsg(s[1], &rmsg, 0));
	/* The first message only, with the descriptor. */
	CHECK(r > 0 && r < BIG);
	CHECK(is_pattern(dst, 0, r > 0 ? (size_t)r : 0));
	CHECK_EQ(rmsg.msg_controllen, KS_CMSG_SPACE(sizeof(int)));
	memcpy(&got_fd, (rc.buf + sizeof(struct ks_cmsghdr)),
	       sizeof(int));
	CHECK(got_fd >= 0);
	got = r > 0 ? (size_t)r : 0;
	CHECK_EQ(got + read_pattern(s[1], got, BIG - got, BIG, 0, dst), BIG);
	ut_join(p);
	CHECK_EQ(atomic_load(&w.result), BIG);
	if (got_fd >= 0)
		ksp_close(got_fd);
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			ksp_close(pfd[i]);
	free(src);
	free(dst);
}

/* MSG_OOB on a large send: the bytes before the last come (offered or
 * not) up to the mark; the last is the out-of-band byte. */
static void
t_oob_after_offer(void)
{
	unsigned char *src = pattern_buf(BIG), *dst = malloc(BIG);
	struct ks_sock *s[2];
	struct writer w = { 0 };
	struct ksp_proc *p;
	unsigned char oob;
	int at = 0;

	ut_pair(KS_SOCK_STREAM, s);
	p = start_writer(&w, s[0], src, BIG, KS_MSG_OOB);
	CHECK_EQ(read_pattern(s[1], 0, BIG - 1, BIG, 0, dst), BIG - 1);
	ut_join(p);
	CHECK_EQ(atomic_load(&w.result), BIG);
	EQ(ut_ioctl_int(s[1], KS_SIOCATMARK, &at), 0);
	CHECK_EQ(at, 1);
	EQ(ut_recv(s[1], &oob, 1, KS_MSG_OOB), 1);
	CHECK_EQ(oob, pattern(BIG - 1));
	free(src);
	free(dst);
}

/* -- seqpacket: a record offered whole -- */

#define RECORDS		8
#define RECLEN		100000

struct rec_writer {
	struct ks_sock	*so;
	atomic_int	 sent;		/* records sent */
	atomic_long	 last;		/* the last send's result */
};

static size_t
rec_at(int k)
{
	return (size_t)k * 1000003u;
}

static int
rec_writer_main(void *p)
{
	struct rec_writer *w = p;
	unsigned char *buf = malloc(RECLEN);

	for (int k = 0; k < RECORDS && buf != NULL; k++) {
		long r;

		for (size_t i = 0; i < RECLEN; i++)
			buf[i] = pattern(rec_at(k) + i);
		r = ut_send(w->so, buf, RECLEN, 0);
		atomic_store(&w->last, r);
		if (r != RECLEN)
			break;
		atomic_fetch_add(&w->sent, 1);
	}
	free(buf);
	return 0;
}

/*
 * Records read whole, in order, each with its own bytes, whether the
 * reader took one from the blocked writer or from the queue. Which it
 * does is a race: consuming a queued record gives the writer room, and a
 * writer that wakes first withdraws its offer and queues the record
 * (a stream reader keeps what it consumed until it has to wait, so there
 * the take is certain and the stream tests assert it); so these tests
 * assert only what a program sees.
 */
static void
t_seqpacket_records_whole(void)
{
	unsigned char *dst = malloc(2 * RECLEN);
	struct rec_writer w = { 0 };
	struct ks_sock *s[2];
	struct ksp_proc *p;

	count_cross();
	ut_pair(KS_SOCK_SEQPACKET, s);
	w.so = s[0];
	p = ut_spawn(rec_writer_main, &w);
	ut_sleep_ms(SETTLE_MS);
	for (int k = 0; k < RECORDS && ut_live(); k++) {
		int mflags = 0;

		EQ(ut_recvfrom(s[1], dst, 2 * RECLEN, 0, NULL, NULL, &mflags),
		   RECLEN);
		CHECK(is_pattern(dst, rec_at(k), RECLEN));
		CHECK_EQ(mflags & KS_MSG_TRUNC, 0);
	}
	ut_join(p);
	CHECK_EQ(atomic_load(&w.sent), RECORDS);
	free(dst);
}

/* A short buffer gets the start of an offered record and MSG_TRUNC (its
 * whole length with the MSG_TRUNC flag); the rest of it is gone, and the
 * next read starts the next record. A peek sees queued records only. */
static void
t_seqpacket_truncated_and_peeked(void)
{
	unsigned char small[1000];
	struct rec_writer w = { 0 };
	struct ks_sock *s[2];
	struct ksp_proc *p;
	int mflags = 0, inq = -1;

	count_cross();
	ut_pair(KS_SOCK_SEQPACKET, s);
	w.so = s[0];
	p = ut_spawn(rec_writer_main, &w);
	ut_sleep_ms(SETTLE_MS);
	EQ(ut_ioctl_int(s[1], KS_SIOCINQ, &inq), 0);
	/* Whole queued records (Linux sums them for seqpacket). */
	CHECK(inq >= RECLEN && inq % RECLEN == 0);
	for (int k = 0; k < RECORDS && ut_live(); k++) {
		bool real_len = k % 2 == 1;

		if (k == 0) {
			EQ(ut_recv(s[1], small, sizeof(small), KS_MSG_PEEK),
			   sizeof(small));
			CHECK(is_pattern(small, rec_at(0), sizeof(small)));
		}
		mflags = 0;
		EQ(ut_recvfrom(s[1], small, sizeof(small),
			       real_len ? KS_MSG_TRUNC : 0, NULL, NULL,
			       &mflags),
		   real_len ? RECLEN : (long)sizeof(small));
		CHECK(is_pattern(small, rec_at(k), sizeof(small)));
		CHECK((mflags & KS_MSG_TRUNC) != 0);
	}
	ut_join(p);
	CHECK_EQ(atomic_load(&w.sent), RECORDS);
}

/* A writer whose SO_SNDTIMEO ends while it offers a record sends none
 * of it: the reader gets the queued records, then EAGAIN. */
static void
t_seqpacket_writer_timeout(void)
{
	unsigned char *dst = malloc(2 * RECLEN);
	struct rec_writer w = { 0 };
	struct ks_sock *s[2];
	struct ksp_proc *p;
	int n;

	ut_pair(KS_SOCK_SEQPACKET, s);
	EQ(ut_settimeo(s[0], KS_SO_SNDTIMEO, 100), 0);
	w.so = s[0];
	p = ut_spawn(rec_writer_main, &w);
	ut_join(p);
	CHECK_EQ(atomic_load(&w.last), -KS_EAGAIN);
	n = atomic_load(&w.sent);
	CHECK(n > 0 && n < RECORDS);
	for (int k = 0; k < n && ut_live(); k++) {
		EQ(ut_recv(s[1], dst, 2 * RECLEN, KS_MSG_DONTWAIT), RECLEN);
		CHECK(is_pattern(dst, rec_at(k), RECLEN));
	}
	ERR(ut_recv(s[1], dst, 2 * RECLEN, KS_MSG_DONTWAIT), -KS_EAGAIN);
	free(dst);
}

static const struct ut_test tests[] = {
	{ "seqpacket_records_whole",	t_seqpacket_records_whole,
	  UT_NO_INJECT },
	{ "seqpacket_truncated_and_peeked", t_seqpacket_truncated_and_peeked,
	  UT_NO_INJECT },
	{ "seqpacket_writer_timeout",	t_seqpacket_writer_timeout,
	  UT_NO_INJECT },
	{ "blocked_writer_copied_once",	t_blocked_writer_copied_once,
	  UT_NO_INJECT },
	{ "peek_sees_queued_only",	t_peek_sees_queued_only, UT_NO_INJECT },
	{ "partial_reads",		t_partial_reads, UT_NO_INJECT },
	{ "writer_timeout",		t_writer_timeout, UT_NO_INJECT },
	{ "writer_interrupted",		t_writer_interrupted, UT_NO_INJECT },
	{ "writer_shut_down_mid_transfer", t_writer_shut_down_mid_transfer,
	  UT_NO_INJECT },
	{ "reader_closes_mid_transfer",	t_reader_closes_mid_transfer,
	  UT_NO_INJECT },
	{ "bad_memory_either_side",	t_bad_memory_either_side, UT_NO_INJECT },
	{ "descriptors_with_large_send", t_descriptors_with_large_send,
	  UT_NO_INJECT },
	{ "oob_after_offer",		t_oob_after_offer, UT_NO_INJECT },
};

UT_MAIN(tests)
