#include "multiboot.h"
#include "printf.h"

const char *mb2_validate(uint64_t addr) {
    if (addr == 0) return "mb2 info address is 0";
    if (addr & 7) return "mb2 info not 8-byte aligned";
    const struct mb2_info *info = (const struct mb2_info *)addr;
    if (info->total_size < 16) return "mb2 total_size too small";
    if (addr + info->total_size > 0x100000000ull) return "mb2 info beyond 4 GiB";
    uint64_t off = 8;
    while (off + 8 <= info->total_size) {
        const struct mb2_tag *t = (const struct mb2_tag *)(addr + off);
        if (t->size < 8) return "mb2 tag size < 8";
        if (off + t->size > info->total_size) return "mb2 tag beyond total_size";
        if (t->type == MB2_TAG_END) {
            if (t->size != 8) return "mb2 end tag size != 8";
            if (off + 8 != info->total_size) return "mb2 end tag not last";
            return 0;
        }
        off += (t->size + 7) & ~7ull;
    }
    return "mb2 end tag missing";
}

const struct mb2_tag *mb2_find_tag(uint64_t addr, uint32_t type, const struct mb2_tag *after) {
    const struct mb2_info *info = (const struct mb2_info *)addr;
    uint64_t off = after ? (uint64_t)after - addr + ((after->size + 7) & ~7u) : 8;
    while (off + 8 <= info->total_size) {
        const struct mb2_tag *t = (const struct mb2_tag *)(addr + off);
        if (t->type == MB2_TAG_END) return 0;
        if (t->type == type) return t;
        off += (t->size + 7) & ~7ull;
    }
    return 0;
}

const char *mb2_print_mmap(const struct mb2_tag *tag) {
    const struct mb2_tag_mmap *m = (const struct mb2_tag_mmap *)tag;
    if (m->size < sizeof(*m)) return "mb2 mmap tag too small";
    if (m->entry_size < sizeof(struct mb2_mmap_entry) || (m->entry_size & 7))
        return "mb2 mmap entry_size invalid";
    if (m->entry_version != 0) return "mb2 mmap entry_version != 0";
    uint32_t n = (m->size - sizeof(*m)) / m->entry_size;
    for (uint32_t i = 0; i < n; i++) {
        const struct mb2_mmap_entry *e =
            (const struct mb2_mmap_entry *)((const uint8_t *)m + sizeof(*m) + i * m->entry_size);
        printf("mmap base=0x%lx len=0x%lx type=%u\n", e->base_addr, e->length, e->type);
    }
    return 0;
}
