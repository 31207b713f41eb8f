/*
 * ksock-run [--strict] [--inet=MODE] [--ksockd[=ADDRESS] | --in-process]
 * [--] PROGRAM [ARGS...]: runs PROGRAM
 * with its AF_UNIX sockets served by ksock (docs/ksock-run.md,
 * ksock-run(1)), and with --inet=loopback or --inet=tap its AF_INET and
 * AF_INET6 TCP and UDP sockets too (the option sets KSOCK_RUN_INET, which
 * the library reads).
 *
 * By default (and with --ksockd, or KSOCK_RUN_KSOCKD=ADDRESS in the
 * environment) the AF_UNIX sockets are served by a ksockd server shared
 * by all of PROGRAM's processes, so that a program that forks just
 * works: ksock-run passes the address (default @ksockd.UID) and the
 * ksockd to start when none answers there (KSOCK_KSOCKD, the one next to
 * this executable, or the installed one beside the preload library) to
 * the library, which starts it with --idle-exit on first use. With
 * --in-process (or KSOCK_RUN_IN_PROCESS=1) each process has a ksock of
 * its own instead, which is faster but not shared across a fork. The
 * mode goes to PROGRAM's environment (KSOCK_RUN_KSOCKD, or
 * KSOCK_RUN_IN_PROCESS=1), so a ksock-run that PROGRAM starts keeps it.
 *
 * Puts libksock-preload.so first in LD_PRELOAD, sets KSOCK_RUN=1 so a
 * program or a test harness can tell, and executes PROGRAM. The library
 * is the one KSOCK_PRELOAD names, or the one next to this executable (the
 * build tree), or the one in the installed library directory, found
 * relative to this executable first (so a DESTDIR tree or a moved prefix
 * works) and then at the path compiled in by make install.
 *
 * Before that it looks at the file the kernel will run (PROGRAM found
 * through PATH as execvp does, and for a "#!" script its interpreter):
 * the dynamic loader never loads the library into a statically linked
 * program, a program for another architecture, or a setuid, setgid or
 * file-capability program that gains privileges (a "secure" execution,
 * where the loader ignores LD_PRELOAD). Such a program would run with
 * its sockets silently on the Linux kernel; ksock-run says so in one
 * line and leaves KSOCK_RUN unset, or with --strict refuses to run it.
 *
 * Exit status: PROGRAM's; 2 for bad usage; 125 when ksock-run itself
 * fails or --strict refuses; 126 when PROGRAM cannot be executed; 127
 * when it is not found (as env(1) and the shells do).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ksock/version.h>

#define EXIT_USAGE	2
#define EXIT_FAILED	125
#define EXIT_CANNOT_RUN	126
#define EXIT_NOT_FOUND	127

#define PRELOAD_NAME	"libksock-preload.so"

/* The values of --inet=MODE (KSOCK_RUN_INET); the library reads them. */
static const char *const inet_modes[] = { "off", "loopback", "tap" };

/* The test network's link (docs/inet.md): the device and ksock's addresses on it. The library
 * has the same default; ksock-run names it only in its help. */
#define KSOCK_RUN_TAP_DEFAULT	"kstap0 10.77.0.2/24 fd77::2/64"

/*
 * Linux follows at most this many "#!" interpreters before it gives up
 * (BINPRM_MAX_RECURSION); ksock-run looks no deeper either.
 */
#define MAX_INTERP_DEPTH	4

/* The kernel reads this much of a file for its "#!" line. */
#define SHEBANG_MAX	256

static const char *progname = "ksock-run";

