/*
 * The socket listing: with ksock owning PF_UNIX, /proc/net/ksock_unix
 * lists the sockets as Linux's /proc/net/unix does (which then no longer
 * sees them). Run in the VM on both; on Linux it reads /proc/net/unix,
 * so Linux is the oracle for every field checked: flags, type, state,
 * inode (the number fstat gives) and name.
 */
#include "harness.h"

struct entry {
	unsigned	flags, type, st;
	unsigned long	ino;
	char		path[128];
	bool		found;
};

static const char *
listing(void)
{
	return access("/proc/net/ksock_unix", R_OK) == 0 ?
	       "/proc/net/ksock_unix" : "/proc/net/unix";
}

/* Finds the line of the socket with inode @want. */
static struct entry
find_ino(unsigned long want)
{
	struct entry e = { 0 };
	char line[512];
	FILE *f;

	if ((f = fopen(listing(), "r")) == NULL)
		return e;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned refs, proto, flags, type, sst;
		unsigned long ino;
		int n = 0;

		if (sscanf(line, "%*s %x %x %x %x %x %lu%n", &refs, &proto,
			   &flags, &type, &sst, &ino, &n) != 6 ||
		    ino != want)
			continue;
		e.flags = flags;
		e.type = type;
		e.st = sst;
		e.ino = ino;
		e.found = true;
		if (line[n] == ' ')
			n++;
		snprintf(e.path, sizeof(e.path), "%s", line + n);
		e.path[strcspn(e.path, "\n")] = 0;
		break;
	}
	fclose(f);
	return e;
}

/* Finds the line of the socket behind @fd. */
static struct entry
find(int fd)
{
	struct stat st;
	struct entry none = { 0 };

	if (fstat(fd, &st) < 0)
		return none;
	return find_ino(st.st_ino);
}

/* A listener bound to a path: the accept flag, unconnected, its path. */
static void
listener_line(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_path(&sun, "lst");
	int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	struct entry e;

	CHECK_OK(bind(l, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(l, 3));
	e = find(l);
	CHECK(e.found);
	CHECK_EQ(e.flags, 0x10000);
	CHECK_EQ(e.type, SOCK_STREAM);
	CHECK_EQ(e.st, 1);
	CHECK(strcmp(e.path, "lst") == 0);
	close(l);
	CHECK_OK(unlink("lst"));
}

/* A connected pair of each type: connected, no name, the right type. */
static void
pair_lines(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

	for (size_t i = 0; i < 3; i++) {
		int sv[2];

		CHECK_OK(socketpair(AF_UNIX, types[i], 0, sv));
		for (int j = 0; j < 2; j++) {
			struct entry e = find(sv[j]);

			CHECK(e.found);
			CHECK_EQ(e.type, types[i]);
			CHECK_EQ(e.st, 3);
			CHECK_EQ(e.flags, 0);
			CHECK_EQ(e.path[0], 0);
		}
		close(sv[0]);
		close(sv[1]);
	}
}

/* An abstract name prints with '@' for each NUL; a closed socket goes. */
static void
abstract_line_and_close(void)
{
	struct sockaddr_un sun;
	socklen_t len = th_addr_abstract(&sun, "a\0b", 3);
	int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
	struct entry e;
	struct stat st;

	CHECK_OK(bind(s, (struct sockaddr *)&sun, len));
	e = find(s);
	CHECK(e.found);
	CHECK(strcmp(e.path, "@a@b") == 0);
	CHECK_EQ(e.st, 1);
	CHECK_OK(fstat(s, &st));
	close(s);
	CHECK(!find_ino(st.st_ino).found);
}

static const struct th_test tests[] = {
	{ "listener_line", listener_line },
	{ "pair_lines", pair_lines },
	{ "abstract_line_and_close", abstract_line_and_close },
};

TH_MAIN(tests)
