/* fwcfg: reads QEMU's fw_cfg (common/fw_cfg.c) and checks it against what the command
 * line says the machine is: "cpus=N mem=M" (M in MiB; any other words are ignored, so
 * QEMU's "KERNEL-PATH cpus=N mem=M" works too). Prints one line per item:
 *   signature, id, cpus (NB_CPUS = MAX_CPUS = N = the MADT's count), ram (RAM size = M MiB),
 *   cmdline (items 0x14/0x15 = the multiboot command line; QEMU's multiboot loader sets
 *   neither, so size 0 is reported as "absent"), the file directory and etc/e820 (its
 *   usable RAM ends at M MiB and is within 1 MiB of M; every file is listed, opt/ ones
 *   shorter than 65 bytes with their contents), the same e820 bytes read by DMA
 *   when the ID item says DMA is there, and the Bochs debug console at 0xE9 when it answers.
 * v=0 when every check passes, else v=1. */
#include "acpi.h"
#include "fw_cfg.h"
#include "guest.h"
#include "multiboot.h"

static int failures;

static void check(int ok, const char *what) {
    if (!ok) failures++;
    printf("%s %s\n", what, ok ? "ok" : "FAIL");
}

/* The number after "key=" in the command line, or -1. */
static long long word_value(const char *cmdline, const char *key) {
    size_t n = strlen(key);
    for (const char *p = cmdline; *p; p++) {
        if ((p == cmdline || p[-1] == ' ') && strncmp(p, key, n) == 0 && p[n] == '=') {
            long long v = 0;
            for (p += n + 1; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
            return v;
        }
    }
    return -1;
}

struct __attribute__((packed)) e820_entry { uint64_t address, length; uint32_t type; };
static struct e820_entry e820[64], e820_dma[64];
static char cmdline_fw[4096];
static uint8_t dir_skip[4 + 64 * 64];

int main(void) {
    const struct mb1_info *mb = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *cmdline = (mb->flags & MB1_INFO_CMDLINE) ? (const char *)(uintptr_t)mb->cmdline : "";
    long long want_cpus = word_value(cmdline, "cpus"), want_mib = word_value(cmdline, "mem");
    printf("fwcfg: cmdline=[%s] expecting cpus=%lld mem=%lld MiB\n", cmdline, want_cpus, want_mib);

    int present = fw_cfg_present();
    check(present, "signature QEMU");
    if (!present) return EXIT_FAIL;
    uint32_t id = fw_cfg_u32(FW_CFG_ID);
    printf("id=0x%x\n", id);
    check(id & 1, "id traditional interface");

    uint16_t cpus = fw_cfg_u16(FW_CFG_NB_CPUS), max_cpus = fw_cfg_u16(FW_CFG_MAX_CPUS);
    int madt = acpi_madt_cpus(NULL, 0);
    printf("nb_cpus=%u max_cpus=%u madt=%d\n", cpus, max_cpus, madt);
    check(cpus == want_cpus && max_cpus >= cpus && madt == cpus, "cpus");

    uint64_t ram = fw_cfg_u64(FW_CFG_RAM_SIZE);
    printf("ram_size=0x%llx\n", (unsigned long long)ram);
    check(want_mib > 0 && ram == (uint64_t)want_mib << 20, "ram");

    uint32_t size = fw_cfg_u32(FW_CFG_CMDLINE_SIZE);
    if (size == 0) {
        printf("cmdline absent\n");
    } else {
        int fits = size <= sizeof cmdline_fw;
        if (fits) fw_cfg_read(FW_CFG_CMDLINE_DATA, cmdline_fw, size);
        printf("cmdline_size=%u cmdline=[%s]\n", size, fits ? cmdline_fw : "(too long)");
        check(fits && cmdline_fw[size - 1] == 0 && strcmp(cmdline_fw, cmdline) == 0, "cmdline");
    }

    /* The whole directory: name, key, size, and short contents (the -fw_cfg items). */
    uint32_t count;
    fw_cfg_read(FW_CFG_FILE_DIR, &count, 4);
    count = __builtin_bswap32(count);
    printf("files=%u\n", count);
    for (uint32_t i = 0; i < count && i < 64; i++) {
        struct { uint32_t size; uint16_t select, reserved; char name[56]; } f;
        fw_cfg_read(FW_CFG_FILE_DIR, dir_skip, 4 + i * sizeof f);
        fw_cfg_read_more(&f, sizeof f);
        f.name[55] = 0;
        uint32_t fsize = __builtin_bswap32(f.size);
        uint16_t fkey = __builtin_bswap16(f.select);
        char text[65] = {0};
        if (fsize < sizeof text && strncmp(f.name, "opt/", 4) == 0) fw_cfg_read(fkey, text, fsize);
        printf("file %s key=0x%x size=%u [%s]\n", f.name, fkey, fsize, text);
    }

    uint16_t key;
    uint32_t e820_size;
    int found = fw_cfg_find_file("etc/e820", &key, &e820_size);
    printf("etc/e820 key=0x%x size=%u\n", found ? key : 0, found ? e820_size : 0);
    check(found && e820_size % sizeof(struct e820_entry) == 0 && e820_size <= sizeof e820, "etc/e820 present");
    if (found && e820_size <= sizeof e820) {
        fw_cfg_read(key, e820, e820_size);
        uint64_t usable = 0, top = 0;
        for (uint32_t i = 0; i < e820_size / sizeof(struct e820_entry); i++) {
            printf("e820 0x%llx-0x%llx type %u\n", (unsigned long long)e820[i].address,
                   (unsigned long long)(e820[i].address + e820[i].length), e820[i].type);
            if (e820[i].type == 1 && e820[i].address < 0x100000000ull) {
                usable += e820[i].length;
                if (e820[i].address + e820[i].length > top) top = e820[i].address + e820[i].length;
            }
        }
        uint64_t want = (uint64_t)want_mib << 20;
        printf("e820 usable below 4G=0x%llx top=0x%llx\n", (unsigned long long)usable, (unsigned long long)top);
        check(top == want && usable <= want && usable + (1u << 20) >= want, "e820 matches mem");

        if (id & FW_CFG_ID_DMA) {
            int err = fw_cfg_dma_read(key, e820_dma, e820_size);
            check(!err && memcmp(e820, e820_dma, e820_size) == 0, "dma etc/e820");
            char sig[4] = {0};
            err = fw_cfg_dma_read(FW_CFG_SIGNATURE, sig, 4);
            check(!err && memcmp(sig, "QEMU", 4) == 0, "dma signature");
        }
    }

    if (inb(0xE9) == 0xE9) {
        const char *line = "debugcon: hello through port 0xE9\n";
        for (const char *p = line; *p; p++) outb(0xE9, (uint8_t)*p);
    } else {
        printf("debugcon absent\n");
    }

    printf("fwcfg: %s\n", failures ? "FAIL" : "PASS");
    return failures ? EXIT_FAIL : EXIT_PASS;
}
