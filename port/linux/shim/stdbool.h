/*
 * <stdbool.h> for the kernel glue: the glue includes kernel headers and
 * ksock's public headers together, and gcc's own <stdbool.h> would define
 * uint64_t and friends a second time, differently from <linux/types.h>.
 * ksock's own sources do not see this file: they build against gcc's
 * freestanding headers (port/linux/Kbuild).
 */
#ifndef KSOCK_SHIM_STDBOOL_H
#define KSOCK_SHIM_STDBOOL_H
#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/limits.h>
#endif
