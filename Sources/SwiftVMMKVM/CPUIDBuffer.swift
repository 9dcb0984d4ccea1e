import CKVM
import SwiftVMMPlatform

/// `CPUIDEntry` as KVM lays it out (`struct kvm_cpuid_entry2`).
extension CPUIDEntry {
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
