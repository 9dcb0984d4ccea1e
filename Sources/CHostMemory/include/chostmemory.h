// CHostMemory: the memory calls Swift's Glibc module does not import (memfd_create and
// file seals are GNU extensions), for the guest RAM images that forked machines map
// copy-on-write (SwiftVMMMemory/RAMImage.swift). No logic lives here: every function is
// one call.
#ifndef CHOSTMEMORY_H
#define CHOSTMEMORY_H

// An anonymous file in RAM (memfd_create(2)), close-on-exec, that can be sealed.
// A descriptor, or -1 with errno.
int chost_memfd_create(const char *name);
// Seals the file against every change: writes, growing, shrinking and further seals
// (fcntl(2) F_ADD_SEALS). Private mappings stay writable: their writes never reach it.
// 0, or -1 with errno.
int chost_seal_read_only(int fd);

#endif
