/* QEMU's firmware configuration device, x86 I/O interface (QEMU docs/specs/fw_cfg.rst):
 * selector 0x510 (16-bit write), data 0x511 (byte reads, auto-increment), DMA address
 * 0x514 (big-endian, high half at 0x514, low half at 0x518). */
#ifndef GUEST_FW_CFG_H
#define GUEST_FW_CFG_H

#include <stdint.h>
#include <stddef.h>

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_MAX_CPUS  0x0F
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_FILE_DIR  0x19

#define FW_CFG_ID_DMA    (1u << 1)

/* 1 if key 0 reads "QEMU". */
int fw_cfg_present(void);
/* Selects key and reads n bytes from its start through the data port. */
void fw_cfg_read(uint16_t key, void *buf, size_t n);
/* Reads the next n bytes of the selected item. */
void fw_cfg_read_more(void *buf, size_t n);
uint16_t fw_cfg_u16(uint16_t key);  /* little-endian scalar items */
uint32_t fw_cfg_u32(uint16_t key);
uint64_t fw_cfg_u64(uint16_t key);
/* Looks name up in the file directory: its key and size; 0 if absent. */
int fw_cfg_find_file(const char *name, uint16_t *key, uint32_t *size);
/* Selects key and reads n bytes at buf through the DMA interface; 0 on success, -1 if the
 * device reported an error. */
int fw_cfg_dma_read(uint16_t key, void *buf, uint32_t n);

#endif
