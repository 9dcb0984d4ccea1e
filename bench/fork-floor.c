/* fork-floor: the least KVM work that continues a SwiftVMM snapshot up to the guest's first
 * port write, the floor issue 22's fork target is measured against.
 *   fork-floor FLATFILE RAMFILE [-n RUNS]
 * FLATFILE is the snapshot's state written by bench/snapshot-flat.py (format in its header
 * comment); RAMFILE is the snapshot directory's `ram`. The snapshot must be of
 * guests/snapshot-input stopped at READY (`swiftvmm boot snapshot-input.elf --cpus 4
 * --memory 256M --snapshot-on '^READY$' --save DIR`): the guest polls COM1 for a line (port
 * reads only) and on "ipi 0" prints "ipi 0 round trips": the first byte it writes to COM1 is
 * its first port write after the restore (fork-bench times the same write).
 *
 * Each run builds a new machine the way SwiftVMM's MachineSnapshot.fork() does, less what
 * SwiftVMM does beyond KVM (devices, threads), what a process needs to ask KVM only once
 * (capabilities, KVM_GET_SUPPORTED_CPUID, KVM_GET_TSC_KHZ) and the calls whose effect the
 * restore overwrites (the TSC, IA32_MISC_ENABLE and IA32_APIC_BASE writes around it,
 * KVM_SET_FPU beside KVM_SET_XSAVE, a KVM_RUN with immediate_exit on a vCPU that has
 * nothing pending), then runs the boot vCPU until that write:
 *   1. VM and memory: KVM_CREATE_VM, MSR exits to userspace and the MSR filter SwiftVMM
 *      installs, KVM_SET_TSS_ADDR, RAMFILE mapped copy-on-write (MAP_PRIVATE: the guest's
 *      writes stay in this run's private pages, as in GuestMemory(forking:)) and
 *      KVM_SET_USER_MEMORY_REGION (HostVM.swift; see create_vm for the order);
 *   2. vCPUs: KVM_CREATE_VCPU and its kvm_run area for each;
 *   3. state: KVM_SET_CPUID2 for each vCPU, then each vCPU's registers in VCPU.restore's
 *      order (VCPU+State.swift);
 *   4. run: KVM_RUN on vCPU 0, typing "ipi 0\n" into a minimal COM1, until the guest's
 *      first port write.
 * The clock (CLOCK_MONOTONIC) starts before KVM_CREATE_VM and stops when KVM_RUN returns
 * that write. What a process does once, not per machine, is outside it: opening /dev/kvm,
 * KVM_GET_VCPU_MMAP_SIZE, opening RAMFILE, reading FLATFILE and building the ioctl
 * arguments from it. Tearing a machine down after each run is outside it too.
 * Any other exit (MMIO, HLT, an MSR exit, a failed entry...) aborts with what it was, so a
 * wrong restore cannot pass as a fast one.
 *
 * API references are to Documentation/virt/kvm/api.rst, by section name. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Guest-physical layout (SwiftVMMPlatform/Layout.swift): RAM from 0 up to 3 GiB, the rest
 * from 4 GiB up; the three pages KVM_SET_TSS_ADDR asks for sit in the device window. */
#define LOW_RAM_LIMIT   0xC0000000ull
#define HIGH_RAM_START  0x100000000ull
#define TSS_ADDRESS     0xFFFBD000ul

/* COM1, the 16550 the guest polls: receive buffer at the base, line status at base + 5
 * (0x61: data ready, transmitter empty; 0x60: empty). */
#define COM1_BASE       0x3F8
#define COM1_LSR        0x3FD
#define LSR_DATA_READY  0x61
#define LSR_IDLE        0x60
static const char INPUT[] = "ipi 0\n";

#define MAX_VCPUS 64
#define MAX_RUNS  10000
#define MAX_MSRS  1024

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void fail(const char *message) {
    fprintf(stderr, "fork-floor: %s\n", message);
    exit(2);
}