static void
help(void)
{
	printf("Usage: %s [OPTION]... [--] PROGRAM [ARGUMENT]...\n"
	       "Run PROGRAM with its AF_UNIX sockets served by ksock, "
	       "through a preload\n"
	       "library, instead of by the Linux kernel.\n"
	       "\n"
	       "Options:\n"
	       "      --strict   refuse to run PROGRAM when ksock cannot "
	       "serve it: statically\n"
	       "                 linked, setuid or setgid, file "
	       "capabilities, or built for\n"
	       "                 another architecture\n"
	       "      --inet=MODE\n"
	       "                 which AF_INET/AF_INET6 TCP and UDP sockets "
	       "ksock serves: off\n"
	       "                 (none), loopback (ksock's own 127.0.0.1 "
	       "and ::1 only) or\n"
	       "                 tap (also ksock's interface on the TAP "
	       "link KSOCK_RUN_TAP\n"
	       "                 names); default: KSOCK_RUN_INET, else off\n"
	       "      --ksockd[=ADDRESS]  serve the sockets from the "
	       "ksockd server at ADDRESS\n"
	       "                 (a path, or @NAME; default @ksockd.UID), "
	       "shared by all of\n"
	       "                 PROGRAM's processes; started when none "
	       "answers (the default)\n"
	       "      --in-process  serve the sockets from a ksock inside "
	       "each process instead:\n"
	       "                 faster, but a forked child cannot use its "
	       "parent's sockets\n"
	       "  -h, --help     show this help and exit\n"
	       "      --version  show the version and exit\n"
	       "\n"
	       "Environment:\n"
	       "  KSOCK_PRELOAD=PATH      the preload library to use "
	       "instead of ksock's own\n"
	       "  KSOCK_RUN_STATS=1|FILE  a summary line at exit, to stderr "
	       "or appended to FILE\n"
	       "  KSOCK_RUN_FALLBACK=0    no kernel socket for peers outside "
	       "ksock\n"
	       "  KSOCK_RUN_INET=MODE     as --inet=MODE\n"
	       "  KSOCK_RUN_TAP=\"IF V4 V6\"  the TAP link of --inet=tap "
	       "(default\n"
	       "                          \"" KSOCK_RUN_TAP_DEFAULT "\")\n"
	       "  KSOCK_DIAG=1            serve the sockets to ksockstat(8)\n"
	       "  KSOCK_MALLOC=default    keep glibc's malloc settings\n"
	       "  KSOCK_RUN_KSOCKD=ADDRESS  as --ksockd=ADDRESS\n"
	       "  KSOCK_RUN_IN_PROCESS=1  as --in-process (wins over "
	       "KSOCK_RUN_KSOCKD)\n"
	       "  KSOCK_KSOCKD=PATH       the ksockd to start instead of "
	       "ksock's own\n"
	       "The options win over the environment. ksock-run sets "
	       "KSOCK_RUN=1 for a PROGRAM it\nserves, and KSOCK_RUN_KSOCKD "
	       "and KSOCK_RUN_KSOCKD_START (the server to start)\nor "
	       "KSOCK_RUN_IN_PROCESS=1 for its mode; KSOCK_RUN_KSOCKD_FDS "
	       "is the library's\nown, for exec.\n"
	       "\n"
	       "Exit status:\n"
	       "  PROGRAM's exit status, or\n"
	       "    2  bad usage\n"
	       "  125  ksock-run failed (no preload library), or --strict "
	       "refused PROGRAM\n"
	       "  126  PROGRAM was found but could not be executed\n"
	       "  127  PROGRAM was not found\n"
	       "\n"
	       "See ksock-run(1).\n", progname);
}

/* Whether @mode is a value of --inet. */
static bool
is_inet_mode(const char *mode)
{
	size_t i;

	for (i = 0; i < sizeof(inet_modes) / sizeof(inet_modes[0]); i++)
		if (strcmp(mode, inet_modes[i]) == 0)
			return true;
	return false;
}

static int
usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s%s\n"
		"Try '%s --help' for more information.\n", progname, what,
		arg != NULL ? " '" : "", arg != NULL ? arg : "",
		arg != NULL ? "'" : "", progname);
	return EXIT_USAGE;
}

/* Copies @dir "/" @name into @out. Returns false when it does not fit. */
static bool
join(char *out, size_t size, const char *dir, size_t dirlen,
     const char *name)
{
	int n = snprintf(out, size, "%.*s/%s", (int)dirlen, dir, name);

	return n > 0 && (size_t)n < size;
}

/*
 * Where make install put the preload library: relative to the installed
 * ksock-run, and as configured. Empty in the build tree's ksock-run.
 */
#ifndef KSOCK_RUN_REL_PKGLIBDIR
#define KSOCK_RUN_REL_PKGLIBDIR	""
#endif
#ifndef KSOCK_RUN_PKGLIBDIR
#define KSOCK_RUN_PKGLIBDIR	""
#endif

