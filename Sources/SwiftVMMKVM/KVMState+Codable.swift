import CKVM
import SwiftVMMSupport

/// KVM's state structures in snapshot files: each C struct as the bytes KVM gave
/// (`HexBytes`), checked against its size when read back; the MSRs as an array of
/// struct kvm_msr_entry and the XSAVE area as its 4096 bytes. (Hexadecimal strings, not
/// JSON numbers and objects: a JSON decoder reads a 4-vCPU snapshot several times faster
/// so.) The bytes are this kernel's
/// layout of `<linux/kvm.h>`, which is stable ABI; the snapshot file's own checks (host CPU
/// vendor, CPUID, TSC rate) decide whether they may be loaded here at all.
extension VCPUState: Codable {
    private enum CodingKeys: String, CodingKey {
        case registers, specialRegisters, localAPIC, fpu, xsave, extendedControlRegisters, debugRegisters, msrs, events
        case multiprocessingState
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func load<T>(_ key: CodingKeys, as: T.Type, _ initial: T) throws -> T {
            try raw(container.decode(HexBytes.self, forKey: key), as: T.self, codingPath: container.codingPath + [key], initial: initial)
        }
        func loadIfPresent<T>(_ key: CodingKeys, as: T.Type, _ initial: T) throws -> T? {
            try container.decodeIfPresent(HexBytes.self, forKey: key).map {
                try raw($0, as: T.self, codingPath: container.codingPath + [key], initial: initial)
            }
        }
        registers = try load(.registers, as: kvm_regs.self, kvm_regs())
        specialRegisters = try load(.specialRegisters, as: kvm_sregs.self, kvm_sregs())
        localAPIC = try loadIfPresent(.localAPIC, as: kvm_lapic_state.self, kvm_lapic_state())
        fpu = try load(.fpu, as: kvm_fpu.self, kvm_fpu())
        xsave = try container.decodeIfPresent(HexBytes.self, forKey: .xsave).map { hex in
            guard let words = hex.words, words.count == 1024 else {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.xsave],
                                                        debugDescription: "an XSAVE area of \(hex.bytes.count) bytes, not 4096"))
            }
            return words
        }
        extendedControlRegisters = try loadIfPresent(.extendedControlRegisters, as: kvm_xcrs.self, kvm_xcrs())
        debugRegisters = try load(.debugRegisters, as: kvm_debugregs.self, kvm_debugregs())
        // struct kvm_msr_entry { __u32 index, reserved; __u64 data; }
        let entries = try container.decode(HexBytes.self, forKey: .msrs)
        guard let words = entries.words, words.count % 4 == 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.msrs],
                                                    debugDescription: "\(entries.bytes.count) bytes, not a whole number of 16-byte MSR entries"))
        }
        msrs = stride(from: 0, to: words.count, by: 4).map {
            MSRValue(index: words[$0], value: UInt64(words[$0 + 2]) | UInt64(words[$0 + 3]) << 32)
        }
        events = try load(.events, as: kvm_vcpu_events.self, kvm_vcpu_events())
        multiprocessingState = try container.decode(UInt32.self, forKey: .multiprocessingState)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(HexBytes(rawBytes(of: registers)), forKey: .registers)
        try container.encode(HexBytes(rawBytes(of: specialRegisters)), forKey: .specialRegisters)
        try container.encodeIfPresent(localAPIC.map { HexBytes(rawBytes(of: $0)) }, forKey: .localAPIC)
        try container.encode(HexBytes(rawBytes(of: fpu)), forKey: .fpu)
        try container.encodeIfPresent(xsave.map { HexBytes(words: $0) }, forKey: .xsave)
        try container.encodeIfPresent(extendedControlRegisters.map { HexBytes(rawBytes(of: $0)) }, forKey: .extendedControlRegisters)
        try container.encode(HexBytes(rawBytes(of: debugRegisters)), forKey: .debugRegisters)
        try container.encode(HexBytes(words: msrs.flatMap { [$0.index, 0, UInt32(truncatingIfNeeded: $0.value), UInt32($0.value >> 32)] }),
                             forKey: .msrs)
        try container.encode(HexBytes(rawBytes(of: events)), forKey: .events)
        try container.encode(multiprocessingState, forKey: .multiprocessingState)
    }
}

extension KernelIRQChipState: Codable {
    private enum CodingKeys: String, CodingKey { case chips, pit }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let path = container.codingPath
        chips = try container.decode([HexBytes].self, forKey: .chips).map {
            try raw($0, as: kvm_irqchip.self, codingPath: path + [CodingKeys.chips], initial: kvm_irqchip())
        }
        guard chips.count == 3 else {
            throw DecodingError.dataCorrupted(.init(codingPath: path + [CodingKeys.chips], debugDescription: "\(chips.count) irqchips, not 3"))
        }
        pit = try container.decodeIfPresent(HexBytes.self, forKey: .pit).map {
            try raw($0, as: kvm_pit_state2.self, codingPath: path + [CodingKeys.pit], initial: kvm_pit_state2())
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(chips.map { HexBytes(rawBytes(of: $0)) }, forKey: .chips)
        try container.encodeIfPresent(pit.map { HexBytes(rawBytes(of: $0)) }, forKey: .pit)
    }
}

/// The bytes of a plain C struct.
private func rawBytes<T>(of value: T) -> [UInt8] {
    // SAFETY: the value is a C struct of integers (and unions of them): its bytes are its
    // whole representation.
    withUnsafeBytes(of: value) { Array($0) }
}

/// A plain C struct from exactly its size in bytes, over `initial` (its zero value).
private func raw<T>(_ hex: HexBytes, as type: T.Type, codingPath: [any CodingKey], initial: T) throws -> T {
    guard hex.bytes.count == MemoryLayout<T>.size else {
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                                                debugDescription: "\(hex.bytes.count) bytes, not the \(MemoryLayout<T>.size) of \(T.self)"))
    }
    var value = initial
    // SAFETY: the count matches the struct's size, and every bit pattern is a valid value of a
    // C struct of integers: the copy fills the value's own storage exactly. Both pointers live
    // only inside their closures (not `UnsafeRawBufferPointer(start: array, ...)`, whose
    // implicit pointer to the array is not valid past that initializer).
    hex.bytes.withUnsafeBytes { source in
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: source) }
    }
    return value
}
