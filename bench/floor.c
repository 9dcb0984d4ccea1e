/* floor: the smallest KVM VMM that boots a multiboot 1 test kernel, the baseline
 * bench/compare.sh measures SwiftVMM against.
 *   floor KERNEL.elf [CMDLINE]
 * Loads the ELF (64- or 32-bit) PT_LOAD segments at p_paddr into 256 MiB of RAM, enters
 * e_entry in 32-bit protected mode with paging off, EAX = 0x2BADB002, EBX = a multiboot
 * info block (flags 0, or 4 with a command line; Multiboot 0.6.96 §3.2, §3.3). Handles
 * COM1 output (THR 0x3F8; LSR 0x3FD reads 0x60, "transmitter empty") and the isa-debug-exit
 * port 0xF4 (exit status (v << 1) | 1). Every other port write is dropped, reads return
 * all ones. No interrupts, no APIC, one vCPU. */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_SIZE   (256ul << 20)
#define INFO_ADDR  0x7000ul /* multiboot info, in free conventional memory */
#define CMDLINE_ADDR 0x7100ul
#define COM1_THR   0x3F8
#define COM1_LSR   0x3FD
#define DEBUG_EXIT 0xF4

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int xioctl(int fd, unsigned long request, void *arg, const char *name) {
    int r = ioctl(fd, request, arg);
    if (r < 0) die(name);
    return r;
}

/* Copies one PT_LOAD segment to guest RAM (the rest of p_memsz is already zero). */
static void load_segment(uint8_t *ram, const uint8_t *file, size_t size,
                         uint64_t offset, uint64_t filesz, uint64_t memsz, uint64_t paddr) {
    if (offset + filesz > size || paddr + memsz > RAM_SIZE || filesz > memsz) {
        fprintf(stderr, "floor: segment outside the file or RAM\n");
        exit(2);
    }
    memcpy(ram + paddr, file + offset, filesz);
}

/* Loads every PT_LOAD segment; returns the entry point. */
static uint32_t load_elf(uint8_t *ram, const uint8_t *file, size_t size) {
    if (size < sizeof(Elf64_Ehdr) || memcmp(file, ELFMAG, SELFMAG) != 0) {
        fprintf(stderr, "floor: not an ELF file\n");
        exit(2);
    }
    if (file[EI_CLASS] == ELFCLASS64) {
        const Elf64_Ehdr *eh = (const void *)file;
        for (int i = 0; i < eh->e_phnum; i++) {
            const Elf64_Phdr *ph = (const void *)(file + eh->e_phoff + (size_t)i * eh->e_phentsize);
            if (ph->p_type == PT_LOAD)
                load_segment(ram, file, size, ph->p_offset, ph->p_filesz, ph->p_memsz, ph->p_paddr);
        }
        return (uint32_t)eh->e_entry;
    }
    const Elf32_Ehdr *eh = (const void *)file;
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf32_Phdr *ph = (const void *)(file + eh->e_phoff + (size_t)i * eh->e_phentsize);
        if (ph->p_type == PT_LOAD)
            load_segment(ram, file, size, ph->p_offset, ph->p_filesz, ph->p_memsz, ph->p_paddr);
    }
    return eh->e_entry;
}

/* Flat 4 GiB segment (Intel SDM Vol. 3A §3.4.5): code type 0xB or data type 0x3. */
static struct kvm_segment flat(uint16_t selector, uint8_t type) {
    return (struct kvm_segment){ .base = 0, .limit = 0xFFFFFFFF, .selector = selector,
                                 .type = type, .present = 1, .db = 1, .s = 1, .g = 1 };
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: floor KERNEL.elf [CMDLINE]\n");
        return 2;
    }
    int kernel = open(argv[1], O_RDONLY);
    struct stat st;
    if (kernel < 0 || fstat(kernel, &st) < 0) die(argv[1]);
    const uint8_t *file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, kernel, 0);
    if (file == MAP_FAILED) die("mmap kernel");

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) die("mmap RAM");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram };
    xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    xioctl(vm, KVM_SET_TSS_ADDR, (void *)0xFFFBD000ul, "KVM_SET_TSS_ADDR");

    uint32_t entry = load_elf(ram, file, (size_t)st.st_size);
    uint32_t info[2] = { 0, 0 }; /* flags, then mem_lower (unused with flags 0) */
    if (argc > 2) {
        strncpy((char *)ram + CMDLINE_ADDR, argv[2], 0x1000 - 1);
        info[0] = 1u << 2; /* cmdline valid (Multiboot 0.6.96 §3.3) */
    }
    memcpy(ram + INFO_ADDR, info, sizeof info);
    uint32_t cmdline = CMDLINE_ADDR;
    memcpy(ram + INFO_ADDR + 16, &cmdline, 4); /* offset 16: cmdline */

    int vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    /* The guest enables long mode, which KVM allows only if CPUID shows it. */
    struct { struct kvm_cpuid2 head; struct kvm_cpuid_entry2 entries[256]; } cpuid = { .head.nent = 256 };
    xioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid, "KVM_GET_SUPPORTED_CPUID");
    xioctl(vcpu, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");
    int run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");

    /* Multiboot 1 §3.2 machine state: protected mode, paging off, flat segments. */
    struct kvm_sregs sregs;
    xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.cs = flat(0x08, 0xB);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat(0x10, 0x3);
    sregs.cr0 = 0x11; /* PE | ET */
    xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = entry, .rax = 0x2BADB002, .rbx = INFO_ADDR, .rflags = 0x2 };
    xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
        if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "floor: unhandled exit reason %u\n", run->exit_reason);
            return 2;
        }
        uint8_t *data = (uint8_t *)run + run->io.data_offset;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            if (run->io.port == COM1_THR) {
                fwrite(data, run->io.size, run->io.count, stdout);
            } else if (run->io.port == DEBUG_EXIT) {
                fflush(stdout);
                return (data[0] << 1) | 1;
            }
        } else {
            memset(data, run->io.port == COM1_LSR ? 0x60 : 0xFF, (size_t)run->io.size * run->io.count);
        }
    }
}