/*
 * Finds the preload library into @lib (PATH_MAX bytes), as an absolute
 * path without "..". Returns true, or false after saying why.
 */
/* Copies the directory of the file @path into @dir (PATH_MAX bytes).
 * Returns false when there is none. */
static bool
dir_of(char *dir, const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL &&
	       snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path) <
	       PATH_MAX;
}

/*
 * The ksockd mode: the address in KSOCK_RUN_KSOCKD for the library, and
 * in KSOCK_RUN_KSOCKD_START the server it starts when none answers there:
 * KSOCK_KSOCKD, or the ksockd beside the preload library @lib (the build
 * tree's, or the one make install puts in LIBDIR/ksock), or beside this
 * executable; none: the library only connects. Returns true, or false
 * after saying why.
 */
static bool
setup_ksockd(const char *addr, const char *lib)
{
	char self[PATH_MAX], bin[PATH_MAX], dir[PATH_MAX], def[64];
	const char *env = getenv("KSOCK_KSOCKD");
	ssize_t n;
	char *slash;

	if (addr == NULL || addr[0] == '\0') {
		snprintf(def, sizeof(def), "@ksockd.%u", (unsigned)getuid());
		addr = def;
	}
	if (strlen(addr) >= 108) {
		fprintf(stderr, "%s: %s: a ksockd address is at most 107 "
			"bytes\n", progname, addr);
		return false;
	}
	setenv("KSOCK_RUN_KSOCKD", addr, 1);
	unsetenv("KSOCK_RUN_IN_PROCESS");
	if (env != NULL && env[0] != '\0') {
		snprintf(bin, sizeof(bin), "%s", env);
	} else if (dir_of(dir, lib) &&
		   join(bin, sizeof(bin), dir, strlen(dir), "ksockd") &&
		   access(bin, X_OK) == 0) {
		/* Found beside the library. */
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return true;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL)
			*slash = '\0';
		if (!join(bin, sizeof(bin), self, strlen(self), "ksockd"))
			return true;
	}
	if (access(bin, X_OK) == 0)
		setenv("KSOCK_RUN_KSOCKD_START", bin, 1);
	else
		unsetenv("KSOCK_RUN_KSOCKD_START");
	return true;
}

static bool
find_preload(char *lib)
{
	char self[PATH_MAX], dirs[3][PATH_MAX], cand[PATH_MAX];
	const char *env = getenv("KSOCK_PRELOAD");
	size_t ndirs = 0, i;
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] != '\0') {
		if (access(env, R_OK) != 0) {
			fprintf(stderr, "%s: cannot read %s (KSOCK_PRELOAD): "
				"%s\n", progname, env, strerror(errno));
			return false;
		}
		snprintf(cand, sizeof(cand), "%s", env);
		goto found;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", progname,
			strerror(errno));
		return false;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	/* The build tree, where the library sits beside ksock-run. */
	snprintf(dirs[ndirs++], PATH_MAX, "%s", self);
	if (KSOCK_RUN_REL_PKGLIBDIR[0] != '\0' &&
	    join(dirs[ndirs], PATH_MAX, self, strlen(self),
		 KSOCK_RUN_REL_PKGLIBDIR))
		ndirs++;
	if (KSOCK_RUN_PKGLIBDIR[0] != '\0')
		snprintf(dirs[ndirs++], PATH_MAX, "%s", KSOCK_RUN_PKGLIBDIR);
	for (i = 0; i < ndirs; i++) {
		if (join(cand, sizeof(cand), dirs[i], strlen(dirs[i]),
			 PRELOAD_NAME) && access(cand, R_OK) == 0)
			goto found;
	}
	fprintf(stderr, "%s: cannot find " PRELOAD_NAME " (looked in", progname);
	for (i = 0; i < ndirs; i++)
		fprintf(stderr, "%s %s", i == 0 ? "" : ",", dirs[i]);
	fprintf(stderr, "); set KSOCK_PRELOAD to its path\n");
	return false;

