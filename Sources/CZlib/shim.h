// zlib, for gzip-compressed boot modules (GRUB decompresses them; so does SwiftVMM).
#include <zlib.h>

// inflateInit2 is a macro, which Swift cannot call: 16 + MAX_WBITS asks zlib for a gzip
// (RFC 1952) stream with the largest window.
static inline int czlib_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}
