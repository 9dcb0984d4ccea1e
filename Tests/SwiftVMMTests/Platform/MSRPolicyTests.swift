import Logging
import Synchronization
import Testing
@testable import SwiftVMM
@testable import SwiftVMMPlatform
@testable import SwiftVMMKVM

struct MSRPolicyTests {
    func policy(_ unknown: UnknownMSRPolicy = .log, tscKHz: UInt32 = 2_596_000, cpus: Int = 4,
                overrides: [UInt32: UInt64] = [:]) -> MSRPolicy {
        MSRPolicy(tscKHz: tscKHz, cpuCount: cpus, unknown: unknown, overrides: overrides, logger: Logger(label: "test"))
    }

    @Test("MSR_PLATFORM_INFO: bits 15:8 and 47:40 are TSC MHz / 100, rounded", arguments: [
        (UInt32(2_596_000), UInt64(26)), (2_549_999, 25), (2_550_000, 26), (3_000_000, 30), (49_999, 0), (50_000, 1),
    ])
    func platformInfo(tscKHz: UInt32, ratio: UInt64) {
        #expect(policy(tscKHz: tscKHz).read(0xCE, tsc: { 0 }) == ratio << 8 | ratio << 40)
    }

    @Test func tableValues() {
        let msrs = policy(cpus: 6)
        #expect(msrs.read(0x3A, tsc: { 0 }) == 1, "IA32_FEATURE_CONTROL locked, VMX off")
        #expect(msrs.read(0x17, tsc: { 0 }) == 0)
        #expect(msrs.read(0x8B, tsc: { 0 }) == 1 << 32)
        #expect(msrs.read(0x34, tsc: { 0 }) == 0)
        #expect(msrs.read(0x35, tsc: { 0 }) == 6 << 16 | 6, "6 cores, 6 threads")
        #expect(msrs.read(0xE7, tsc: { 12345 }) == 12345, "MPERF counts with the TSC")
        #expect(msrs.read(0xE8, tsc: { 777 }) == 777)
        #expect(msrs.read(0x198, tsc: { 0 }) == 26 << 8)
        #expect(msrs.read(0x19C, tsc: { 0 }) == 0x8028_0000)
        #expect(msrs.read(0x1A2, tsc: { 0 }) == 100 << 16)
        for rapl: UInt32 in [0x606, 0x611, 0x639, 0x641] { #expect(msrs.read(rapl, tsc: { 0 }) == 0) }
    }

    @Test func writes() {
        let msrs = policy(.strict)
        #expect(!msrs.write(0xCE, 0), "MSR_PLATFORM_INFO is read-only")
        #expect(!msrs.write(0x3A, 5), "IA32_FEATURE_CONTROL is locked")
        #expect(msrs.write(0x199, 0x1A00), "IA32_PERF_CTL writes are accepted")
        #expect(!msrs.write(0x12345, 1), "strict: unknown writes #GP")
    }

    /// Counts the warnings a logger is given.
    struct CountingHandler: LogHandler {
        final class Count: Sendable { let value = Mutex(0) }
        let count: Count
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            if event.level == .warning { count.value.withLock { $0 += 1 } }
        }
    }

