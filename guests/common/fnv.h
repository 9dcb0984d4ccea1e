/* FNV-1a 32-bit hash (Fowler/Noll/Vo; offset basis 2166136261, prime 16777619). */
#ifndef GUEST_FNV_H
#define GUEST_FNV_H

#include <stddef.h>
#include <stdint.h>

uint32_t fnv1a32(const void *data, size_t n);

#endif
