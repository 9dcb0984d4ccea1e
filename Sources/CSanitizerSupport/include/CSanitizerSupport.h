#ifndef CSANITIZERSUPPORT_H
#define CSANITIZERSUPPORT_H

// ThreadSanitizer's happens-before annotations, for locks whose waiting TSan cannot see
// (AnnotatedMutex.swift says which and why). These are the runtime's own entry points
// (compiler-rt include/sanitizer/tsan_interface.h). They are declared weak: in a build
// without -sanitize=thread nothing defines them, the linker leaves them null, and each
// wrapper below is one not-taken branch.
//
// Header-only: Swift imports the static inline wrappers and compiles them into the caller.

void __tsan_acquire(void *address) __attribute__((weak));
void __tsan_release(void *address) __attribute__((weak));

/// Tells TSan that the calling thread now synchronises with the last
/// `csan_tsan_release(address)`: what that thread wrote before it is visible here.
static inline void csan_tsan_acquire(const void *address) {
    if (__tsan_acquire) __tsan_acquire((void *)address);
}

/// Tells TSan that what this thread wrote so far is published to the next
/// `csan_tsan_acquire(address)`.
static inline void csan_tsan_release(const void *address) {
    if (__tsan_release) __tsan_release((void *)address);
}

#endif
