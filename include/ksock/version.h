/*
 * ksock's version, in one place.
 *
 * The Makefile reads these three lines to name the shared library
 * (libksock.so.MAJOR.MINOR.PATCH, soname libksock.so.MAJOR) and to write
 * ksock.pc, so they must stay plain "#define NAME NUMBER" lines.
 *
 * MAJOR changes when a program built against an older ksock may no
 * longer run against this one (a changed struct layout, a removed or
 * changed function); MINOR when functions are added; PATCH for fixes.
 * struct ks_port carries its own version (KS_PORT_VERSION in port.h),
 * which a kernel port checks instead.
 */
#ifndef KSOCK_VERSION_H
#define KSOCK_VERSION_H

#define KS_VERSION_MAJOR 0
#define KS_VERSION_MINOR 2
#define KS_VERSION_PATCH 0

#define KS__STR(x)	#x
#define KS__XSTR(x)	KS__STR(x)

/* "MAJOR.MINOR.PATCH" */
#define KS_VERSION_STRING	KS__XSTR(KS_VERSION_MAJOR) "." \
				KS__XSTR(KS_VERSION_MINOR) "." \
				KS__XSTR(KS_VERSION_PATCH)

/* One number that grows with each release, for #if comparisons. */
#define KS_VERSION_NUMBER	(KS_VERSION_MAJOR * 10000 + \
				 KS_VERSION_MINOR * 100 + KS_VERSION_PATCH)

#endif