/* ioctl that must succeed; returns its result (an fd, a count or 0). */
static int xioctl(int fd, unsigned long request, void *argument, const char *name) {
    int result = ioctl(fd, request, argument);
    if (result < 0) die(name);
    return result;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ---- The snapshot, as the ioctls take it ---- */

/* One vCPU's state: each field points into the flat file's bytes or into a buffer built
 * from them once, before the first run (the ioctls below only read their arguments). */
struct vcpu_state {
    struct kvm_cpuid2 *cpuid;          /* header + entries, for KVM_SET_CPUID2 */
    const struct kvm_sregs *sregs;
    const struct kvm_regs *regs;
    const void *fpu;                   /* a struct kvm_xsave or, without XSAVE, a struct kvm_fpu */
    int has_xsave;
    const struct kvm_xcrs *xcrs;       /* NULL when the host had no KVM_CAP_XCRS */
    const struct kvm_debugregs *debugregs;
    const struct kvm_msr_entry *msrs;
    uint32_t nmsrs;
    const struct kvm_vcpu_events *events;
    const struct kvm_mp_state *mp_state;
};

struct snapshot {
    uint32_t nvcpus;
    uint64_t ram_size;
    struct vcpu_state vcpu[MAX_VCPUS];
};

/* A cursor over the flat file. */
struct reader {
    const uint8_t *at, *end;
};

/* The next blob's payload; its length in *length. */
static const void *next_blob(struct reader *r, uint32_t *length) {
    if (r->end - r->at < 4) fail("the flat file ends early");
    memcpy(length, r->at, 4);
    r->at += 4;
    if ((size_t)(r->end - r->at) < *length) fail("the flat file ends early");
    const void *payload = r->at;
    r->at += *length;
    return payload;
}

/* The next blob, which must be exactly `size` bytes (or empty, when `optional`). */
static const void *next_struct(struct reader *r, size_t size, int optional, const char *name) {
    uint32_t length;
    const void *payload = next_blob(r, &length);
    if (optional && length == 0) return NULL;
    if (length != size) {
        fprintf(stderr, "fork-floor: %s is %u bytes in the flat file, not %zu\n", name, length, size);
        exit(2);
    }
    return payload;
}

static void load_snapshot(const char *path, struct snapshot *s) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    struct stat st;
    if (fstat(fd, &st) != 0) die(path);
    uint8_t *bytes = malloc(st.st_size);
    if (!bytes || read(fd, bytes, st.st_size) != st.st_size) die(path);
    close(fd);

    struct reader r = {bytes, bytes + st.st_size};
    if (st.st_size < 24 || memcmp(bytes, "SVMFLAT1", 8) != 0) fail("not a flat file of bench/snapshot-flat.py");
    memcpy(&s->nvcpus, bytes + 8, 4);
    memcpy(&s->ram_size, bytes + 16, 8);
    r.at += 24;
    if (s->nvcpus < 1 || s->nvcpus > MAX_VCPUS) fail("vCPU count out of range");
    if (s->ram_size < (2u << 20) || s->ram_size % 4096) fail("RAM size out of range");

    for (uint32_t i = 0; i < s->nvcpus; i++) {
        struct vcpu_state *v = &s->vcpu[i];
        uint32_t length;
        const void *leaves = next_blob(&r, &length);
        if (length % sizeof(struct kvm_cpuid_entry2)) fail("CPUID blob is not whole kvm_cpuid_entry2s");
        /* struct kvm_cpuid2 ends in a flexible array: header and entries in one block. */
        v->cpuid = malloc(sizeof *v->cpuid + length);
        if (!v->cpuid) die("malloc");
        v->cpuid->nent = length / sizeof(struct kvm_cpuid_entry2);
        v->cpuid->padding = 0;
        memcpy(v->cpuid->entries, leaves, length);

        v->sregs = next_struct(&r, sizeof *v->sregs, 0, "kvm_sregs");
        v->regs = next_struct(&r, sizeof *v->regs, 0, "kvm_regs");
        v->fpu = next_blob(&r, &length);
        if (length == sizeof(struct kvm_xsave)) v->has_xsave = 1;
        else if (length != sizeof(struct kvm_fpu)) fail("the FPU blob is neither a kvm_xsave nor a kvm_fpu");
        v->xcrs = next_struct(&r, sizeof *v->xcrs, 1, "kvm_xcrs");
        v->debugregs = next_struct(&r, sizeof *v->debugregs, 0, "kvm_debugregs");
        v->msrs = next_blob(&r, &length);
        if (length % sizeof(struct kvm_msr_entry) || length / sizeof(struct kvm_msr_entry) > MAX_MSRS)
            fail("MSR blob is not whole kvm_msr_entrys, or too many");
        v->nmsrs = length / sizeof(struct kvm_msr_entry);
        v->events = next_struct(&r, sizeof *v->events, 0, "kvm_vcpu_events");
        v->mp_state = next_struct(&r, sizeof *v->mp_state, 0, "kvm_mp_state");
    }
    if (r.at != r.end) fail("trailing bytes after the last vCPU");
    /* `bytes` stays allocated: the vCPU states point into it for every run. */
}

