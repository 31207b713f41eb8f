/*
 * Preload port: opening a socket through /proc.
 *
 * Linux refuses to open a socket through its /proc/PID/fd/N link (ENXIO:
 * a socket has no open()), except with O_PATH. Under ksock-run that link
 * names the placeholder, this library's file, which the kernel would
 * open (and, for root, open for writing). So open, openat, fopen and
 * their 64-bit and fortified names look at a path that can name a
 * descriptor (/proc/.../fd/N, /dev/fd/N, /dev/stdin, /dev/stdout,
 * /dev/stderr), and when the link leads to a placeholder, of this
 * process or of another one under ksock-run, they fail with ENXIO as
 * Linux does. Every other path costs one prefix test. The number a new
 * file gets was free, so a map entry left there by a raw close goes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload.h"

#define KP_EXPORT	__attribute__((visibility("default")))

/* Whether @path may be a descriptor's link. */
static bool
may_name_fd(const char *path)
{
	if (path == NULL)
		return false;
	if (strncmp(path, "/proc/", 6) == 0)
		return strstr(path + 6, "/fd/") != NULL;
	return strncmp(path, "/dev/fd/", 8) == 0 ||
	       strcmp(path, "/dev/stdin") == 0 ||
	       strcmp(path, "/dev/stdout") == 0 ||
	       strcmp(path, "/dev/stderr") == 0;
}

/*
 * Whether opening @path with @flags must fail with ENXIO: the link leads
 * to a placeholder. The target's name is the library's path, with
 * " (deleted)" after it when the file was replaced since.
 */
static bool
names_socket(const char *path, int flags)
{
	char target[PATH_MAX + 16];
	const char *lib;
	size_t n;
	long len;

	if ((flags & O_PATH) || !may_name_fd(path))
		return false;
	lib = kp__placeholder_path();
	if (lib == NULL || strcmp(lib, "/dev/null") == 0)
		return false;
	len = syscall(SYS_readlinkat, AT_FDCWD, path, target,
		      sizeof(target) - 1);
	if (len <= 0)
		return false;
	target[len] = '\0';
	n = strlen(lib);
	return strncmp(target, lib, n) == 0 &&
	       (target[n] == '\0' || strcmp(target + n, " (deleted)") == 0);
}

static long
enxio(void)
{
	errno = ENXIO;
	return -1;
}

/* The mode argument is there only with O_CREAT or O_TMPFILE (whose bits
 * include O_DIRECTORY's, so all of them must be set). */
#define NEEDS_MODE(flags)						\
	(((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)
#define MODE_ARG(flags, mode) do {					\
	va_list ap_;							\
									\
	mode = 0;							\
	if (NEEDS_MODE(flags)) {					\
		va_start(ap_, flags);					\
		mode = va_arg(ap_, unsigned);				\
		va_end(ap_);						\
	}								\
} while (0)

KP_EXPORT int
openat(int dfd, const char *path, int flags, ...)
{
	unsigned mode;

	long fd;

	MODE_ARG(flags, mode);
	if (names_socket(path, flags))
		return (int)enxio();
	fd = syscall(SYS_openat, dfd, path, flags, mode);
	kp__fd_kernel_new(fd);
	return (int)fd;
}

KP_EXPORT int
open(const char *path, int flags, ...)
{
	unsigned mode;

	MODE_ARG(flags, mode);
	return openat(AT_FDCWD, path, flags, mode);
}

KP_EXPORT int
open64(const char *path, int flags, ...)
{
	unsigned mode;

	MODE_ARG(flags, mode);
	return openat(AT_FDCWD, path, flags, mode);
}

KP_EXPORT int
openat64(int dfd, const char *path, int flags, ...)
{
	unsigned mode;

	MODE_ARG(flags, mode);
	return openat(dfd, path, flags, mode);
}

/* The fortified names, for opens without O_CREAT. */
int	__open_2(const char *path, int flags);
int	__open64_2(const char *path, int flags);
int	__openat_2(int dfd, const char *path, int flags);
int	__openat64_2(int dfd, const char *path, int flags);

KP_EXPORT int
__open_2(const char *path, int flags)
{
	return openat(AT_FDCWD, path, flags);
}

KP_EXPORT int
__open64_2(const char *path, int flags)
{
	return openat(AT_FDCWD, path, flags);
}

KP_EXPORT int
__openat_2(int dfd, const char *path, int flags)
{
	return openat(dfd, path, flags);
}

KP_EXPORT int
__openat64_2(int dfd, const char *path, int flags)
{
	return openat(dfd, path, flags);
}

/* fopen's mode as open flags: only whether it reads, writes or both. */
static int
fopen_flags(const char *mode)
{
	if (mode == NULL)
		return O_RDONLY;
	if (strchr(mode, '+') != NULL)
		return O_RDWR;
	return mode[0] == 'r' ? O_RDONLY : O_WRONLY;
}

static FILE *
fopen_as(const char *name, const char *path, const char *mode)
{
	FILE *(*real)(const char *, const char *);
	FILE *fp;

	if (names_socket(path, fopen_flags(mode))) {
		errno = ENXIO;
		return NULL;
	}
	real = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, name);
	if (real == NULL) {
		errno = ENOSYS;
		return NULL;
	}
	fp = real(path, mode);
	if (fp != NULL)
		kp__fd_kernel_new(fileno(fp));
	return fp;
}

KP_EXPORT FILE *
fopen(const char *path, const char *mode)
{
	return fopen_as("fopen", path, mode);
}

KP_EXPORT FILE *
fopen64(const char *path, const char *mode)
{
	return fopen_as("fopen64", path, mode);
}
