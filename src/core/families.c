/*
 * The address families built into this ksock, in one table the core
 * consults at ks_init(). A family configured out is simply not listed:
 * AF_INET and AF_INET6 (src/inet, over lwIP) are in when the build
 * defines KS_CONFIG_INET (mk/inet.mk does for the hosted libraries; a
 * kernel that brings no lwIP, like port/linux, leaves it out).
 */
#include "core/core.h"
#include "core/families.h"

extern const struct ks_family ks__unix_family;
extern const struct ks_family ks__inet_family, ks__inet6_family;

const struct ks_family *const ks__families[] = {
	&ks__unix_family,
#if defined(KS_CONFIG_INET)
	&ks__inet_family, &ks__inet6_family,
#endif
};

const size_t ks__nfamilies = sizeof(ks__families) / sizeof(ks__families[0]);