/* ---- The MSR filter SwiftVMM installs ---- */

/* The MSRs KVM keeps answering (MSRPolicy.kvmHandled, for the userspace irqchip, no nested
 * VMX and no --msr overrides); every other guest RDMSR/WRMSR exits to userspace. */
static const uint32_t KVM_HANDLED[][2] = {
    {0x10, 0x10}, {0x3B, 0x3B}, {0x48, 0x49}, {0xC1, 0xC8}, {0xFE, 0xFE}, {0x10A, 0x10B},
    {0x174, 0x176}, {0x179, 0x17B}, {0x186, 0x18D}, {0x1A0, 0x1A0}, {0x1D9, 0x1D9},
    {0x200, 0x20F}, {0x250, 0x250}, {0x258, 0x259}, {0x268, 0x26F}, {0x277, 0x277},
    {0x2FF, 0x2FF}, {0x309, 0x30B}, {0x38D, 0x390}, {0x400, 0x47F}, {0xDA0, 0xDA0},
    {0xC0000080, 0xC0000084}, {0xC0000100, 0xC0000103}, {0xC0010000, 0xC0010007},
    {0xC0010200, 0xC001020B},
};
#define FILTER_SPAN 0x1000 /* MSRs per filter range, as MSRFilter.allow groups them */

/* Whole 64-bit words per bitmap: KVM copies BITS_TO_LONGS(nmsrs) longs of it. */
static uint64_t filter_bitmaps[KVM_MSR_FILTER_MAX_RANGES][FILTER_SPAN / 64];

/* Deny by default; one range per span of indices, the bit set for each MSR KVM handles
 * (api.rst "KVM_X86_SET_MSR_FILTER"). Ascending indices join the last range while they are
 * within FILTER_SPAN of its base, as in MSRFilter.allow. */
static void build_msr_filter(struct kvm_msr_filter *filter) {
    memset(filter, 0, sizeof *filter);
    filter->flags = KVM_MSR_FILTER_DEFAULT_DENY;
    int n = -1;
    for (size_t i = 0; i < sizeof KVM_HANDLED / sizeof KVM_HANDLED[0]; i++)
        for (uint64_t index = KVM_HANDLED[i][0]; index <= KVM_HANDLED[i][1]; index++) {
            if (n < 0 || index - filter->ranges[n].base >= FILTER_SPAN) {
                if (++n == KVM_MSR_FILTER_MAX_RANGES) fail("too many MSR filter ranges");
                filter->ranges[n].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
                filter->ranges[n].base = (uint32_t)index;
                filter->ranges[n].bitmap = (uint8_t *)filter_bitmaps[n];
            }
            uint32_t bit = (uint32_t)index - filter->ranges[n].base;
            filter_bitmaps[n][bit / 64] |= 1ull << (bit % 64);
            filter->ranges[n].nmsrs = bit + 1;
        }
}

/* ---- One machine ---- */

struct machine {
    int vm;
    uint8_t *ram;
    int vcpu[MAX_VCPUS];
    struct kvm_run *run[MAX_VCPUS];
};

/* Step 1: the VM, its MSR handling and its RAM: HostVM.init's calls, the MSR set-up
 * moved before the memory slot. KVM_X86_SET_MSR_FILTER waits for an SRCU grace period
 * on the VM's srcu (synchronize_srcu in kvm_vm_ioctl_set_msr_filter). On a new VM none has
 * run yet and the wait is short; issued right after KVM_SET_USER_MEMORY_REGION, which just
 * ended one, it took 13-15 ms in most runs on the nested host, which would make the floor
 * mostly that wait. The filter means the same either way (api.rst "KVM_X86_SET_MSR_FILTER"
 * allows it at any time; before any vCPU exists is when it is not racy). */
