/* SwiftVMM's snapshot port (README "Snapshots"): a write asks for a snapshot right here,
 * where the host is set up to take one (`boot --save` without `--snapshot-on`); a read says
 * 1 in a machine continued from a snapshot, 0 in one booted from scratch. */
#ifndef GUEST_SNAPSHOT_H
#define GUEST_SNAPSHOT_H

#include "io.h"

#define SNAPSHOT_PORT 0x5F0

/* Asks for the snapshot; true in a machine continued from it, false in the machine it was
 * taken of (which `boot --save` ends at the write) or where none was taken. */
static inline int snapshot_here(void) {
    outb(SNAPSHOT_PORT, 0);
    return inb(SNAPSHOT_PORT) == 1;
}

#endif
