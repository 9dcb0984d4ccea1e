#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include "chostmemory.h"

int chost_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

int chost_seal_read_only(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
}
