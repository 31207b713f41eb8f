/*
 * Hosted ports: the fcntl and ioctl commands that Linux answers from its
 * file layer, the same for every socket, shared by the POSIX personality
 * (posix.c) and the preload shim (port/preload/shim.c).
 *
 * Record locks, leases and directory notification: a socket's inode has
 * no data, so a lock test always finds the range free and a lock is
 * always granted (ksock's sockets are private to one process, and POSIX
 * locks of one process never conflict); a lease needs a regular file and
 * a notification a directory. The netdevice ioctls (type 0x89, such as
 * SIOCGIFINDEX or SIOCGIFCONF) are answered by Linux on any socket, from
 * the network device layer, so they are forwarded to a kernel AF_UNIX
 * socket made for the one call.
 *
 * No locks; no state. System calls are raw, since the preload library
 * interposes the libc names.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hosted.h"

/* Linux's sock_ioctl() hands every command of this type it does not know
 * to the network device layer (is_socket_ioctl_cmd()). */
#define KSP_SOCK_IOC_TYPE	0x89

/* A struct flock's checks, as Linux's flock_to_posix_lock(). */
static int
flock_check(const struct flock *fl, bool test)
{
	if (fl->l_type != F_RDLCK && fl->l_type != F_WRLCK &&
	    (test || fl->l_type != F_UNLCK))
		return -EINVAL;
	if (fl->l_whence != SEEK_SET && fl->l_whence != SEEK_CUR &&
	    fl->l_whence != SEEK_END)
		return -EINVAL;
	if (fl->l_start < 0 || (fl->l_len < 0 && fl->l_start + fl->l_len < 0))
		return -EINVAL;
	return 0;
}

/* See hosted.h. */
int
ksp__sock_fcntl_file(int cmd, long arg)
{
	struct flock fl;
	bool test, ofd;
	int err;

	switch (cmd) {
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		test = cmd == F_GETLK || cmd == F_OFD_GETLK;
		ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK ||
		      cmd == F_OFD_SETLKW;
		if (ksp__copy_from_user(&fl, (void *)arg, sizeof(fl)) < 0)
			return -EFAULT;
		if (ofd && fl.l_pid != 0)
			return -EINVAL;
		err = flock_check(&fl, test);
		if (err < 0 || !test)
			return err;
		/* Nothing holds the range: only l_type changes. */
		fl.l_type = F_UNLCK;
		if (ksp__copy_to_user((void *)arg, &fl, sizeof(fl)) < 0)
			return -EFAULT;
		return 0;
	case F_GETLEASE:
		return F_UNLCK;
	case F_SETLEASE:
		return -EINVAL;		/* generic_setlease(): not a file */
	case F_NOTIFY:
		/* fcntl_dirnotify(): no events only drops what is set. */
		if (((unsigned long)arg & ~(unsigned long)DN_MULTISHOT) == 0)
			return 0;
		return -ENOTDIR;
	default:
		return -EINVAL;
	}
}

/* See hosted.h. */
int
ksp__sock_ioctl_netdev(unsigned long req, void *arg)
{
	long kfd, r;
	int err = 0;

	if (((req >> 8) & 0xff) != KSP_SOCK_IOC_TYPE)
		return -ENOTTY;
	kfd = syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (kfd < 0)
		return -errno;
	r = syscall(SYS_ioctl, kfd, req, arg);
	if (r < 0)
		err = -errno;
	syscall(SYS_close, kfd);
	return err < 0 ? err : (int)r;
}