static void create_vm(struct machine *m, const struct snapshot *s, int kvm, int ram_fd,
                      const struct kvm_msr_filter *filter) {
    m->vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");

    /* api.rst "KVM_CAP_X86_USER_SPACE_MSR": MSR accesses KVM rejects, does not know or is
     * filtered from exit to userspace instead of injecting #GP. */
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_X86_USER_SPACE_MSR,
        .args = {KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER},
    };
    xioctl(m->vm, KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)");
    /* The filter governs the guest's RDMSR/WRMSR only, not the KVM_SET_MSRS of the restore. */
    xioctl(m->vm, KVM_X86_SET_MSR_FILTER, (void *)filter, "KVM_X86_SET_MSR_FILTER");

    /* api.rst "KVM_SET_TSS_ADDR": needed on Intel; SwiftVMM sets it on every host. */
    if (ioctl(m->vm, KVM_SET_TSS_ADDR, TSS_ADDRESS) < 0) die("KVM_SET_TSS_ADDR");
    m->ram = mmap(NULL, s->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, ram_fd, 0);
    if (m->ram == MAP_FAILED) die("mmap RAM");
    uint64_t low = s->ram_size < LOW_RAM_LIMIT ? s->ram_size : LOW_RAM_LIMIT;
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = low, .userspace_addr = (uintptr_t)m->ram,
    };
    xioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    if (s->ram_size > low) {
        region = (struct kvm_userspace_memory_region){
            .slot = 1, .guest_phys_addr = HIGH_RAM_START, .memory_size = s->ram_size - low,
            .userspace_addr = (uintptr_t)m->ram + low,
        };
        xioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    }
}

/* Step 2: each vCPU, with its vCPU id as its APIC id (api.rst "KVM_CREATE_VCPU"), and its
 * kvm_run area, mapped from the vCPU fd (api.rst "KVM_RUN"). */
static void create_vcpus(struct machine *m, const struct snapshot *s, size_t run_size) {
    for (uint32_t i = 0; i < s->nvcpus; i++) {
        m->vcpu[i] = xioctl(m->vm, KVM_CREATE_VCPU, (void *)(uintptr_t)i, "KVM_CREATE_VCPU");
        m->run[i] = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->vcpu[i], 0);
        if (m->run[i] == MAP_FAILED) die("mmap kvm_run");
    }
}

/* KVM_SET_MSRS over all of `saved`, in order. KVM sets MSRs one by one and stops at the
 * first it refuses, returning how many it set (api.rst "KVM_SET_MSRS"); kvm_pvm refuses
 * host writes of some paravirtual MSRs whatever the value. As in VCPU.restoreMSRs, a
 * refused MSR is fine only if the vCPU already holds the saved value, and the next batch
 * starts after it. Returns the number of KVM_SET_MSRS calls. */
static int restore_msrs(int vcpu, uint32_t id, const struct kvm_msr_entry *saved, uint32_t count, int verbose) {
    static struct {
        struct kvm_msrs header;
        struct kvm_msr_entry entries[MAX_MSRS];
    } batch;
    int calls = 0;
    uint32_t done = 0;
    while (done < count) {
        batch.header.nmsrs = count - done;
        memcpy(batch.entries, saved + done, (count - done) * sizeof *saved);
        int set = xioctl(vcpu, KVM_SET_MSRS, &batch, "KVM_SET_MSRS");
        calls++;
        done += set;
        if (done == count) break;
        struct {
            struct kvm_msrs header;
            struct kvm_msr_entry entry;
        } one = {.header.nmsrs = 1, .entry.index = saved[done].index};
        if (xioctl(vcpu, KVM_GET_MSRS, &one, "KVM_GET_MSRS") != 1 || one.entry.data != saved[done].data) {
            fprintf(stderr, "fork-floor: KVM refused MSR %#x = %#llx and holds another value\n",
                    saved[done].index, (unsigned long long)saved[done].data);
            exit(2);
        }
        if (verbose)
            printf("  vCPU %u: KVM refused MSR %#x, already at the saved value %#llx\n", id,
                   saved[done].index, (unsigned long long)saved[done].data);
        done++;
    }
    return calls;
}

/* Step 3: CPUID on every vCPU, then each vCPU's state in VCPU.restore's order. Returns the
 * number of KVM_SET_MSRS calls the restore took. */
