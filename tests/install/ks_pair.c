/*
 * Built by tests/install/tree.sh against an installed ksock, with nothing
 * but `pkg-config --cflags --libs ksock`: moves bytes over a socketpair
 * through the POSIX personality (ksp_*) and one through the object API
 * (ks_*), checks the headers' version against the one given as argv[1]
 * (pkg-config --modversion), and that nothing stays allocated.
 * Prints one line per check; exits 0 only if all pass.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <ksock/ksock.h>
#include <ksock/posix.h>
#include <ksock/version.h>

static int failed;

static void
check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	failed |= !ok;
}

int
main(int argc, char **argv)
{
	static const char msg[] = "through ksock";
	char buf[64];
	struct ks_sock *pair[2];
	struct ks_iovec iov;
	struct ks_msghdr mh;
	int sv[2];

	check(argc == 2 && strcmp(argv[1], KS_VERSION_STRING) == 0,
	      "version.h matches pkg-config --modversion");
	check(strcmp(ks_version(), KS_VERSION_STRING) == 0,
	      "ks_version() of the library matches version.h");
	check(ksp_init() == 0, "ksp_init");
	check(ksp_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0,
	      "ksp_socketpair");
	check(ksp_write(sv[0], msg, sizeof(msg)) == (ssize_t)sizeof(msg),
	      "ksp_write");
	memset(buf, 0, sizeof(buf));
	check(ksp_read(sv[1], buf, sizeof(buf)) == (ssize_t)sizeof(msg) &&
	      memcmp(buf, msg, sizeof(msg)) == 0, "ksp_read the same bytes");
	check(ksp_close(sv[0]) == 0 && ksp_close(sv[1]) == 0, "ksp_close");

	check(ks_socketpair(KS_AF_UNIX, KS_SOCK_SEQPACKET, 0, pair) == 0,
	      "ks_socketpair");
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)msg;
	iov.iov_len = sizeof(msg);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	check(ks_sendmsg(pair[1], &mh, 0) == (long)sizeof(msg), "ks_sendmsg");
	memset(buf, 0, sizeof(buf));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	check(ks_recvmsg(pair[0], &mh, 0) == (long)sizeof(msg) &&
	      memcmp(buf, msg, sizeof(msg)) == 0, "ks_recvmsg the same bytes");
	check(ks_close(pair[0]) == 0 && ks_close(pair[1]) == 0, "ks_close");
	check(ksp_fini() == 0, "ksp_fini");
	check(ksp_alloc_outstanding() == 0, "nothing stays allocated");
	return failed;
}
