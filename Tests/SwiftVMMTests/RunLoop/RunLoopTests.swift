#if canImport(Glibc)
import Glibc
#endif
import CKVM
import Dispatch
import Logging
import Testing
@testable import SwiftVMM

/// The run loop (`VCPURunner` with `ExitHandler`, the local APIC and the inbox) driven by
/// scripted exits (`ScriptedVCPU`): no /dev/kvm, so these run on any machine.
@Suite(.serialized)
struct RunLoopTests {
    /// One vCPU with a userspace local APIC, a UART at COM1, isa-debug-exit at 0xF4 and the
    /// MSR table, running `script` on a thread of its own until the run ends.
    final class Rig: @unchecked Sendable {
        let cpu = ScriptedVCPU()
        let control: RunControl
        let runner: VCPURunner
        let ports = PortBus()

        init(policy: UnknownMSRPolicy = .strict) throws {
            control = try RunControl(cpuCount: 1)
            let alarm = VCPUAlarm(clock: MachineClock())
            let localAPIC = LocalAPIC(id: 0, isBootProcessor: true, environment: .init(
                tscHz: 2_000_000_000, now: { 0 }, armTimer: { _ in }, sendIPI: { _ in }, addressingChanged: { _ in }))
            let control = control
            try ports.place(Serial16550(sink: NullSink()), at: 0x3F8, count: 8)
            try ports.place(DebugExit { control.finish(.debugExit($0)) }, at: 0xF4, count: 1)
            let msrs = MSRPolicy(tscKHz: 2_000_000, cpuCount: 1, unknown: policy, overrides: [:], logger: Logger(label: "test"))
            let handler = ExitHandler(ports: ports, mmio: MMIOBus(), msrs: msrs, localAPIC: localAPIC, readTSC: { 0 })
            runner = VCPURunner(vcpu: cpu, localAPIC: localAPIC, externalInterrupts: nil, isBootCPU: true,
                                handler: handler, alarm: alarm, hostCPU: nil,
                                shared: .init(control: control, logger: Logger(label: "test")))
            // Weak, as the machine's RunnerLinks: the runner holds the control already.
            control.wakeAll.withLock { [runner] in $0 = { [weak runner] in runner?.wake() } }
        }

        /// Runs the script to the run's end; the outcome (nil: still running after 20 s).
        func run(_ script: [ScriptedVCPU.Step], during: (() -> Void)? = nil) throws -> Outcome? {
            cpu.script = script
            let runner = runner
            let thread = try HostThread(name: "vcpu0") { runner.run() }
            during?()
            let ended = control.waitForOutcome(untilNanoseconds: monotonicNanoseconds() + 20_000_000_000)
            if !ended { control.finish(.hostError("the test's time limit")) }
            thread.join()
            return ended ? control.outcome?.outcome : nil
        }
    }

    static let spuriousVector: UInt64 = 0xFEE0_00F0
    /// Software-enables the local APIC (SVR bit 8), as a guest does first.
    static let enableAPIC = ScriptedVCPU.Step.exit(.mmioWrite(spuriousVector, 0x1FF, size: 4))
    static let exitZero = ScriptedVCPU.Step.exit(.portWrite(0xF4, 0, size: 1))

    @Test func haltWithInterruptsOffIsADeadlock() throws {
        let rig = try Rig()
        #expect(try rig.run([.exit(.halt, interruptsEnabled: false)]) == .deadlock)
    }

    @Test func haltWithInterruptsOnWaitsForAnInterrupt() throws {
        let rig = try Rig()
        let runner = rig.runner
        // The guest halts with IF=1; a device's interrupt (posted from another thread once the
        // vCPU sleeps) wakes it and is injected; then it exits.
        let outcome = try rig.run([Self.enableAPIC, .exit(.halt), Self.exitZero]) {
            for _ in 0..<2000 where runner.status.withLock({ $0 }) != "halted" { usleep(1000) }
            runner.post(vector: 0x45)
        }
        #expect(outcome == .debugExit(0))
        #expect(rig.cpu.injected == [0x45])
    }

