/*
 * lwIP's architecture header for ksock: types from the freestanding
 * headers, the byte order from the compiler, and assertions that stop
 * the program instead of printing (there is no printf).
 */
#ifndef KSOCK_LWIP_ARCH_CC_H
#define KSOCK_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>

/* No <inttypes.h>, <ctype.h> or <errno.h> in a freestanding build:
 * lwIP has its own character classes, and these format strings are only
 * used by its debug output, which is off. */
#define LWIP_NO_INTTYPES_H	1
#define LWIP_NO_CTYPE_H		1
#define X8_F	"02x"
#define U16_F	"u"
#define S16_F	"d"
#define X16_F	"x"
#define U32_F	"u"
#define S32_F	"d"
#define X32_F	"x"
#define SZT_F	"zu"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BYTE_ORDER	1234
#else
#define BYTE_ORDER	4321
#endif

void	ks__lwip_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_DIAG(x)		do { } while (0)
#define LWIP_PLATFORM_ASSERT(x)		ks__lwip_assert((x), __FILE__, __LINE__)

#endif /* KSOCK_LWIP_ARCH_CC_H */
