/*
 * What lwIP's sources take from <string.h>, for compiling them with no
 * libc headers (-nostdinc). The mem* functions are the four every
 * freestanding ksock build already needs from its host (make
 * kernel-files); the two string functions lwIP uses for names are small
 * enough to live here, so they add nothing to that list.
 */
#ifndef KSOCK_LWIP_SHIM_STRING_H
#define KSOCK_LWIP_SHIM_STRING_H

#include <stddef.h>

void	*memcpy(void *dst, const void *src, size_t n);
void	*memmove(void *dst, const void *src, size_t n);
void	*memset(void *dst, int c, size_t n);
int	 memcmp(const void *a, const void *b, size_t n);

static inline size_t
ks__lwip_strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

static inline int
ks__lwip_strncmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (*a == '\0')
			break;
	}
	return 0;
}

#define strlen(s)		ks__lwip_strlen(s)
#define strncmp(a, b, n)	ks__lwip_strncmp((a), (b), (n))

#endif /* KSOCK_LWIP_SHIM_STRING_H */