    @Test func anInterruptWaitsForTheWindowThenIsInjected() throws {
        let rig = try Rig()
        let runner = rig.runner
        let outcome = try rig.run([
            Self.enableAPIC,
            .perform { [weak runner] in runner?.post(vector: 0x40) },    // a device, on this thread (weak: the script is the vCPU's)
            .exit(.interruptWindow, interruptsEnabled: true, readyForInjection: false),   // e.g. STI shadow
            .exit(.interruptWindow),                                     // the window opens
            Self.exitZero,
        ])
        #expect(outcome == .debugExit(0))
        #expect(rig.cpu.injected == [0x40])
        #expect(rig.cpu.entries.map(\.interruptWindowRequested) == [false, false, true, false],
                "the window is asked for only while the vector waits")
    }

    @Test func aKickDuringKVMRunDeliversAPostedInterrupt() throws {
        let rig = try Rig()
        let (runner, cpu) = (rig.runner, rig.cpu)
        let outcome = try rig.run([Self.enableAPIC, .runUntilKicked, Self.exitZero]) {
            #expect(cpu.spinning.wait(timeout: .now() + 10) == .success, "the guest never started spinning")
            runner.post(vector: 0x41)                                   // another thread: a kick
        }
        #expect(outcome == .debugExit(0))
        #expect(cpu.kicks == 1 && cpu.missedKicks == 0)
        #expect(cpu.injected == [0x41])
    }

    @Test func portAndMMIOReadsAreAnsweredInTheRunArea() throws {
        let rig = try Rig()
        let outcome = try rig.run([
            .exit(.portRead(0x3FD, size: 1)),                  // COM1 LSR: THRE and TEMT
            .exit(.mmioRead(0xFEE0_0030, size: 4)),            // local APIC version
            .exit(.portWrite(0x3FF, 0x5A, size: 1)),           // COM1 scratch register
            .exit(.portRead(0x3FF, size: 1)),
            Self.exitZero,
        ])
        #expect(outcome == .debugExit(0))
        #expect(rig.cpu.entries.compactMap(\.bytes) == [[0x60], [0x14, 0x00, 0x06, 0x00], [0x5A]])
    }

    @Test func msrExitsAreAnsweredOrFault() throws {
        let rig = try Rig(policy: .strict)
        let inval = UInt32(KVM_MSR_EXIT_REASON_INVAL)
        let outcome = try rig.run([
            .exit(.rdmsr(0xCE)),                                // MSR_PLATFORM_INFO: ratio 20 (2 GHz)
            .exit(.wrmsr(0xCE, 1)),                             // read-only: #GP
            .exit(.rdmsr(0x1B)),                                // IA32_APIC_BASE: the local APIC's
            .exit(.rdmsr(0x4000_1234)),                         // unknown, strict: #GP
            .exit(.wrmsr(0xC000_0100, 1 << 63, reason: inval)),  // KVM refused FS_BASE: #GP
            Self.exitZero,
        ])
        #expect(outcome == .debugExit(0))
        let answers = rig.cpu.entries.compactMap(\.msr)
        #expect(answers.map(\.fault) == [false, true, false, true, true])
        #expect(answers.first?.value == 20 << 8 | 20 << 40)
        #expect(answers.dropFirst(2).first?.value == 0xFEE0_0900, "enabled, BSP, default base")
    }

    @Test func aTripleFaultEndsTheRunAsAGuestFault() throws {
        let rig = try Rig()
        _ = try rig.run([.exit(.shutdown)])
        let (outcome, fault) = try #require(rig.control.outcome)
        guard case .guestFault = outcome else { Issue.record("\(outcome)"); return }
        #expect(fault?.reason == "triple fault (KVM_EXIT_SHUTDOWN)")
        #expect(fault?.vcpu == 0)
    }
}
