#include "boot/mb2.S"
