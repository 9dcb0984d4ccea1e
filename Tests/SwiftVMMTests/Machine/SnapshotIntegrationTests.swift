import Foundation
import SystemPackage
import Testing
import TestGuests
@testable import SwiftVMM
@testable import SwiftVMMDevices

/// Snapshots of a running 4-vCPU machine and the machines forked from them, with the
/// snapshot-timers guest (guests/README.md): a TSC-deadline or one-shot local APIC timer
/// on every CPU and an HPET comparator, armed before READY, where the snapshot is taken.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"), .serialized)
struct SnapshotIntegrationTests {
    static let cpus = 4
    static let pass = "fired 1 1 1 1 1 runs=1 scratch=clean"
    /// Every timer fired in the order of its deadline (`order 0 4 1 2 3` with 4 CPUs: the
    /// HPET's falls between CPU 0's and CPU 1's).
    static let inOrder = "order 0 4 1 2 3 ok"

    func configuration(_ sink: CollectingSink) -> Machine.Configuration {
        Machine.Configuration(kernel: .image(name: "snapshot-timers", bytes: snapshotTimersGuest), cpus: Self.cpus,
                              memorySize: 64 << 20, serialOutput: sink, timeout: .seconds(60))
    }

    /// Boots the guest to READY and takes a snapshot where it then writes the snapshot port
    /// (at that instruction, however late this task runs on a busy host; the guest's clocks
    /// run on meanwhile, and its first deadline is 200 ms after READY); the original runs on
    /// to its end.
    func snapshotAtReady() async throws -> (MachineSnapshot, outcome: Outcome, output: String) {
        let sink = CollectingSink()
        var asking = configuration(sink)
        asking.snapshotOnPortWrite = true
        let machine = try Machine(asking)
        async let outcome = machine.run()
        try await machine.snapshotRequested(within: .seconds(30))
        let snapshot = try machine.snapshot()
        return (snapshot, await outcome, sink.text)
    }

    @Test func theOriginalRunsOnAndEveryTimerWasArmedInTheSnapshot() async throws {
        let (snapshot, outcome, output) = try await snapshotAtReady()
        #expect(outcome == .debugExit(0), "\(output)")
        #expect(output.contains(Self.pass), "\(output)")
        #expect(output.contains(Self.inOrder), "\(output)")
        // Taken before the first deadline (200 ms after READY): every timer is still armed.
        #expect(snapshot.vcpus.count == Self.cpus)
        for (index, vcpu) in snapshot.vcpus.enumerated() {
            #expect(vcpu.localAPIC?.timerDeadline != nil, "vCPU \(index)'s timer is not armed in the snapshot")
        }
        #expect(snapshot.devices.chipset?.hpet.timers[2].target != nil, "the HPET comparator is not armed in the snapshot")
        #expect(snapshot.ramPageCount > 0 && snapshot.ramPageCount < (64 << 20) / 4096, "\(snapshot.ramPageCount) pages")
    }

    /// Each fork continues after READY (it does not boot again), every timer armed before
    /// the snapshot fires once, in deadline order (judged for the forks run one at a time:
    /// three at once put 12 vCPUs on this host's 2 CPUs, and a vCPU may then run more than
    /// the 10 ms between two deadlines late), and no fork sees another's writes: each
    /// finds the scratch area clean and `runs` at 1. The forks run long after the snapshot's
    /// deadlines, so on a host that ignores TSC writes the gap is real and must be hidden.
    @Test func forksOneAfterAnotherAndAtOnce() async throws {
        let (snapshot, _, _) = try await snapshotAtReady()
        for _ in 0..<2 {
            let sink = CollectingSink()
            let outcome = try await snapshot.fork(configuration(sink)).run()
            #expect(outcome == .debugExit(0), "\(sink.text)")
            #expect(sink.text.contains(Self.pass), "\(sink.text)")
            #expect(sink.text.contains(Self.inOrder), "\(sink.text)")
            #expect(!sink.text.contains("READY"), "the fork booted again: \(sink.text)")
        }
        let sinks = (0..<3).map { _ in CollectingSink() }
        let forks = try sinks.map { try snapshot.fork(configuration($0)) }
        await withTaskGroup(of: Void.self) { group in
            for (fork, sink) in zip(forks, sinks) {
                group.addTask {
                    let outcome = await fork.run()
                    #expect(outcome == .debugExit(0), "\(sink.text)")
                    #expect(sink.text.contains(Self.pass), "\(sink.text)")
                }
            }
        }
    }

