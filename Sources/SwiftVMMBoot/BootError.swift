import SwiftVMMSupport

/// A kernel or module that cannot be booted, naming the file and the problem.
/// The CLI reports it and exits with status 2.
public struct BootError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}

/// A problem found while parsing an image, before the file name is attached.
struct ImageError: Error, Equatable {
    let problem: String
    init(_ problem: String) { self.problem = problem }
}

/// Bounds-checked little-endian reads from a file's bytes.
struct ByteReader {
    let bytes: [UInt8]

    func has(_ offset: UInt64, _ length: UInt64) -> Bool {
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= UInt64(bytes.count)
    }

    func read<T: FixedWidthInteger>(_: T.Type, at offset: UInt64, _ what: @autoclosure () -> String) throws(ImageError) -> T {
        guard has(offset, UInt64(MemoryLayout<T>.size)) else {
            throw ImageError("truncated: \(what()) at offset \(hex(offset)) is past the end of the file (\(bytes.count) bytes)")
        }
        var value: T = 0
        for i in (0..<MemoryLayout<T>.size).reversed() {
            value = value << 8 | T(bytes[Int(offset) + i])
        }
        return value
    }

    func u8(_ offset: UInt64, _ what: @autoclosure () -> String) throws(ImageError) -> UInt8 { try read(UInt8.self, at: offset, what()) }
    func u16(_ offset: UInt64, _ what: @autoclosure () -> String) throws(ImageError) -> UInt16 { try read(UInt16.self, at: offset, what()) }
    func u32(_ offset: UInt64, _ what: @autoclosure () -> String) throws(ImageError) -> UInt32 { try read(UInt32.self, at: offset, what()) }
    func u64(_ offset: UInt64, _ what: @autoclosure () -> String) throws(ImageError) -> UInt64 { try read(UInt64.self, at: offset, what()) }
}
