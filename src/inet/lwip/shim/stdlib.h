/*
 * What lwIP's sources take from <stdlib.h>: netif_find() parses an
 * interface number with atoi(). Defined here so that the host's libc
 * stays out of the link.
 */
#ifndef KSOCK_LWIP_SHIM_STDLIB_H
#define KSOCK_LWIP_SHIM_STDLIB_H

static inline int
ks__lwip_atoi(const char *s)
{
	int v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

#define atoi(s)	ks__lwip_atoi(s)

#endif /* KSOCK_LWIP_SHIM_STDLIB_H */
