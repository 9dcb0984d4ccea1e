// CKVM: the part of <linux/kvm.h> that Swift cannot import by itself.
//
// - ioctl request numbers: the _IO/_IOR/_IOW/_IOWR macros do not import into
//   Swift, so each request SwiftVMM uses is exported as a constant.
// - fixed-arity ioctl wrappers: ioctl(2) is variadic, which Swift cannot call.
// - accessors for the anonymous unions inside struct kvm_run, so Swift reads
//   each exit's payload by name instead of by offset.
// No logic lives here: every function is one expression.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <signal.h>
#include <time.h>
#include <stdint.h>

// MARK: ioctl request numbers (system fd)
extern const unsigned long CKVM_GET_API_VERSION;
extern const unsigned long CKVM_CREATE_VM;
extern const unsigned long CKVM_CHECK_EXTENSION;
extern const unsigned long CKVM_GET_VCPU_MMAP_SIZE;
extern const unsigned long CKVM_GET_SUPPORTED_CPUID;
extern const unsigned long CKVM_GET_MSR_INDEX_LIST;

// MARK: ioctl request numbers (VM fd)
extern const unsigned long CKVM_CREATE_VCPU;
extern const unsigned long CKVM_SET_USER_MEMORY_REGION;
extern const unsigned long CKVM_SET_TSS_ADDR;
extern const unsigned long CKVM_SET_IDENTITY_MAP_ADDR;
extern const unsigned long CKVM_CREATE_IRQCHIP;
extern const unsigned long CKVM_CREATE_PIT2;
extern const unsigned long CKVM_REINJECT_CONTROL;
extern const unsigned long CKVM_IRQ_LINE;
extern const unsigned long CKVM_ENABLE_CAP;
extern const unsigned long CKVM_X86_SET_MSR_FILTER;
extern const unsigned long CKVM_GET_IRQCHIP;
extern const unsigned long CKVM_SET_IRQCHIP;
extern const unsigned long CKVM_GET_PIT2;
extern const unsigned long CKVM_SET_PIT2;

// MARK: ioctl request numbers (vCPU fd)
extern const unsigned long CKVM_RUN;
extern const unsigned long CKVM_GET_REGS;
extern const unsigned long CKVM_SET_REGS;
extern const unsigned long CKVM_GET_SREGS;
extern const unsigned long CKVM_SET_SREGS;
extern const unsigned long CKVM_SET_CPUID2;
extern const unsigned long CKVM_GET_MSRS;
extern const unsigned long CKVM_SET_MSRS;
extern const unsigned long CKVM_INTERRUPT;
extern const unsigned long CKVM_NMI;
extern const unsigned long CKVM_GET_VCPU_EVENTS;
extern const unsigned long CKVM_SET_SIGNAL_MASK;
extern const unsigned long CKVM_GET_TSC_KHZ;
extern const unsigned long CKVM_TRANSLATE;
extern const unsigned long CKVM_GET_LAPIC;
extern const unsigned long CKVM_SET_LAPIC;
extern const unsigned long CKVM_GET_MP_STATE;
extern const unsigned long CKVM_SET_MP_STATE;
extern const unsigned long CKVM_SET_GUEST_DEBUG;
extern const unsigned long CKVM_GET_DEVICE_ATTR;
extern const unsigned long CKVM_SET_DEVICE_ATTR;
extern const unsigned long CKVM_SET_VCPU_EVENTS;
extern const unsigned long CKVM_GET_FPU;
extern const unsigned long CKVM_SET_FPU;
extern const unsigned long CKVM_GET_XSAVE;
extern const unsigned long CKVM_SET_XSAVE;
extern const unsigned long CKVM_GET_XCRS;
extern const unsigned long CKVM_SET_XCRS;
extern const unsigned long CKVM_GET_DEBUGREGS;
extern const unsigned long CKVM_SET_DEBUGREGS;

// MARK: fixed-arity ioctl wrappers
// For requests without an argument; passes 0, which several KVM ioctls insist on.
int ckvm_ioctl_none(int fd, unsigned long request);
int ckvm_ioctl_value(int fd, unsigned long request, unsigned long value);
int ckvm_ioctl_pointer(int fd, unsigned long request, void *argument);

// MARK: struct kvm_run union members
// Each exit payload is an anonymous struct inside an anonymous union; a typedef gives
// it a name Swift can spell, and an accessor returns a pointer to it.
#define CKVM_RUN_MEMBER(member) \
    typedef __typeof__(((struct kvm_run *)0)->member) ckvm_run_##member##_t; \
    static inline ckvm_run_##member##_t *ckvm_run_##member(struct kvm_run *run) { return &run->member; }

CKVM_RUN_MEMBER(io)
CKVM_RUN_MEMBER(mmio)
CKVM_RUN_MEMBER(msr)
CKVM_RUN_MEMBER(internal)
CKVM_RUN_MEMBER(emulation_failure)
CKVM_RUN_MEMBER(fail_entry)
CKVM_RUN_MEMBER(system_event)
CKVM_RUN_MEMBER(debug)

#endif