    @Test func aForkMustHaveTheSnapshotsShape() async throws {
        let (snapshot, _, _) = try await snapshotAtReady()
        var other = configuration(CollectingSink())
        other.cpus = 2
        #expect(throws: MachineError.self) { try snapshot.fork(other) }
    }

    /// A snapshot written to a directory and read back continues like the one in memory,
    /// and the RAM file holds only the pages the guest used.
    @Test func savedAndLoadedItContinues() async throws {
        let (snapshot, _, _) = try await snapshotAtReady()
        let directory = testScratch.appending(path: "snapshot-\(UUID().uuidString)")
        try snapshot.save(to: FilePath(directory.path))
        let ram = try directory.appending(path: "ram").resourceValues(forKeys: [.totalFileAllocatedSizeKey, .fileSizeKey])
        #expect(ram.fileSize == 64 << 20)
        #expect(try #require(ram.totalFileAllocatedSize) < 16 << 20, "the RAM file is not sparse")
        let sink = CollectingSink()
        let loaded = try MachineSnapshot(loading: FilePath(directory.path), serialOutput: sink)
        #expect(loaded.ramPageCount == snapshot.ramPageCount)
        #expect(loaded.configuration.shape == snapshot.configuration.shape)
        let outcome = try await loaded.fork().run()
        #expect(outcome == .debugExit(0), "\(sink.text)")
        #expect(sink.text.contains(Self.pass), "\(sink.text)")

        // `swiftvmm restore`'s way keeps the decoding and the building on two CPUs while
        // both work, then gives the caller back its CPU mask, which the vCPU threads inherit.
        let callerCPUs = CPUAffinity.allowedCPUs()
        let restoredSink = CollectingSink()
        let restored = try Machine(restoringFrom: FilePath(directory.path), serialOutput: restoredSink) { _ in }
        #expect(CPUAffinity.allowedCPUs() == callerCPUs)
        #expect(await restored.run() == .debugExit(0), "\(restoredSink.text)")
        #expect(restoredSink.text.contains(Self.pass), "\(restoredSink.text)")
    }

