/*
 * libFuzzer target for ksockd's request decoder and the calls behind it
 * (port/ksockd/serve.c), without the sockets and the shared memory of a
 * real server: two clients whose regions are this program's memory get
 * the input's requests, in the input's order, on the input's slots.
 *
 * Input: one byte n, then records. n % 64, when not 0, makes ksock's
 * n-th allocation from there on fail (ksp_alloc_fail_at), and n / 64,
 * when not 0, ksockd's own (a parked call, a poll's arrays, a
 * hand-over), so the failure paths are fuzzed too. Records are
 *   1 byte         bit 3: which client; bits 0-2: the slot; bit 4:
 *                  after the request, a CANCEL doorbell for the slot
 *                  (bit 5: with KSD_BELL_RESTART), as a signal in the
 *                  client rings it; bit 6: the doorbell carries a
 *                  directory ("/", O_PATH) and bit 7 a pipe's read
 *                  end, as KSD_F_CWD and KSD_F_KFDS requests bring them
 *                  (what the request does not take is closed, as the
 *                  server's loop closes it)
 *   struct ksd_req the request, as a client would write it (any bytes)
 *   2 bytes        n: its low 15 bits a length, then that many bytes
 *                  copied to the start of the slot's window (data,
 *                  option values, poll entries), or with the top bit
 *                  set to its control area (control messages, which
 *                  are otherwise zeros)
 * A doorbell for a slot that is busy (a parked call) breaks the protocol:
 * the server drops the client, and so does this target (the client is
 * freed and a new one takes its place). After the last record both
 * clients and every hand-over are freed, and then nothing may be left:
 * no ksock allocation, no object of ksockd's, no kernel descriptor;
 * otherwise the target aborts, which libFuzzer reports.
 *
 * Socket addresses are made abstract before a request runs, so a
 * fuzzed bind makes no node on the filesystem. Each client has a
 * bootstrap connection (a socketpair whose far end is never read), so
 * KSD_NOTIFY and KSD_WATCH make their sockets as in a real server.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ksock/posix.h>

#include "../port/ksockd/ksockd.h"

static struct ksd_shm *shm[2];
static int boot[2][2];		/* each client's bootstrap socketpair */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sigset_t pipe;

	/* As in ksockd's main(): ksock signals SIGPIPE to the sending
	 * thread where Linux would, and serve.c takes it for the client
	 * (sigpipe_taken); blocked, it never ends the fuzzer. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe, NULL);
	if (ksp_init() < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		shm[i] = calloc(1, sizeof(struct ksd_shm));
		if (shm[i] == NULL)
			abort();
	}
	return 0;
}

static struct ksd_client *
client(int i)
{
	struct ksd_client *c = ksd__client_new(1000 + i, 1000, 1000, 022);

	if (c == NULL) {
		/* An injected failure: the harness's clients are not
		 * what is fuzzed. */
		ksd__obj_fail_at(0);
		c = ksd__client_new(1000 + i, 1000, 1000, 022);
	}
	if (c == NULL)
		abort();
	c->shm = shm[i];
	/* A bootstrap connection whose far end nobody reads, so that what
	 * the server sends there (a notifier's end, a watch's) goes
	 * somewhere, until its queue is full. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, boot[i]) == 0)
		c->sock = boot[i][0];
	else
		boot[i][0] = boot[i][1] = -1;
	return c;
}

/* Frees client @i and closes its bootstrap connection (what is queued
 * there, descriptors in flight too, goes with it). */
static void
client_drop(struct ksd_client *c, int i)
{
	ksd__client_free(c);
	if (boot[i][0] >= 0) {
		close(boot[i][0]);
		close(boot[i][1]);
	}
}

/* An AF_UNIX address in @q becomes abstract (sun_path[0] = 0). */
static void
abstract_only(struct ksd_req *q)
{
	if (q->addrlen > 2 && q->addrlen <= KSD_INLINE)
		q->inl[2] = 0;
}

/* The kernel descriptors a doorbell brings (bits 6 and 7 of a record). */
static void
bell_fds(struct ksd_client *c, unsigned rec)
{
	int p[2];

	c->nbell_fd = 0;
	c->bell_trunc = false;
	if (rec & 0x40) {
		int d = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (d >= 0)
			c->bell_fd[c->nbell_fd++] = d;
	}
	if ((rec & 0x80) && pipe2(p, O_CLOEXEC) == 0) {
		close(p[1]);
		c->bell_fd[c->nbell_fd++] = p[0];
	}
}

/* The lowest descriptor number free: an input that leaves a kernel
 * descriptor open (a doorbell's, one in flight, a notifier) moves it. */
static int
lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* A CANCEL doorbell for @slot: a parked call ends (or, restarted,
 * stays); an answered one is left alone. Never a protocol error. */
static void
cancel_bell(struct ksd_client *c, unsigned slot, bool restart)
{
	uint32_t bell = slot | KSD_BELL_CANCEL |
			(restart ? KSD_BELL_RESTART : 0);

	if (ksd__bell(c, bell) < 0)
		abort();
	ksd__run_ready();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int free_fd = lowest_free_fd();
	struct ksd_client *c[2] = { client(0), client(1) };
	size_t off = 1;

	if (size == 0)
		goto free_clients;
	ksp_alloc_fail_at(data[0] % 64);
	ksd__obj_fail_at(data[0] / 64);

	while (size - off >= 1 + sizeof(struct ksd_req) + 2) {
		unsigned rec = data[off];
		int err;
		unsigned who = (rec >> 3) & 1, slot = rec & 7;
		struct ksd_req q;
		uint16_t n;

		memcpy(&q, data + off + 1, sizeof(q));
		off += 1 + sizeof(q);
		memcpy(&n, data + off, 2);
		off += 2;
		bool ctl = (n & 0x8000) != 0;
		unsigned char *w = shm[who]->window[slot];

		n &= 0x7fff;
		if (n > size - off)
			n = (uint16_t)(size - off);
		memset(w + KSD_DATA_MAX, 0, KSD_CTL_MAX);
		if (ctl && n > KSD_CTL_MAX)
			n = KSD_CTL_MAX;
		memcpy(ctl ? w + KSD_DATA_MAX : w, data + off, n);
		off += n;
		abstract_only(&q);
		memcpy(&shm[who]->slot[slot].req, &q, sizeof(q));
		bell_fds(c[who], rec);
		err = ksd__bell(c[who], slot);
		ksd__bell_fds_close(c[who]);
		if (err < 0) {
			client_drop(c[who], (int)who);
			c[who] = client((int)who);
		}
		ksd__run_ready();
		if (rec & 0x10)
			cancel_bell(c[who], slot, (rec & 0x20) != 0);
	}
	ksp_alloc_fail_at(0);
	ksd__obj_fail_at(0);
free_clients:
	client_drop(c[0], 0);
	client_drop(c[1], 1);
	ksd__handovers_free();
	if (ksd__objects() != 0 || ksp_alloc_outstanding() != 0) {
		fprintf(stderr, "left allocated: %ld objects, %ld ksock\n",
			ksd__objects(), ksp_alloc_outstanding());
		abort();
	}
	if (lowest_free_fd() != free_fd) {
		fprintf(stderr, "left open: descriptor %d\n", free_fd);
		abort();
	}
	return 0;
}