    @Test func logPolicyWarnsOncePerMSRAndBoundsWhatItRemembers() {
        let warnings = CountingHandler.Count()
        let msrs = MSRPolicy(tscKHz: 2_596_000, cpuCount: 1, unknown: .log, overrides: [:],
                             logger: Logger(label: "test") { _ in CountingHandler(count: warnings) })
        let sweep = UInt32(0x1234_0000)..<0x1234_0000 + UInt32(MSRPolicy.warningLimit + 100)
        for index in sweep {
            #expect(msrs.read(index, tsc: { 0 }) == 0)
            #expect(msrs.write(index, 1), "logged, not #GP")
        }
        #expect(warnings.value.withLock { $0 } == MSRPolicy.warningLimit + 1,
                "one warning per MSR up to the limit, then one saying the rest go unlogged")
    }

    @Test func unknownMSRPolicies() {
        #expect(policy(.strict).read(0x12345, tsc: { 0 }) == nil)
        #expect(policy(.log).read(0x12345, tsc: { 0 }) == 0)
        #expect(policy(.ignore).read(0x12345, tsc: { 0 }) == 0)
        #expect(policy(.log).write(0x12345, 9))
        #expect(policy(.ignore).write(0x12345, 9))
    }

    @Test func overridesWin() {
        let msrs = policy(.strict, overrides: [0xCE: 0x1400, 0x12345: 7])
        #expect(msrs.read(0xCE, tsc: { 0 }) == 0x1400)
        #expect(msrs.read(0x12345, tsc: { 0 }) == 7)
        #expect(msrs.write(0x12345, 1))
    }

    @Test func filterAllowsOnlyWhatKVMHandles() {
        let filter = MSRFilter.allowingOnly(MSRPolicy.kvmAnswered(kernelAPIC: [], overrides: [0x10: 5]))
        func allowed(_ index: UInt32) -> Bool {
            filter.ranges.contains { range in
                index >= range.base && Int(index - range.base) < range.count
                    && range.bitmap[Int(index - range.base) / 8] & 1 << ((index - range.base) % 8) != 0
            }
        }
        #expect(allowed(0xC000_0080), "EFER")
        #expect(allowed(0xC000_0102), "KERNEL_GS_BASE")
        #expect(allowed(0x277), "PAT")
        #expect(allowed(0x1A0), "IA32_MISC_ENABLE: read/write, kept by KVM")
        #expect(allowed(0xC001_0000) && allowed(0xC001_0007), "AMD legacy performance counters")
        #expect(allowed(0xC001_0200) && allowed(0xC001_020B), "AMD core performance counters")
        #expect(!allowed(0xC001_020C))
        #expect(!allowed(0x10), "an overridden MSR comes to userspace")
        #expect(!allowed(0xCE))
        #expect(!allowed(0x1B), "the userspace APIC answers IA32_APIC_BASE")
        #expect(!allowed(0x6E0))
        #expect(!allowed(0x12345))
        #expect(filter.ranges.count <= 16, "KVM takes at most 16 ranges")
        let kernel = MSRFilter.allowingOnly(MSRPolicy.kvmAnswered(kernelAPIC: [0x1B, 0x6E0], overrides: [:]))
        #expect(kernel.ranges.contains { $0.base <= 0x1B && 0x6E0 < $0.base + UInt32($0.count) })
        #expect(!allowed(0x480), "no nested VMX: IA32_VMX_BASIC is not KVM's to answer")
        let nested = MSRFilter.allowingOnly(MSRPolicy.kvmAnswered(kernelAPIC: [], nestedVMX: true, overrides: [:]))
        #expect(nested.ranges.contains { $0.base <= 0x480 && 0x492 < $0.base + UInt32($0.count) },
                "nested VMX: KVM answers the VMX capability MSRs")
        #expect(nested.ranges.count <= 16)
    }

    @Test func filterDoesNotDependOnTheOrderOfIndices() {
        let indices = MSRPolicy.kvmAnswered(kernelAPIC: [0x1B, 0x6E0] + Array(0x800...0x8FF), nestedVMX: true, overrides: [:])
        let forward = MSRFilter.allowingOnly(indices), backward = MSRFilter.allowingOnly(indices.reversed())
        func allowed(_ filter: MSRFilter, _ index: UInt32) -> Bool {
            let matching = filter.ranges.filter { index >= $0.base && Int(index - $0.base) < $0.count }
            #expect(matching.count <= 1, "ranges overlap at \(index)")
            guard let range = matching.first else { return false }
            let bit = Int(index - range.base)
            return range.bitmap[bit / 8] & 1 << (bit % 8) != 0
        }
        let probes = Array(0...0x1000) + Array(0xC000_0000...0xC000_0200) + Array(0xC001_0000...0xC001_0300)
        for index in probes.map(UInt32.init) {
            #expect(allowed(forward, index) == indices.contains(index))
            #expect(allowed(backward, index) == indices.contains(index))
        }
        #expect(forward.ranges.count <= 16 && backward.ranges.count <= 16, "KVM takes at most 16 ranges")
    }

    @Test func featureControlAllowsVMXONOnlyWithNestedVMX() {
        let plain = MSRPolicy(tscKHz: 2_000_000, cpuCount: 1, unknown: .strict, overrides: [:], logger: Logger(label: "test"))
        let nested = MSRPolicy(tscKHz: 2_000_000, cpuCount: 1, unknown: .strict, overrides: [:], nestedVMX: true, logger: Logger(label: "test"))
        #expect(plain.read(0x3A, tsc: { 0 }) == 1)
        #expect(nested.read(0x3A, tsc: { 0 }) == 0b101, "locked, VMXON outside SMX")
        #expect(!nested.write(0x3A, 0b101), "still locked")
    }
}

