#include "boot/elf64.S"