found:
	if (realpath(cand, lib) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", progname, cand, strerror(errno));
		return false;
	}
	/* The loader splits LD_PRELOAD at spaces and colons. */
	if (strpbrk(lib, " :") != NULL) {
		fprintf(stderr, "%s: cannot preload %s: LD_PRELOAD cannot hold "
			"a space or a colon\n", progname, lib);
		return false;
	}
	return true;
}

/*
 * Resolves @name as execvp does (a name with a slash as it is, else the
 * first executable regular file along PATH) into @out (PATH_MAX bytes).
 * Returns false when there is none: execvp will then report why.
 */
static bool
resolve(const char *name, char *out)
{
	const char *path, *p, *end;
	struct stat st;
	char dflt[PATH_MAX];

	if (strchr(name, '/') != NULL)
		return snprintf(out, PATH_MAX, "%s", name) < PATH_MAX;
	path = getenv("PATH");
	if (path == NULL) {
		size_t n = confstr(_CS_PATH, dflt, sizeof(dflt));

		if (n == 0 || n > sizeof(dflt))
			return false;
		path = dflt;
	}
	for (p = path;; p = end + 1) {
		end = strchrnul(p, ':');
		/* An empty entry is the current directory. */
		if (join(out, PATH_MAX, end == p ? "." : p,
			 end == p ? 1 : (size_t)(end - p), name) &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return true;
		if (*end == '\0')
			return false;
	}
}

/* Why the loader will not load the library into a program. */
enum verdict {
	SERVED,		/* dynamically linked, loads LD_PRELOAD */
	UNKNOWN,	/* cannot tell (unreadable); assume served */
	STATIC,
	FOREIGN,	/* another ELF class or machine */
	SETUID,
	SETGID,
	FILECAPS,
};

static const char *
verdict_text(enum verdict v)
{
	switch (v) {
	case STATIC:	return "is statically linked";
	case FOREIGN:	return "is built for another architecture than "
			       "ksock's preload library";
	case SETUID:	return "is setuid, and the loader ignores LD_PRELOAD "
			       "for it";
	case SETGID:	return "is setgid, and the loader ignores LD_PRELOAD "
			       "for it";
	case FILECAPS:	return "has file capabilities, and the loader "
			       "ignores LD_PRELOAD for it";
	default:	return "";
	}
}

/*
 * Whether executing @path gains privileges, which makes the execution
 * "secure" (AT_SECURE): the loader then ignores LD_PRELOAD. Linux sets
 * that when the new effective ids differ from the real ones, or when
 * file capabilities add to what the process had.
 */
static enum verdict
privileges(const char *path, const struct stat *st)
{
	struct statvfs vfs;
	uid_t euid = geteuid();
	gid_t egid = getegid();

	/* A nosuid mount ignores the bits and the capabilities. */
	if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID))
		return SERVED;
	/* So does no_new_privs. */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
		return SERVED;
	if (st->st_mode & S_ISUID)
		euid = st->st_uid;
	/* setgid without group execute marks mandatory locking instead. */
	if ((st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		egid = st->st_gid;
	if (euid != getuid())
		return SETUID;
	if (egid != getgid())
		return SETGID;
	/* root has every capability already; others gain from the file's. */
	if (getuid() != 0 &&
	    getxattr(path, "security.capability", NULL, 0) > 0)
		return FILECAPS;
	return SERVED;
}

/*
 * Compares an ELF file's class, byte order and machine with ksock-run's
 * own (@self_ident, @self_machine), which the preload library shares,
 * and tells whether it has a PT_INTERP: a program without one is not run
 * by the dynamic loader (static, or static-pie), unless it is the loader
 * itself (see is_loader()).
 */
static enum verdict
elf_verdict(int fd, const unsigned char *head, size_t len,
	    const unsigned char *self_ident, unsigned self_machine)
{
	unsigned phnum, phentsize, machine;
	uint64_t phoff;

	if (len < EI_NIDENT)
		return UNKNOWN;
	if (head[EI_CLASS] != self_ident[EI_CLASS] ||
	    head[EI_DATA] != self_ident[EI_DATA])
		return FOREIGN;
	if (head[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
			return UNKNOWN;
		phoff = eh.e_phoff, phnum = eh.e_phnum;
		phentsize = eh.e_phentsize, machine = eh.e_machine;
	} else {
		Elf32_Ehdr eh;

		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
			return UNKNOWN;
		phoff = eh.e_phoff, phnum = eh.e_phnum;
		phentsize = eh.e_phentsize, machine = eh.e_machine;
	}
	if (machine != self_machine)
		return FOREIGN;
	for (unsigned i = 0; i < phnum; i++) {
		uint32_t type;

		/* p_type is the first word of both program header forms. */
		if (pread(fd, &type, sizeof(type),
			  (off_t)(phoff + (uint64_t)i * phentsize)) !=
		    (ssize_t)sizeof(type))
			return UNKNOWN;
		if (type == PT_INTERP)
			return SERVED;
	}
	return STATIC;
}

/* The ELF identity and machine of ksock-run itself, which the library shares. */
static bool
self_elf(unsigned char *ident, unsigned *machine)
{
	Elf64_Ehdr eh;	/* e_ident and e_machine sit at the same offsets in both */
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, &eh, sizeof(eh), 0);
	close(fd);
	if (n < (ssize_t)(EI_NIDENT + 4))
		return false;
	memcpy(ident, eh.e_ident, EI_NIDENT);
	*machine = eh.e_machine;
	return true;
}

/*
 * Whether @path names the same file as the dynamic loader ksock-run
 * itself runs under: "ld.so PROGRAM" has no PT_INTERP, yet honours
 * LD_PRELOAD.
 */
static bool
is_loader(const char *path)
{
	char interp[PATH_MAX];
	struct stat a, b;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	bool same = false;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		goto close_fd;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type != PT_INTERP || ph.p_filesz >= sizeof(interp))
			continue;
		if (pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) !=
		    (ssize_t)ph.p_filesz)
			break;
		interp[ph.p_filesz] = '\0';
		same = stat(interp, &a) == 0 && stat(path, &b) == 0 &&
		       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
		break;
	}