struct CPUIDTableTests {
    static let supported = [
        CPUIDEntry(function: 0, eax: 0xD, ebx: 0x6874_7541, ecx: 0x444D_4163, edx: 0x6974_6E65),
        CPUIDEntry(function: 1, eax: 0x906EA, ebx: 0xAABB_0800, ecx: 0x7FFA_3203, edx: 0x0F8B_FBFF),
        CPUIDEntry(function: 4, index: 0, flags: 1, eax: 0x0000_0121),
        CPUIDEntry(function: 4, index: 3, flags: 1, eax: 0x0000_0163),
        CPUIDEntry(function: 0xB, index: 0, eax: 1, ebx: 1, ecx: 0x100, edx: 99),
        CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B),
        CPUIDEntry(function: 0x8000_0001, ecx: 0x121, edx: 0x2C10_0800),
        CPUIDEntry(function: 0x8000_0007),
    ]

    func table(cpus: Int = 4, vendor: CPUIDTable.Vendor = .host, changes: [String: Bool] = [:],
               nested: NestedVirtualization = .none, supported: [CPUIDEntry] = supported) -> CPUIDTable {
        CPUIDTable(cpuCount: cpus, tscKHz: 2_596_000, vendor: vendor, featureChanges: changes, nested: nested, supported: supported)
    }

    /// The supported set with VMX (leaf 1 ECX 5) and SVM (0x80000001 ECX 2) as a nesting host lists them.
    static let nestingHost = supported.map { entry in
        var entry = entry
        if entry.function == 1 { entry.ecx |= 1 << 5 }
        if entry.function == 0x8000_0001 { entry.ecx |= 1 << 2 }
        return entry
    }

    @Test func nestedVirtualizationIsAdvertisedOnlyWhenChosen() throws {
        #expect(NestedVirtualization.offered(by: Self.supported) == .none)
        #expect(NestedVirtualization.offered(by: Self.nestingHost) == .vmx)
        #expect(try NestedVirtualization.choose(requested: nil, supported: Self.nestingHost) == .vmx)
        #expect(try NestedVirtualization.choose(requested: false, supported: Self.nestingHost) == .none)
        #expect(try NestedVirtualization.choose(requested: nil, supported: Self.supported) == .none)
        #expect(throws: MachineError.self) { try NestedVirtualization.choose(requested: true, supported: Self.supported) }

        let off = table(supported: Self.nestingHost).entries(for: 0)
        #expect(try #require(leaf(off, 1)).ecx & 1 << 5 == 0, "VMX hidden")
        #expect(try #require(leaf(off, 0x8000_0001)).ecx & 1 << 2 == 0, "SVM hidden")
        let vmx = table(nested: .vmx, supported: Self.nestingHost).entries(for: 0)
        #expect(try #require(leaf(vmx, 1)).ecx & 1 << 5 != 0, "VMX advertised")
        #expect(try #require(leaf(vmx, 0x8000_0001)).ecx & 1 << 2 == 0)
    }

    func leaf(_ entries: [CPUIDEntry], _ function: UInt32, _ index: UInt32 = 0) -> CPUIDEntry? {
        entries.first { $0.function == function && $0.index == index }
    }

    @Test(arguments: [0, 1, 5, 253])
    func leaf1CarriesTheAPICID(apicID: Int) throws {
        let entries = table(cpus: 254).entries(for: apicID)
        let leaf1 = try #require(leaf(entries, 1))
        #expect(leaf1.ebx >> 24 == UInt32(apicID))
        #expect(leaf1.ebx >> 16 & 0xFF == 255, "addressable IDs, capped")
        #expect(leaf1.ecx & (1 << 31 | 1 << 21 | 1 << 24) == 1 << 31 | 1 << 21 | 1 << 24)
        #expect(leaf1.edx & 1 << 28 != 0)
    }

    /// Leaf 0xB decoded as Linux does: SMT level 1 thread, core level N, x2APIC ID in EDX.
    @Test(arguments: [(1, UInt32(0)), (2, 1), (4, 2), (5, 3), (8, 3)])
    func extendedTopology(cpus: Int, shift: UInt32) throws {
        let entries = table(cpus: cpus).entries(for: cpus - 1)
        let smt = try #require(leaf(entries, 0xB, 0)), core = try #require(leaf(entries, 0xB, 1))
        let end = try #require(leaf(entries, 0xB, 2))
        #expect(smt.eax == 0 && smt.ebx == 1 && smt.ecx >> 8 & 0xFF == 1)
        #expect(core.eax == shift && core.ebx == UInt32(cpus) && core.ecx >> 8 & 0xFF == 2)
        #expect(end.ecx >> 8 & 0xFF == 0, "level type 0 ends the list")
        #expect(smt.edx == UInt32(cpus - 1) && core.edx == UInt32(cpus - 1))
        #expect(smt.flags & 1 == 1, "indexed leaf")
    }

    @Test func frequencyLeavesAgree() throws {
        let entries = table().entries(for: 0)
        #expect(leaf(entries, 0)?.eax == 0x16, "max basic leaf raised to 0x16")
        let leaf15 = try #require(leaf(entries, 0x15))
        #expect(UInt64(leaf15.ecx) * UInt64(leaf15.ebx) / UInt64(leaf15.eax) == 2_596_000_000)
        #expect(leaf(entries, 0x16)?.eax == 2596)
        let hv = try #require(leaf(entries, 0x4000_0000))
        #expect(hv.eax == 0x4000_0010)
        #expect([hv.ebx, hv.ecx, hv.edx] == ["Swif".littleEndianWord, "tVMM".littleEndianWord, 0])
        #expect(leaf(entries, 0x4000_0010)?.eax == 2_596_000)
        #expect(leaf(entries, 0x4000_0010)?.ebx == 1_000_000, "APIC timer kHz")
        #expect(leaf(entries, 0x4000_0001) == nil, "KVM's paravirtual leaves are not offered")
        #expect(leaf(entries, 0x8000_0007)?.edx == 1 << 8, "invariant TSC")
    }

    @Test func cacheLeafReportsTheCoreCount() throws {
        let entries = table(cpus: 6).entries(for: 0)
        #expect(try #require(leaf(entries, 4, 0)).eax >> 26 == 5)
        #expect(try #require(leaf(entries, 4, 3)).eax >> 14 & 0xFFF == 5, "L3 shared by all 6")
        #expect(try #require(leaf(entries, 4, 0)).eax >> 14 & 0xFFF == 0, "L1 private")
    }

    @Test func vendorAndFeatureChanges() throws {
        let entries = table(vendor: .intel, changes: ["x2apic": false, "pdpe1gb": true]).entries(for: 0)
        let leaf0 = try #require(leaf(entries, 0))
        #expect([leaf0.ebx, leaf0.edx, leaf0.ecx] == ["Genu".littleEndianWord, "ineI".littleEndianWord, "ntel".littleEndianWord])
        #expect(try #require(leaf(entries, 1)).ecx & 1 << 21 == 0)
        #expect(try #require(leaf(entries, 0x8000_0001)).edx & 1 << 26 != 0)
    }
}
