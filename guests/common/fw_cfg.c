/* QEMU fw_cfg through port I/O and DMA (QEMU docs/specs/fw_cfg.rst). */
#include "fw_cfg.h"
#include "io.h"
#include "string.h"

#define FW_CFG_PORT_SEL  0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA  0x514

#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SELECT 0x08

static uint32_t be32(uint32_t v) { return __builtin_bswap32(v); }
static uint16_t be16(uint16_t v) { return __builtin_bswap16(v); }

void fw_cfg_read_more(void *buf, size_t n) {
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = inb(FW_CFG_PORT_DATA);
}

void fw_cfg_read(uint16_t key, void *buf, size_t n) {
    outw(FW_CFG_PORT_SEL, key);
    fw_cfg_read_more(buf, n);
}

int fw_cfg_present(void) {
    char sig[4];
    fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
    return memcmp(sig, "QEMU", 4) == 0;
}

uint16_t fw_cfg_u16(uint16_t key) { uint16_t v; fw_cfg_read(key, &v, 2); return v; }
uint32_t fw_cfg_u32(uint16_t key) { uint32_t v; fw_cfg_read(key, &v, 4); return v; }
uint64_t fw_cfg_u64(uint16_t key) { uint64_t v; fw_cfg_read(key, &v, 8); return v; }

/* Directory: be32 count, then {be32 size, be16 select, u16 reserved, char name[56]}. */
int fw_cfg_find_file(const char *name, uint16_t *key, uint32_t *size) {
    uint32_t count;
    fw_cfg_read(FW_CFG_FILE_DIR, &count, 4);
    count = be32(count);
    for (uint32_t i = 0; i < count; i++) {
        struct { uint32_t size; uint16_t select, reserved; char name[56]; } f;
        fw_cfg_read_more(&f, sizeof f);
        if (strncmp(f.name, name, sizeof f.name) == 0) {
            *key = be16(f.select);
            *size = be32(f.size);
            return 1;
        }
    }
    return 0;
}

/* FWCfgDmaAccess, all fields big-endian. */
struct __attribute__((packed, aligned(8))) fw_cfg_dma_access {
    uint32_t control;
    uint32_t length;
    uint64_t address;
};

int fw_cfg_dma_read(uint16_t key, void *buf, uint32_t n) {
    static volatile struct fw_cfg_dma_access access;
    access.control = be32(((uint32_t)key << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
    access.length = be32(n);
    access.address = __builtin_bswap64((uint64_t)(uintptr_t)buf);
    uint64_t addr = (uint64_t)(uintptr_t)&access;  /* identity-mapped: virtual = physical */
    mem_barrier();
    outl(FW_CFG_PORT_DMA, be32((uint32_t)(addr >> 32)));
    outl(FW_CFG_PORT_DMA + 4, be32((uint32_t)addr));  /* starts the transfer */
    mem_barrier();
    uint32_t control;
    while ((control = be32(access.control)) & ~FW_CFG_DMA_CTL_ERROR) cpu_pause();
    return (control & FW_CFG_DMA_CTL_ERROR) ? -1 : 0;
}