    /// Each way a snapshot directory can be wrong is refused with status 2 and a message
    /// saying which; none crashes or starts the guest.
    @Test func aBadSnapshotIsRefusedSayingWhy() async throws {
        let (snapshot, _, _) = try await snapshotAtReady()
        let good = testScratch.appending(path: "snapshot-\(UUID().uuidString)")
        try snapshot.save(to: FilePath(good.path))
        let json = try Data(contentsOf: good.appending(path: "snapshot.json"))
        let callerCPUs = CPUAffinity.allowedCPUs()

        func refusal(_ change: (URL) throws -> Void, cpus: Int = Self.cpus) throws -> String {
            let directory = testScratch.appending(path: "bad-\(UUID().uuidString)")
            try FileManager.default.copyItem(at: good, to: directory)
            try change(directory)
            let loadedThenForked: String
            do {
                let loaded = try MachineSnapshot(loading: FilePath(directory.path), serialOutput: CollectingSink())
                var configuration = loaded.configuration
                configuration.cpus = cpus
                _ = try loaded.fork(configuration)
                loadedThenForked = "accepted"
            } catch {
                #expect(error.exitStatus == 2, "\(error)")
                loadedThenForked = "\(error)"
            }
            // `swiftvmm restore`'s way, which builds the VM while the file decodes, refuses
            // the same snapshots with the same words.
            let restoredStraight: String
            do {
                _ = try Machine(restoringFrom: FilePath(directory.path), serialOutput: CollectingSink()) { $0.cpus = cpus }
                restoredStraight = "accepted"
            } catch {
                #expect(error.exitStatus == 2, "\(error)")
                restoredStraight = "\(error)"
            }
            #expect(restoredStraight == loadedThenForked)
            #expect(CPUAffinity.allowedCPUs() == callerCPUs, "the caller's CPU mask was not given back")
            return loadedThenForked
        }
        func editing(_ edit: @escaping (inout [String: Any]) -> Void) -> (URL) throws -> Void {
            { directory in
                var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
                edit(&object)
                try JSONSerialization.data(withJSONObject: object).write(to: directory.appending(path: "snapshot.json"))
            }
        }
        /// Edits the registers (eax, ebx, ecx, edx) of leaf `function` in every vCPU's CPUID,
        /// which the file keeps as struct kvm_cpuid_entry2 arrays in hexadecimal.
        func leaf(_ object: inout [String: Any], function: UInt32, _ change: (inout [String: UInt32]) -> Void) {
            let registers = ["eax": 3, "ebx": 4, "ecx": 5, "edx": 6]
            object["cpuid"] = (object["cpuid"] as! [String]).map { text in
                var words = hexWords(text)
                for entry in stride(from: 0, to: words.count, by: 10) where words[entry] == function {
                    var values = registers.mapValues { words[entry + $0] }
                    change(&values)
                    for (name, offset) in registers { words[entry + offset] = values[name]! }
                }
                return hexString(words)
            }
        }

        #expect(try refusal { try Data("{\"format\": \"swiftvmm-sn".utf8).write(to: $0.appending(path: "snapshot.json")) }
                    .contains("is not a SwiftVMM snapshot"))
        #expect(try refusal(editing { $0["version"] = 2 }).contains("format version 2; this SwiftVMM reads version 3"))
        #expect(try refusal(editing { $0["vcpus"] = [] }).contains("is corrupt"))
        #expect(try refusal(editing { $0["shape"] = ["cpus": 4] }).contains("is corrupt"))
        for (device, field) in [("pit", "counters"), ("hpet", "timers"), ("ioapic", "redirection")] {
            #expect(try refusal(editing { object in
                var devices = object["devices"] as! [String: Any], chipset = devices["chipset"] as! [String: Any]
                var state = chipset[device] as! [String: Any]
                state[field] = (state[field] as! [Any]).dropLast().map { $0 }
                chipset[device] = state
                devices["chipset"] = chipset
                object["devices"] = devices
            }).contains("is corrupt"), "\(device).\(field) one short")
        }
        #expect(try refusal(editing { $0["devices"] = ["rtc": 1] }).contains("is corrupt"))
        for (field, bytes) in [("xsave", 4095), ("msrs", 15)] {
            #expect(try refusal(editing { object in
                var vcpus = object["vcpus"] as! [[String: Any]], state = vcpus[1]["state"] as! [String: Any]
                state[field] = String(repeating: "00", count: bytes)
                vcpus[1]["state"] = state
                object["vcpus"] = vcpus
            }).contains("is corrupt"), "vCPU 1's \(field) of \(bytes) bytes")
        }
        #expect(try refusal({ try FileHandle(forWritingTo: $0.appending(path: "ram")).truncate(atOffset: 4096) })
                    .contains("not the 67108864 of the snapshot's RAM"))
        #expect(try refusal({ _ in }, cpus: 2).contains("with 4 CPUs"))
        #expect(try refusal(editing { $0["tscKHz"] = 1_000 }).contains("guest TSC ran at 1000 kHz"))
        #expect(try refusal(editing { leaf(&$0, function: 1) { $0["ecx"]! ^= 1 } })
                    .contains("CPUID differs from the snapshot's at leaf 0x1"))
        // "GenuineIntel" or "AuthenticAMD", whichever this host is not.
        let other: [String: UInt32] = snapshot.cpuid[0][0].ebx == 0x756E_6547
            ? ["ebx": 0x6874_7541, "edx": 0x6974_6E65, "ecx": 0x444D_4163]
            : ["ebx": 0x756E_6547, "edx": 0x4965_6E69, "ecx": 0x6C65_746E]
        let vendor = try refusal(editing { leaf(&$0, function: 0) { leaf in for (key, value) in other { leaf[key] = value } } })
        #expect(vendor.contains("the snapshot was taken on a") && vendor.contains("host; this one is"), "\(vendor)")
    }
}

/// A hexadecimal string of the snapshot file as little-endian 32-bit words.
private func hexWords(_ text: String) -> [UInt32] {
    let digits = Array(text.utf8)
    let bytes = stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    return stride(from: 0, to: bytes.count, by: 4).map { start in
        (0..<4).reduce(0) { word, byte in word | UInt32(bytes[start + byte]) << (byte * 8) }
    }
}

/// Little-endian 32-bit words as the snapshot file's hexadecimal string.
private func hexString(_ words: [UInt32]) -> String {
    words.flatMap { word in (0..<4).map { String(format: "%02x", (word >> ($0 * 8)) & 0xFF) } }.joined()
}