close_fd:
	close(fd);
	return same;
}

/*
 * Looks at what the kernel will run for @path, following "#!" lines
 * (and "#!/usr/bin/env NAME" to NAME along PATH). Returns the verdict and
 * in @what the file it is about (@path or an interpreter).
 */
static enum verdict
inspect(const char *path, char *what, int depth)
{
	unsigned char head[SHEBANG_MAX], ident[EI_NIDENT];
	unsigned machine;
	enum verdict v;
	struct stat st;
	ssize_t len;
	int fd;

	snprintf(what, PATH_MAX, "%s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UNKNOWN;
	len = pread(fd, head, sizeof(head) - 1, 0);
	if (len < 0 || fstat(fd, &st) < 0) {
		close(fd);
		return UNKNOWN;
	}
	if (len >= 4 && memcmp(head, ELFMAG, SELFMAG) == 0) {
		if (!self_elf(ident, &machine))
			v = UNKNOWN;
		else
			v = elf_verdict(fd, head, (size_t)len, ident, machine);
		close(fd);
		if (v == STATIC && is_loader(path))
			v = SERVED;
		if (v == SERVED)
			v = privileges(path, &st);
		return v;
	}
	close(fd);
	if (len >= 2 && head[0] == '#' && head[1] == '!' &&
	    depth < MAX_INTERP_DEPTH) {
		char interp[PATH_MAX], *p, *word, *save;

		head[len] = '\0';
		head[strcspn((char *)head, "\n")] = '\0';
		p = (char *)head + 2;
		word = strtok_r(p, " \t", &save);
		if (word == NULL)
			return UNKNOWN;
		snprintf(interp, sizeof(interp), "%s", word);
		v = inspect(interp, what, depth + 1);
		/* env runs its first operand, found along PATH. */
		if (v == SERVED && strcmp(strrchr(interp, '/') != NULL ?
					  strrchr(interp, '/') + 1 : interp,
					  "env") == 0) {
			while ((word = strtok_r(NULL, " \t", &save)) != NULL &&
			       (word[0] == '-' || strchr(word, '=') != NULL))
				;
			if (word != NULL && resolve(word, interp))
				v = inspect(interp, what, depth + 1);
		}
		return v;
	}
	/* Anything else execvp hands to /bin/sh. */
	return UNKNOWN;
}

int
main(int argc, char **argv)
{
	char lib[PATH_MAX], exe[PATH_MAX], what[PATH_MAX], *preload;
	const char *old, *program, *inet;
	enum verdict v = UNKNOWN;
	bool strict = false;
	const char *ksockd_addr = getenv("KSOCK_RUN_KSOCKD");
	const char *inproc = getenv("KSOCK_RUN_IN_PROCESS");
	int ksockd = -1;	/* -1: no option said; 0: --in-process */
	size_t len;
	int i, err;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--strict") == 0) {
			strict = true;
		} else if (strncmp(argv[i], "--inet=", 7) == 0) {
			if (!is_inet_mode(argv[i] + 7))
				return usage_error("--inet wants off, loopback "
						   "or tap, not", argv[i] + 7);
			setenv("KSOCK_RUN_INET", argv[i] + 7, 1);
		} else if (strcmp(argv[i], "--ksockd") == 0) {
			ksockd = 1;
		} else if (strncmp(argv[i], "--ksockd=", 9) == 0) {
			ksockd = 1;
			ksockd_addr = argv[i] + 9;
		} else if (strcmp(argv[i], "--in-process") == 0) {
			ksockd = 0;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			help();
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("ksock-run (ksock) " KS_VERSION_STRING "\n");
			return 0;
		} else {
			return usage_error("unknown option", argv[i]);
		}
	}
	if (i >= argc)
		return usage_error("no PROGRAM to run", NULL);
	program = argv[i];
	if (program[0] == '\0')
		return usage_error("PROGRAM is an empty name", NULL);
	inet = getenv("KSOCK_RUN_INET");
	if (inet != NULL && inet[0] != '\0' && !is_inet_mode(inet))
		return usage_error("KSOCK_RUN_INET wants off, loopback or "
				   "tap, not", inet);
	if (!find_preload(lib))
		return EXIT_FAILED;
	/* Without an option: KSOCK_RUN_IN_PROCESS=1 chooses the
	 * in-process mode, else the default, ksockd. */
	if (ksockd < 0)
		ksockd = inproc == NULL || inproc[0] == '\0' ||
			 strcmp(inproc, "0") == 0;
	if (ksockd && !setup_ksockd(ksockd_addr, lib))
		return EXIT_FAILED;
	if (!ksockd) {
		/* The library serves in-process when it is named no server;
		 * a ksock-run that PROGRAM starts stays in this mode. */
		unsetenv("KSOCK_RUN_KSOCKD");
		unsetenv("KSOCK_RUN_KSOCKD_START");
		setenv("KSOCK_RUN_IN_PROCESS", "1", 1);
	}

	if (resolve(program, exe))
		v = inspect(exe, what, 0);
	if (v != SERVED && v != UNKNOWN) {
		if (strcmp(what, exe) == 0)
			fprintf(stderr, "%s: %s %s; ", progname, program,
				verdict_text(v));
		else
			fprintf(stderr, "%s: %s runs %s, which %s; ", progname,
				program, what, verdict_text(v));
		if (strict) {
			fprintf(stderr, "its sockets would stay on the Linux "
				"kernel, so --strict refuses to run it\n");
			return EXIT_FAILED;
		}
		fprintf(stderr, "its sockets stay on the Linux kernel\n");
		/* The program cannot tell that it is not served otherwise. */
		unsetenv("KSOCK_RUN");
	} else {
		setenv("KSOCK_RUN", "1", 1);
	}

	old = getenv("LD_PRELOAD");
	len = strlen(lib) + (old != NULL ? strlen(old) + 1 : 0) + 1;
	preload = malloc(len);
	if (preload == NULL) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return EXIT_FAILED;
	}
	snprintf(preload, len, "%s%s%s", lib, old != NULL ? " " : "",
		 old != NULL ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	free(preload);
	execvp(program, argv + i);
	err = errno;
	fprintf(stderr, "%s: %s: %s\n", progname, program, strerror(err));
	return err == ENOENT || err == ENOTDIR ? EXIT_NOT_FOUND :
	       EXIT_CANNOT_RUN;
}
