/*
 * <limits.h> for lwIP's sources without libc headers: the compiler's
 * own limits.h defers to libc's, so these come from its predefined
 * macros instead.
 */
#ifndef KSOCK_LWIP_SHIM_LIMITS_H
#define KSOCK_LWIP_SHIM_LIMITS_H

#define CHAR_BIT	__CHAR_BIT__
#define INT_MAX		__INT_MAX__
#define INT_MIN		(-INT_MAX - 1)
#define UINT_MAX	(INT_MAX * 2U + 1U)
#define LONG_MAX	__LONG_MAX__
#define LONG_MIN	(-LONG_MAX - 1L)
#define ULONG_MAX	(LONG_MAX * 2UL + 1UL)
#define SHRT_MAX	__SHRT_MAX__
#define USHRT_MAX	(SHRT_MAX * 2 + 1)
#define SIZE_MAX	__SIZE_MAX__

#endif /* KSOCK_LWIP_SHIM_LIMITS_H */
