/* libFuzzer's driver entry point (compiler-rt FuzzerInterface.h), so each target's main can
 * start libFuzzer with its own input function. Provided by -sanitize=fuzzer. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