static int restore_state(struct machine *m, const struct snapshot *s, int verbose) {
    /* CPUID first: KVM checks XCR0, the XSAVE area and many MSRs against the vCPU's CPUID
     * when they are set, and api.rst "KVM_SET_CPUID2" forbids changing it after KVM_RUN. */
    for (uint32_t i = 0; i < s->nvcpus; i++)
        xioctl(m->vcpu[i], KVM_SET_CPUID2, s->vcpu[i].cpuid, "KVM_SET_CPUID2");
    int msr_calls = 0;
    for (uint32_t i = 0; i < s->nvcpus; i++) {
        const struct vcpu_state *v = &s->vcpu[i];
        int fd = m->vcpu[i];
        /* Special registers first: CR0, CR4 and EFER decide what the rest means. */
        xioctl(fd, KVM_SET_SREGS, (void *)v->sregs, "KVM_SET_SREGS");
        xioctl(fd, KVM_SET_REGS, (void *)v->regs, "KVM_SET_REGS");
        /* The XSAVE area holds the x87 and SSE state KVM_SET_FPU would set, and more
         * (api.rst "KVM_SET_XSAVE"); kvm_fpu only where the host has no XSAVE. */
        if (v->has_xsave) xioctl(fd, KVM_SET_XSAVE, (void *)v->fpu, "KVM_SET_XSAVE");
        else xioctl(fd, KVM_SET_FPU, (void *)v->fpu, "KVM_SET_FPU");
        if (v->xcrs) xioctl(fd, KVM_SET_XCRS, (void *)v->xcrs, "KVM_SET_XCRS");
        xioctl(fd, KVM_SET_DEBUGREGS, (void *)v->debugregs, "KVM_SET_DEBUGREGS");
        /* The TSC first and IA32_TSC_DEADLINE last, as the snapshot lists them. */
        msr_calls += restore_msrs(fd, i, v->msrs, v->nmsrs, verbose);
        /* Pending events after the registers, the run state last (api.rst
         * "KVM_SET_VCPU_EVENTS", "KVM_SET_MP_STATE"). */
        xioctl(fd, KVM_SET_VCPU_EVENTS, (void *)v->events, "KVM_SET_VCPU_EVENTS");
        xioctl(fd, KVM_SET_MP_STATE, (void *)v->mp_state, "KVM_SET_MP_STATE");
    }
    return msr_calls;
}

/* Step 4: runs vCPU 0 until the guest writes a port other than COM1's; returns how many
 * KVM_RUN calls that took, and the port and value written. The application processors are
 * not run: in this snapshot they are halted, a state SwiftVMM's runner keeps (without
 * KVM's irqchip, KVM does not), and nothing wakes them before the write. */
static int run_to_first_write(struct machine *m, uint16_t *port, uint32_t *value) {
    struct kvm_run *run = m->run[0];
    size_t typed = 0;
    for (int entries = 1;; entries++) {
        if (ioctl(m->vcpu[0], KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            die("KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            size_t bytes = (size_t)run->io.size * run->io.count;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                *port = run->io.port;
                *value = 0;
                memcpy(value, data, run->io.size < 4 ? run->io.size : 4);
                return entries;
            }
            for (size_t i = 0; i < bytes; i++) {
                if (run->io.port == COM1_LSR) data[i] = typed < sizeof INPUT - 1 ? LSR_DATA_READY : LSR_IDLE;
                else if (run->io.port == COM1_BASE && typed < sizeof INPUT - 1) data[i] = (uint8_t)INPUT[typed++];
                else data[i] = 0xFF;
            }
            break;
        }
        case KVM_EXIT_MMIO:
            fprintf(stderr, "fork-floor: unexpected MMIO %s at %#llx (%u bytes)\n",
                    run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr, run->mmio.len);
            exit(3);
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR:
            fprintf(stderr, "fork-floor: unexpected %s of MSR %#x\n",
                    run->exit_reason == KVM_EXIT_X86_RDMSR ? "RDMSR" : "WRMSR", run->msr.index);
            exit(3);
        case KVM_EXIT_FAIL_ENTRY:
            fprintf(stderr, "fork-floor: VM entry failed, hardware reason %#llx\n",
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            exit(3);
        case KVM_EXIT_INTERNAL_ERROR:
            fprintf(stderr, "fork-floor: KVM internal error, suberror %u\n", run->internal.suberror);
            exit(3);
        default:
            fprintf(stderr, "fork-floor: unexpected exit reason %u (KVM_EXIT_* in <linux/kvm.h>; 5 HLT, 8 SHUTDOWN)\n",
                    run->exit_reason);
            exit(3);
        }
    }
}

/* Everything one run created, in reverse; closing the last fd of a VM destroys it. */
static void destroy(struct machine *m, const struct snapshot *s, size_t run_size) {
    for (uint32_t i = 0; i < s->nvcpus; i++) {
        munmap(m->run[i], run_size);
        close(m->vcpu[i]);
    }
    close(m->vm);
    munmap(m->ram, s->ram_size);
}

/* ---- Measurement ---- */

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *values, int n) {
    double *sorted = malloc(n * sizeof *sorted);
    if (!sorted) die("malloc");
    memcpy(sorted, values, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare);
    double m = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    free(sorted);
    return m;
}

