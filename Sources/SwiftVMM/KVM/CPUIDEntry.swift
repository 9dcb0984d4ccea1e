import CKVM

/// One CPUID leaf/subleaf as KVM describes it (`struct kvm_cpuid_entry2`).
public struct CPUIDEntry: Equatable, Sendable {
    public var function: UInt32
    public var index: UInt32
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, flags: UInt32 = 0,
                eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function; self.index = index; self.flags = flags
        self.eax = eax; self.ebx = ebx; self.ecx = ecx; self.edx = edx
    }

    init(_ entry: kvm_cpuid_entry2) {
        self.init(function: entry.function, index: entry.index, flags: entry.flags,
                  eax: entry.eax, ebx: entry.ebx, ecx: entry.ecx, edx: entry.edx)
    }

    var kvm: kvm_cpuid_entry2 {
        var entry = kvm_cpuid_entry2()
        entry.function = function; entry.index = index; entry.flags = flags
        entry.eax = eax; entry.ebx = ebx; entry.ecx = ecx; entry.edx = edx
        return entry
    }
}

/// `struct kvm_cpuid2` ends in a flexible array, so it is built in a raw buffer.
struct CPUIDBuffer: ~Copyable {
    let pointer: UnsafeMutableRawPointer
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        let size = MemoryLayout<kvm_cpuid2>.size + capacity * MemoryLayout<kvm_cpuid_entry2>.stride
        pointer = .allocate(byteCount: size, alignment: 8)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        // SAFETY: the buffer starts with a kvm_cpuid2 header, sized above.
        pointer.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent = UInt32(capacity)
    }

    init(_ entries: [CPUIDEntry]) {
        self.init(capacity: entries.count)
        for (i, entry) in entries.enumerated() { self[i] = entry.kvm }
    }

    deinit { pointer.deallocate() }

    private var header: UnsafeMutablePointer<kvm_cpuid2> {
        // SAFETY: see init; the header is at offset 0.
        pointer.assumingMemoryBound(to: kvm_cpuid2.self)
    }

    private subscript(i: Int) -> kvm_cpuid_entry2 {
        get { (pointer + MemoryLayout<kvm_cpuid2>.size).assumingMemoryBound(to: kvm_cpuid_entry2.self)[i] }
        // SAFETY: i < capacity, so the entry lies inside the allocation.
        nonmutating set { (pointer + MemoryLayout<kvm_cpuid2>.size).assumingMemoryBound(to: kvm_cpuid_entry2.self)[i] = newValue }
    }

    var entries: [CPUIDEntry] {
        (0..<Int(min(header.pointee.nent, UInt32(capacity)))).map { CPUIDEntry(self[$0]) }
    }
}
