#include "boot/mb1.S"
