/*
 * The system-call boundary both Linux personalities share: the hosted
 * POSIX personality (posix.c) and the preload library's shim
 * (port/preload/shim.c) move socket addresses between the caller's
 * struct sockaddr and ksock's kernel-side copy exactly as Linux's
 * move_addr_to_kernel() and move_addr_to_user() do, so one copy of that
 * rule serves both. No locks; errors are negative errno values.
 */
#include <errno.h>
#include <string.h>

#include "hosted.h"

/* See hosted.h. move_addr_to_kernel(): an address of at most 128 bytes
 * into @k. */
int
ksp__addr_in(const struct sockaddr *addr, socklen_t len,
	     struct ks_sockaddr_storage *k)
{
	if (len > sizeof(*k))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (addr == NULL)
		return -EFAULT;
	memcpy(k, addr, len);
	return 0;
}

/*
 * See hosted.h. move_addr_to_user(): copies at most *@ulen bytes of the @klen-byte
 * address @k to @uaddr and stores @klen in *@ulen.
 */
int
ksp__addr_out(const void *k, uint32_t klen, struct sockaddr *uaddr,
	      socklen_t *ulen)
{
	int len;

	if (ulen == NULL)
		return -EFAULT;
	len = (int)*ulen;
	if (len > (int)klen)
		len = (int)klen;
	if (len < 0)
		return -EINVAL;
	if (len > 0) {
		if (uaddr == NULL)
			return -EFAULT;
		memcpy(uaddr, k, (size_t)len);
	}
	*ulen = klen;
	return 0;
}
