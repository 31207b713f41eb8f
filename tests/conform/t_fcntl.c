/*
 * fcntl and ioctl on a socket for what its file answers: the F_SETFL
 * flags, F_SETSIG, record locks, leases, F_NOTIFY, FIOASYNC, the owner
 * ioctls, FIOCLEX, and the netdevice ioctls that Linux answers on any
 * socket.
 */
#include <net/if.h>

#include "harness.h"

/* F_SETFL keeps O_APPEND, O_ASYNC and O_NOATIME beside O_NONBLOCK, drops
 * the access mode and creation flags, and refuses O_DIRECT. */
static void
fcntl_setfl_flags(void)
{
	static const struct { int set, want; } cases[] = {
		{ O_NONBLOCK | O_APPEND, O_NONBLOCK | O_APPEND },
		{ O_APPEND | O_RDONLY | O_CREAT | O_TRUNC, O_APPEND },
		{ O_ASYNC, O_ASYNC },
		{ O_NOATIME | O_NONBLOCK, O_NOATIME | O_NONBLOCK },
		{ 0, 0 },
	};
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_OK(fcntl(fd, F_SETFL, cases[i].set));
		CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR | cases[i].want);
	}
	CHECK_OK(fcntl(fd, F_SETFL, O_APPEND));
	CHECK_ERR(fcntl(fd, F_SETFL, O_DIRECT), EINVAL);
	CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR | O_APPEND);
	CHECK_OK(close(fd));
}

/* F_SETSIG takes 0 (SIGIO) to 64; F_GETSIG reads it back. */
static void
fcntl_setsig(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

	CHECK_EQ(fcntl(fd, F_GETSIG), 0);
	CHECK_OK(fcntl(fd, F_SETSIG, SIGUSR1));
	CHECK_EQ(fcntl(fd, F_GETSIG), SIGUSR1);
	CHECK_OK(fcntl(fd, F_SETSIG, 64));
	CHECK_EQ(fcntl(fd, F_GETSIG), 64);
	CHECK_ERR(fcntl(fd, F_SETSIG, 65), EINVAL);
	CHECK_ERR(fcntl(fd, F_SETSIG, -1), EINVAL);
	CHECK_EQ(fcntl(fd, F_GETSIG), 64);
	CHECK_OK(fcntl(fd, F_SETSIG, 0));
	CHECK_EQ(fcntl(fd, F_GETSIG), 0);
	CHECK_OK(close(fd));
}

/* Record locks: a test finds the range free, a lock is granted, and the
 * struct flock is checked. */
static void
fcntl_locks(void)
{
	struct flock *volatile none = NULL;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_OK(fcntl(fd, F_GETLK, &fl));
	CHECK_EQ(fl.l_type, F_UNLCK);
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_CUR;
	CHECK_OK(fcntl(fd, F_GETLK, &fl));
	CHECK_EQ(fl.l_type, F_UNLCK);
	fl.l_type = 99;
	CHECK_ERR(fcntl(fd, F_GETLK, &fl), EINVAL);
	fl.l_type = F_RDLCK;
	fl.l_whence = 7;
	CHECK_ERR(fcntl(fd, F_GETLK, &fl), EINVAL);
	CHECK_ERR(fcntl(fd, F_GETLK, none), EFAULT);
	fl.l_whence = SEEK_SET;
	fl.l_type = F_WRLCK;
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_OK(fcntl(fd, F_SETLKW, &fl));
	fl.l_type = F_UNLCK;
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	fl.l_type = F_RDLCK;
	fl.l_pid = 0;
	CHECK_OK(fcntl(fd, F_OFD_GETLK, &fl));
	CHECK_EQ(fl.l_type, F_UNLCK);
	fl.l_type = F_RDLCK;
	fl.l_pid = 1;
	CHECK_ERR(fcntl(fd, F_OFD_GETLK, &fl), EINVAL);
	CHECK_OK(close(fd));
}

/* A socket holds no lease and cannot take one; F_NOTIFY wants a
 * directory, except to clear. */
static void
fcntl_lease_notify(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));

	CHECK_EQ(fcntl(fd, F_GETLEASE), F_UNLCK);
	CHECK_ERR(fcntl(fd, F_SETLEASE, F_RDLCK), EINVAL);
	CHECK_ERR(fcntl(fd, F_SETLEASE, F_UNLCK), EINVAL);
	CHECK_ERR(fcntl(fd, F_NOTIFY, DN_MODIFY), ENOTDIR);
	CHECK_OK(fcntl(fd, F_NOTIFY, 0));
	CHECK_ERR(fcntl(fd, 1234), EINVAL);
	CHECK_OK(close(fd));
}

