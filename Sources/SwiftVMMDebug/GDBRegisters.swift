import SwiftVMMSupport

/// The registers gdb sees, in the order of the target description SwiftVMM sends
/// (`qXfer:features:read:target.xml`, GDB manual Appendix G "Target Descriptions"):
/// gdb's `i386:x86-64` core and SSE features (G.5.1 "i386 Features"), the segment bases,
/// and the system registers a kernel developer needs (CR0–CR4, CR8, EFER, KERNEL_GS_BASE).
/// A register's number in `p`/`P` is its index here.
public enum GDBRegisters {
    public struct Register: Sendable {
        public var name: String
        public var bits: Int
        public var type: String
        var feature: Feature
        var bytes: Int { bits / 8 }
    }

    enum Feature: String, CaseIterable {
        case core = "org.gnu.gdb.i386.core"
        case sse = "org.gnu.gdb.i386.sse"
        case segments = "org.gnu.gdb.i386.segments"
        case system = "org.swiftvmm.gdb.x86.system"
    }

    /// Every register, numbered from 0.
    public static let all: [Register] = {
        var list: [Register] = []
        func add(_ names: [String], _ bits: Int, _ type: String, _ feature: Feature) {
            list += names.map { Register(name: $0, bits: bits, type: type, feature: feature) }
        }
        add(["rax", "rbx", "rcx", "rdx", "rsi", "rdi"], 64, "int64", .core)
        add(["rbp", "rsp"], 64, "data_ptr", .core)
        add((8...15).map { "r\($0)" }, 64, "int64", .core)
        add(["rip"], 64, "code_ptr", .core)
        add(["eflags"], 32, "i386_eflags", .core)
        add(["cs", "ss", "ds", "es", "fs", "gs"], 32, "int32", .core)
        add((0...7).map { "st\($0)" }, 80, "i387_ext", .core)
        add(["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"], 32, "int", .core)
        add((0...15).map { "xmm\($0)" }, 128, "uint128", .sse)
        add(["mxcsr"], 32, "int", .sse)
        add(["fs_base", "gs_base"], 64, "int64", .segments)
        add(["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "k_gs_base"], 64, "int64", .system)
        return list
    }()

    package static let number: [String: Int] = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1.name, $0) })

    /// The target description: one XML document with every feature inline.
    public static let targetXML: String = {
        var xml = """
            <?xml version="1.0"?>
            <!DOCTYPE target SYSTEM "gdb-target.dtd">
            <target version="1.0">
            <architecture>i386:x86-64</architecture>

            """
        for feature in Feature.allCases {
            xml += "<feature name=\"\(feature.rawValue)\">\n"
            if feature == .core { xml += eflagsType }
            for (number, register) in all.enumerated() where register.feature == feature {
                let group = feature == .system ? " group=\"system\"" : ""
                xml += "  <reg name=\"\(register.name)\" bitsize=\"\(register.bits)\" type=\"\(register.type)\" regnum=\"\(number)\"\(group)/>\n"
            }
            xml += "</feature>\n"
        }
        return xml + "</target>\n"
    }()

    /// EFLAGS bit names (SDM Vol. 1 §3.4.3), as in gdb's own 64bit-core.xml.
    private static let eflagsType: String = {
        let bits = [(0, "CF"), (1, ""), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
                    (10, "DF"), (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"),
                    (20, "VIP"), (21, "ID")]
        return "  <flags id=\"i386_eflags\" size=\"4\">\n"
            + bits.map { "    <field name=\"\($1)\" start=\"\($0)\" end=\"\($0)\"/>\n" }.joined()
            + "  </flags>\n"
    }()

    /// The `g` reply: every register little-endian in order; nil values (registers
    /// SwiftVMM does not read, the x87 and SSE state) are "unavailable", `xx` per byte.
    public static func encode(_ values: [UInt64?]) -> String {
        var text = ""
        for (register, value) in zip(all, values) {
            text += encode(value, register)
        }
        return text
    }

    static func encode(_ value: UInt64?, _ register: Register) -> String {
        guard let value else { return String(repeating: "xx", count: register.bytes) }
        // Registers wider than 64 bits are only the unavailable x87/SSE ones.
        return GDBHex.littleEndian(value, size: min(register.bytes, 8))
            + String(repeating: "00", count: max(register.bytes - 8, 0))
    }

    /// Parses a `G` payload into per-register values; registers wider than 64 bits and
    /// those beyond the end of a short payload come back nil. Nil for malformed hex.
    public static func decode(_ hex: Substring) -> [UInt64?]? {
        guard let bytes = GDBHex.decode(hex) else { return nil }
        var values: [UInt64?] = []
        var offset = 0
        for register in all {
            defer { offset += register.bytes }
            guard register.bits <= 64, offset + register.bytes <= bytes.count else {
                values.append(nil)
                continue
            }
            values.append(littleEndian(bytes[offset..<offset + register.bytes]))
        }
        return values
    }

    static func littleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