enum { VM_MEMORY, VCPUS, RESTORE, RUN, TOTAL, PHASES };

int main(int argc, char **argv) {
    int runs = 20;
    if (argc == 5 && strcmp(argv[3], "-n") == 0) runs = atoi(argv[4]);
    else if (argc != 3) {
        fprintf(stderr, "usage: fork-floor FLATFILE RAMFILE [-n RUNS]\n");
        return 2;
    }
    if (runs < 1 || runs > MAX_RUNS) fail("RUNS must be 1 to 10000");

    static struct snapshot snapshot;
    load_snapshot(argv[1], &snapshot);
    int ram_fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (ram_fd < 0) die(argv[2]);
    struct stat st;
    if (fstat(ram_fd, &st) != 0) die(argv[2]);
    if ((uint64_t)st.st_size != snapshot.ram_size) fail("RAMFILE is not the size of the snapshot's RAM");
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) fail("KVM API version is not 12");
    size_t run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    static struct kvm_msr_filter filter;
    build_msr_filter(&filter);

    static double times[PHASES][MAX_RUNS];
    uint16_t first_port = 0;
    uint32_t first_value = 0;
    for (int r = 0; r < runs; r++) {
        struct machine m;
        uint16_t port;
        uint32_t value;
        double t0 = now_ms();
        create_vm(&m, &snapshot, kvm, ram_fd, &filter);
        double t1 = now_ms();
        create_vcpus(&m, &snapshot, run_size);
        double t2 = now_ms();
        int msr_calls = restore_state(&m, &snapshot, r == 0);
        double t3 = now_ms();
        int entries = run_to_first_write(&m, &port, &value);
        double t4 = now_ms();
        destroy(&m, &snapshot, run_size);

        times[VM_MEMORY][r] = t1 - t0;
        times[VCPUS][r] = t2 - t1;
        times[RESTORE][r] = t3 - t2;
        times[RUN][r] = t4 - t3;
        times[TOTAL][r] = t4 - t0;
        if (r == 0) {
            first_port = port;
            first_value = value;
            printf("first port write: OUT %#x = %#x after %d KVM_RUN calls; %d KVM_SET_MSRS calls for %u vCPUs\n",
                   port, value, entries, msr_calls, snapshot.nvcpus);
        } else if (port != first_port || value != first_value) {
            fprintf(stderr, "fork-floor: run %d wrote OUT %#x = %#x, run 1 OUT %#x = %#x\n", r + 1, port, value,
                    first_port, first_value);
            return 3;
        }
        printf("run %d: %.3f ms (VM+memory %.3f, vCPUs %.3f, state %.3f, run %.3f)\n", r + 1,
               times[TOTAL][r], times[VM_MEMORY][r], times[VCPUS][r], times[RESTORE][r], times[RUN][r]);
    }
    printf("fork-floor: median %.3f ms over %d runs (create VM ... first port write)\n", median(times[TOTAL], runs), runs);
    printf("fork-floor: phase medians: VM+memory set-up %.3f ms, vCPU creation %.3f ms, "
           "state restore %.3f ms, run to the write %.3f ms\n",
           median(times[VM_MEMORY], runs), median(times[VCPUS], runs), median(times[RESTORE], runs),
           median(times[RUN], runs));
    return 0;
}
