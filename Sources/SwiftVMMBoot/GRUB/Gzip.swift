import CZlib

/// gzip (RFC 1952) decompression through zlib. GRUB unpacks a gzip module unless the
/// `module` line says `--nounzip`; so does SwiftVMM. zlib is on every Linux system; the
/// Swift packages that wrap it need Foundation, which `swiftvmm boot` does not link.
enum Gzip {
    /// RFC 1952 §2.3.1: ID1, ID2.
    static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }

    /// The decompressed bytes, at most `limit` of them.
    static func decompress(_ compressed: [UInt8], limit: Int) throws(ImageError) -> [UInt8] {
        guard compressed.count <= Int(UInt32.max) else { throw ImageError("gzip data over 4 GiB") }
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else { throw ImageError("zlib could not start: \(String(cString: zError(Z_MEM_ERROR)))") }
        defer { inflateEnd(&stream) }
        var input = compressed
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        // SAFETY: zlib reads `input` and writes `chunk` only through the pointers set here,
        // and only inside these closures, where both buffers are pinned; the stream's
        // pointers are not used after the closures return (inflateEnd does not touch them).
        let status: Int32 = input.withUnsafeMutableBufferPointer { input in
            stream.next_in = input.baseAddress
            stream.avail_in = UInt32(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { chunk in
                    stream.next_out = chunk.baseAddress
                    stream.avail_out = UInt32(chunk.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output += chunk[..<(chunk.count - Int(stream.avail_out))]
                if output.count > limit { return Z_MEM_ERROR }
                if status != Z_OK { return status }
            }
        }
        switch status {
        case Z_STREAM_END: return output
        case Z_MEM_ERROR where output.count > limit:
            throw ImageError("gzip data unpacks to more than the \(limit) bytes that fit")
        case Z_BUF_ERROR: throw ImageError("truncated gzip data: it ends before the end of its stream")
        default: throw ImageError("corrupt gzip data: \(String(cString: zError(status)))")
        }
    }
}