/* FIOASYNC is O_ASYNC as F_GETFL reports it. */
static void
ioctl_fioasync(void)
{
	int *volatile none = NULL;
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0)), on = 1;

	CHECK_OK(ioctl(fd, FIOASYNC, &on));
	CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR | O_ASYNC);
	on = 0;
	CHECK_OK(ioctl(fd, FIOASYNC, &on));
	CHECK_EQ(fcntl(fd, F_GETFL), O_RDWR);
	CHECK_ERR(ioctl(fd, FIOASYNC, none), EFAULT);
	CHECK_OK(close(fd));
}

/* FIOSETOWN/SIOCSPGRP set the owner F_GETOWN reads, FIOGETOWN/SIOCGPGRP
 * read it: a pid, or a process group as its negative. */
static void
ioctl_owner(void)
{
	int *volatile none = NULL;
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0)), v;

	v = getpid();
	CHECK_OK(ioctl(fd, FIOSETOWN, &v));
	v = 0;
	CHECK_OK(ioctl(fd, FIOGETOWN, &v));
	CHECK_EQ(v, getpid());
	CHECK_EQ(fcntl(fd, F_GETOWN), getpid());
	v = -getpgrp();
	CHECK_OK(ioctl(fd, SIOCSPGRP, &v));
	v = 0;
	CHECK_OK(ioctl(fd, SIOCGPGRP, &v));
	CHECK_EQ(v, -getpgrp());
	CHECK_EQ(fcntl(fd, F_GETOWN), -getpgrp());
	v = 99999999;		/* above any pid_max */
	CHECK_ERR(ioctl(fd, FIOSETOWN, &v), ESRCH);
	CHECK_ERR(ioctl(fd, FIOSETOWN, none), EFAULT);
	CHECK_ERR(ioctl(fd, SIOCGPGRP, none), EFAULT);
	v = 0;
	CHECK_OK(ioctl(fd, SIOCSPGRP, &v));
	CHECK_EQ(fcntl(fd, F_GETOWN), 0);
	CHECK_OK(close(fd));
}

/* FIOCLEX and FIONCLEX set and clear FD_CLOEXEC. */
static void
ioctl_cloexec(void)
{
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));

	CHECK_OK(ioctl(fd, FIOCLEX));
	CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	CHECK_OK(ioctl(fd, FIONCLEX));
	CHECK_EQ(fcntl(fd, F_GETFD), 0);
	CHECK_OK(close(fd));
}

/* The netdevice ioctls work on an AF_UNIX socket; another unknown ioctl
 * is ENOTTY. */
static void
ioctl_netdev(void)
{
	struct ifreq ifr;
	struct ifconf ifc = { 0 };
	int fd = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
	unsigned idx = if_nametoindex("lo");

	CHECK(idx > 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	CHECK_OK(ioctl(fd, SIOCGIFINDEX, &ifr));
	CHECK_EQ(ifr.ifr_ifindex, idx);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = (int)idx;
	CHECK_OK(ioctl(fd, SIOCGIFNAME, &ifr));
	CHECK(strcmp(ifr.ifr_name, "lo") == 0);
	CHECK_OK(ioctl(fd, SIOCGIFFLAGS, &ifr));
	CHECK(ifr.ifr_flags & IFF_LOOPBACK);
	CHECK_OK(ioctl(fd, SIOCGIFCONF, &ifc));
	CHECK(ifc.ifc_len > 0);
	strcpy(ifr.ifr_name, "no-such-if0");
	CHECK_ERR(ioctl(fd, SIOCGIFINDEX, &ifr), ENODEV);
	CHECK_ERR(ioctl(fd, 0x12345678, NULL), ENOTTY);
	CHECK_OK(close(fd));
}

static const struct th_test tests[] = {
	{ "fcntl_setfl_flags", fcntl_setfl_flags },
	{ "fcntl_setsig", fcntl_setsig },
	{ "fcntl_locks", fcntl_locks },
	{ "fcntl_lease_notify", fcntl_lease_notify },
	{ "ioctl_fioasync", ioctl_fioasync },
	{ "ioctl_owner", ioctl_owner },
	{ "ioctl_cloexec", ioctl_cloexec },
	{ "ioctl_netdev", ioctl_netdev },
};

TH_MAIN(tests)
