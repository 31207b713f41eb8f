/*
 * The table of built-in address families (families.c).
 */
#ifndef KSOCK_CORE_FAMILIES_H
#define KSOCK_CORE_FAMILIES_H

#include "core/core.h"

extern const struct ks_family *const ks__families[];
extern const size_t ks__nfamilies;

#endif /* KSOCK_CORE_FAMILIES_H */
