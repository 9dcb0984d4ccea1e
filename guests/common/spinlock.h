/* Test-and-test-and-set spinlock on GCC/clang __atomic builtins (lock-prefixed ops). */
#ifndef GUEST_SPINLOCK_H
#define GUEST_SPINLOCK_H

#include <stdint.h>

typedef struct { volatile uint32_t locked; } spinlock_t;

static inline void spin_lock(spinlock_t *l) {
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            __asm__ volatile("pause");
}

static inline int spin_trylock_bounded(spinlock_t *l, uint32_t spins) {
    for (uint32_t i = 0; i < spins; i++) {
        if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

static inline void spin_unlock(spinlock_t *l) {
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
