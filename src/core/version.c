/*
 * The library's version at run time (include/ksock/version.h holds it at
 * compile time), so a program can tell which ksock it was linked with at
 * run time from the one whose headers it was built against. No state,
 * no locks.
 */
#include <ksock/ksock.h>
#include <ksock/version.h>

/* See ksock.h. */
const char *
ks_version(void)
{
	return KS_VERSION_STRING;
}
