import Synchronization
import SwiftVMMDebug
import SwiftVMMKVM
import SwiftVMMPlatform
import SwiftVMMSupport
import SwiftVMMMemory

/// All-stop control of the vCPUs for a debugger, and the machine as a `GDBTarget`.
///
/// Stopping: a stop event (a debug exit on some vCPU, Ctrl-C, gdb attaching) sets `hold`
/// and kicks every vCPU thread; each parks at the top of its loop (`park`), after
/// finishing any pending I/O so its registers are exact. When all are parked the stop is
/// reported (`takeStop`). While they are parked, registers, memory and breakpoints are
/// changed from the server's thread (KVM allows vCPU ioctls from any thread outside
/// `KVM_RUN`). Resuming hands each vCPU an action (continue, step, or none: stay parked);
/// a vCPU applies the debug settings (`KVM_SET_GUEST_DEBUG`) itself as it leaves.
///
/// Guest time is frozen while stopped (`MachineClock`): every guest-visible clock stands
/// still and resumes where it stopped.
///
/// `monitor snapshot DIR` takes a snapshot of the stopped machine: the parked vCPUs each
/// take their own state on their own threads (as `SnapshotStop` has them do), and the
/// planted int3s are lifted while RAM is taken, so the snapshot holds the guest's bytes.
final class DebugController: GDBTarget, @unchecked Sendable {
    private let memory: GuestMemory
    private let control: RunControl
    private let clock: MachineClock
    private let timers: TimerService
    /// The guest TSC when the machine stopped, written back to every vCPU on resume.
    private var frozenTSC: UInt64?
    let cpuCount: Int
    /// The vCPU threads (set once by `Machine` after they are created).
    private var links = RunnerLinks.none
    private var runners: [VCPURunner] { links.all }
    /// What this host's KVM can do (`GuestDebugSupport.probe`).
    let support: GuestDebugSupport
    /// Wakes the server thread when a stop is complete or the machine ends.
    var notify: @Sendable () -> Void = {}
    /// `monitor snapshot DIR`: takes and saves a snapshot of the stopped machine and says
    /// what became of it (set once by `Machine`, before the server starts).
    var saveSnapshot: @Sendable (_ directory: String) -> String = { _ in "snapshots are not available here\n" }

    /// Every vCPU must park at its next loop top; read by vCPU threads on each pass.
    private let hold = Atomic<Bool>(false)
    private let lock = ConditionLock()
    // Guarded by `lock`:
    private var parked: [Bool]
    private var actions: [ResumeAction?]
    private var pendingStop: StopEvent?
    private var settings = GuestDebugSettings()
    /// While a snapshot is taken: what each parked vCPU reads of KVM, and what it took.
    private var snapshotRequest: VCPUSnapshot.Request?
    private var taken: [Result<VCPUSnapshot, MachineError>?] = []

    // Touched only by the server thread while every vCPU is parked:
    /// Planted int3s: linear address → (guest-physical address, the byte it replaced).
    private var softwareBreakpoints: [UInt64: (physical: UInt64, original: UInt8)] = [:]
    /// DR0–DR3 (SDM Vol. 3B §18.2).
    private var hardwareSlots: [Breakpoint?] = [nil, nil, nil, nil]
    /// Read by vCPU threads in `claim` (only while a software breakpoint is planted).
    private let plantedCount = Atomic<Int>(0)

    init(cpuCount: Int, memory: GuestMemory, control: RunControl, clock: MachineClock, timers: TimerService,
         support: GuestDebugSupport, waitForDebugger: Bool) {
        self.timers = timers
        self.cpuCount = cpuCount
        self.memory = memory
        self.control = control
        self.clock = clock
        self.support = support
        parked = Array(repeating: false, count: cpuCount)
        actions = Array(repeating: nil, count: cpuCount)
        if waitForDebugger {
            hold.store(true, ordering: .releasing)
            pendingStop = StopEvent(vcpu: 0, reason: .attached)
        }
    }

    func attach(_ runners: RunnerLinks) { links = runners }

    // MARK: vCPU threads

    var isHolding: Bool { hold.load(ordering: .acquiring) }

    /// Parks the calling vCPU thread until the debugger resumes it or the machine stops.
    func park(_ runner: VCPURunner) throws(KVMError) {
        try runner.vcpu.completePendingOperation()
        let id = runner.vcpu.id
        let (action, settings) = lock.withLock { () -> (ResumeAction?, GuestDebugSettings) in
            parked[id] = true
            if parked.allSatisfy({ $0 }) { notify() }
            while actions[id] == nil && !control.isStopping {
                if let request = snapshotRequest, taken[id] == nil {
                    do throws(MachineError) { taken[id] = .success(try runner.captureForSnapshot(request)) } catch {
                        taken[id] = .failure(error)
                    }
                    lock.broadcast()
                    continue
                }
                lock.wait()
            }
            parked[id] = false
            defer { actions[id] = nil }
            return (actions[id], self.settings)
        }
        guard let action else { return }
        var mine = settings
        mine.singleStep = action == .step
        try runner.vcpu.setGuestDebug(mine)
    }

    /// Decides whether an exit is the debugger's: a debug exit, or (on hosts where int3
    /// cannot be intercepted, see `GuestDebugSupport`) an emulation failure at a planted
    /// breakpoint. If so, stops the machine and returns true.
    func claim(_ exit: VCPUExit, on vcpu: any VirtualCPU) -> Bool {
        let reason: StopEvent.Reason
        switch exit {
        case .debug(let exception, _, let dr6):
            reason = debugReason(exception: exception, dr6: dr6)
        case .internalError(let suberror, _, _) where suberror == 1 && plantedCount.load(ordering: .relaxed) > 0:
            guard let rip = try? vcpu.registers().rip, lock.withLock({ softwareBreakpoints[rip] != nil }) else { return false }
            reason = .breakpoint
        default:
            return false
        }
        stop(StopEvent(vcpu: vcpu.id, reason: reason))
        return true
    }

    /// #BP is a software breakpoint; #DB says in DR6 (SDM Vol. 3B §18.2.3) whether it was
    /// a single step (BS, bit 14) or which of DR0–DR3 matched (B0–B3).
    private func debugReason(exception: UInt32, dr6: UInt64) -> StopEvent.Reason {
        guard exception == 1 else { return .breakpoint }
        if dr6 & (1 << 14) != 0 { return .step }
        for slot in 0..<4 where dr6 & (1 << UInt64(slot)) != 0 {
            if let hit = lock.withLock({ hardwareSlots[slot] }), hit.kind.isWatchpoint {
                return .watchpoint(hit.kind, address: hit.address)
            }
        }
        return .breakpoint
    }

    // MARK: Server thread

    /// Stops every vCPU; the first event since the last resume is the one reported.
    func stop(_ event: StopEvent) {
        lock.withLock {
            if pendingStop == nil { pendingStop = event }
            hold.store(true, ordering: .releasing)
        }
        for runner in runners { runner.wake() }
    }

    /// The stop to report, once every vCPU has parked; freezes guest time then.
    func takeStop() -> StopEvent? {
        let event = lock.withLock { () -> StopEvent? in
            guard let event = pendingStop, parked.allSatisfy({ $0 }) else { return nil }
            pendingStop = nil
            return event
        }
        if event != nil { freezeTime() }
        return event
    }

    /// Stops the machine clock (so the timer service fires nothing) and notes the TSC,
    /// which all vCPUs share (they started together at 0 and KVM keeps them in step).
    private func freezeTime() {
        guard !clock.isPaused else { return }
        clock.pause()
        timers.clockChanged()
        frozenTSC = try? runners.first?.vcpu.msr(MSRPolicy.Index.timeStampCounter)
    }

    /// Moves every vCPU's TSC offset back by the cycles that passed while stopped (one
    /// delta for all, so they stay in step) and restarts the machine clock: the guest
    /// sees no time pass while it was stopped. Without the TSC offset attribute (Linux
    /// before 5.16) the TSC MSR is written instead, which KVM only honours for stops
    /// longer than a second (shorter ones look like synchronisation to it).
    private func thawTime() {
        guard clock.isPaused else { return }
        if let frozen = frozenTSC, let now = try? runners.first?.vcpu.msr(MSRPolicy.Index.timeStampCounter), now > frozen {
            for runner in runners {
                do {
                    try runner.vcpu.setTSCOffset(try runner.vcpu.tscOffset &- (now - frozen))
                } catch {
                    try? runner.vcpu.setMSR(MSRPolicy.Index.timeStampCounter, frozen)
                }
            }
        }
        frozenTSC = nil
        clock.resume()
        timers.clockChanged()
    }

    /// Wakes parked vCPU threads so they see that the machine is stopping.
    func wake() {
        lock.withLock { lock.broadcast() }
        notify()
    }

    func resume(_ newActions: [ResumeAction?]) {
        // Time runs during a step too: a vCPU stepped over HLT must be able to wake.
        thawTime()
        lock.withLock {
            hold.store(false, ordering: .releasing)
            actions = newActions
            lock.broadcast()
        }
    }

    /// gdb left: remove every breakpoint and let the guest run as if never debugged.
    func detach() {
        for planted in softwareBreakpoints.values { try? memory.write(planted.original, at: planted.physical) }
        lock.withLock {
            softwareBreakpoints = [:]
            hardwareSlots = [nil, nil, nil, nil]
            settings = .off
        }
        plantedCount.store(0, ordering: .relaxed)
        resume(Array(repeating: .continue, count: cpuCount))
    }

    // MARK: Snapshots of the stopped machine

    /// Has every parked vCPU take its own state (server thread, machine stopped).
    func captureParkedVCPUs(_ request: VCPUSnapshot.Request) throws(MachineError) -> [VCPUSnapshot] {
        let results = lock.withLock { () -> [Result<VCPUSnapshot, MachineError>?] in
            (snapshotRequest, taken) = (request, Array(repeating: nil, count: cpuCount))
            lock.broadcast()
            while taken.contains(where: { $0 == nil }) && !control.isStopping { lock.wait() }
            defer { (snapshotRequest, taken) = (nil, []) }
            return taken
        }
        return try VCPUSnapshot.collect(results)
    }

    /// The guest TSC when the machine stopped: the snapshot's time, since guest time stands
    /// still while stopped.
    var stoppedAtTSC: UInt64? { frozenTSC }

    /// Runs `body` with the guest's own bytes where int3s are planted (server thread).
    func withBreakpointsLifted<T>(_ body: () throws(MachineError) -> T) throws(MachineError) -> T {
        for planted in softwareBreakpoints.values { try? memory.write(planted.original, at: planted.physical) }
        defer { for planted in softwareBreakpoints.values { try? memory.write(Self.int3, at: planted.physical) } }
        return try body()
    }

    // MARK: GDBTarget: registers

    func registers(vcpu: Int) -> [UInt64?]? {
        guard let cpu = runners[safe: vcpu]?.vcpu, let regs = try? cpu.registers(),
              let sregs = try? cpu.specialRegisters() else { return nil }
        var values = [UInt64?](repeating: nil, count: GDBRegisters.all.count)
        let general = [regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp, regs.rsp,
                       regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15,
                       regs.rip, regs.rflags]
        for (index, value) in general.enumerated() { values[index] = value }
        let selectors = [sregs.cs, sregs.ss, sregs.ds, sregs.es, sregs.fs, sregs.gs].map { UInt64($0.selector) }
        for (offset, value) in selectors.enumerated() { values[GDBRegisters.number["cs"]! + offset] = value }
        let system: [(String, UInt64?)] = [
            ("fs_base", sregs.fs.base), ("gs_base", sregs.gs.base), ("cr0", sregs.cr0), ("cr2", sregs.cr2),
            ("cr3", sregs.cr3), ("cr4", sregs.cr4), ("cr8", sregs.cr8), ("efer", sregs.efer),
            ("k_gs_base", try? cpu.msr(Self.kernelGSBase)),
        ]
        for (name, value) in system { values[GDBRegisters.number[name]!] = value }
        return values
    }

    /// IA32_KERNEL_GS_BASE (SDM Vol. 4, MSR 0xC0000102): the base SWAPGS exchanges.
    static let kernelGSBase: UInt32 = 0xC000_0102

    func setRegisters(vcpu: Int, _ values: [UInt64?]) -> Bool {
        guard let cpu = runners[safe: vcpu]?.vcpu, var regs = try? cpu.registers(),
              var sregs = try? cpu.specialRegisters() else { return false }
        let generalPaths: [WritableKeyPath<KVMRegisters, UInt64>] = [
            \.rax, \.rbx, \.rcx, \.rdx, \.rsi, \.rdi, \.rbp, \.rsp, \.r8, \.r9, \.r10, \.r11,
            \.r12, \.r13, \.r14, \.r15, \.rip, \.rflags]
        for (index, path) in generalPaths.enumerated() {
            if let value = values[index] { regs[keyPath: path] = index == 17 ? value & 0xFFFF_FFFF : value }
        }
        let systemPaths: [(String, WritableKeyPath<KVMSpecialRegisters, UInt64>)] = [
            ("fs_base", \.fs.base), ("gs_base", \.gs.base), ("cr0", \.cr0), ("cr2", \.cr2), ("cr3", \.cr3),
            ("cr4", \.cr4), ("cr8", \.cr8), ("efer", \.efer)]
        var sregsChanged = false
        for (name, path) in systemPaths {
            if let value = values[GDBRegisters.number[name]!], sregs[keyPath: path] != value {
                sregs[keyPath: path] = value
                sregsChanged = true
            }
        }
        do {
            try cpu.setRegisters(regs)
            if sregsChanged { try cpu.setSpecialRegisters(sregs) }
            if let base = values[GDBRegisters.number["k_gs_base"]!] { try cpu.setMSR(Self.kernelGSBase, base) }
            return true
        } catch {
            return false
        }
    }

    // MARK: GDBTarget: memory

    /// The guest-physical address of a linear address in `vcpu`'s address space
    /// (`KVM_TRANSLATE` walks its current page tables; with paging off it is the identity).
    /// Should the ioctl itself fail, the address is taken as physical.
    private func physical(_ linear: UInt64, vcpu: Int) -> UInt64? {
        guard let cpu = runners[safe: vcpu]?.vcpu else { return nil }
        do { return try cpu.translate(linear) } catch { return linear }
    }

    /// Splits [address, address + count) at page boundaries and translates each piece.
    private func pieces(vcpu: Int, at address: UInt64, count: Int) -> [(linear: UInt64, physical: UInt64, count: Int)] {
        var result: [(UInt64, UInt64, Int)] = []
        var linear = address, remaining = count
        while remaining > 0 {
            let inPage = min(remaining, Int(0x1000 - (linear & 0xFFF)))
            guard let physical = physical(linear, vcpu: vcpu), memory.contains(physical..<physical + UInt64(inPage)) else { break }
            result.append((linear, physical, inPage))
            linear &+= UInt64(inPage)
            remaining -= inPage
        }
        return result
    }

    func readMemory(vcpu: Int, at address: UInt64, count: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        for piece in pieces(vcpu: vcpu, at: address, count: count) {
            guard let chunk = try? memory.read(at: piece.physical, count: piece.count) else { break }
            bytes += chunk
        }
        // gdb sees the guest's own bytes, not the int3s planted for it.
        for (linear, planted) in softwareBreakpoints where linear >= address && linear - address < UInt64(bytes.count) {
            bytes[Int(linear - address)] = planted.original
        }
        return bytes.isEmpty ? nil : bytes
    }

    func writeMemory(vcpu: Int, at address: UInt64, _ bytes: [UInt8]) -> Bool {
        let pieces = pieces(vcpu: vcpu, at: address, count: bytes.count)
        guard pieces.reduce(0, { $0 + $1.count }) == bytes.count else { return false }
        var offset = 0
        for piece in pieces {
            var chunk = Array(bytes[offset..<offset + piece.count])
            for index in chunk.indices {
                // Writing over a planted int3 changes what it will restore.
                if let planted = softwareBreakpoints[piece.linear + UInt64(index)] {
                    softwareBreakpoints[piece.linear + UInt64(index)] = (planted.physical, chunk[index])
                    chunk[index] = Self.int3
                }
            }
            guard (try? memory.write(chunk, at: piece.physical)) != nil else { return false }
            offset += piece.count
        }
        return true
    }

    // MARK: GDBTarget: breakpoints

    /// INT3 (SDM Vol. 2A "INT n/INTO/INT3/INT1").
    static let int3: UInt8 = 0xCC

    func insert(_ breakpoint: Breakpoint) -> BreakpointResult {
        switch breakpoint.kind {
        case .software:
            guard softwareBreakpoints[breakpoint.address] == nil else { return .done }
            guard let physical = physical(breakpoint.address, vcpu: 0), let original = try? memory.read(UInt8.self, at: physical),
                  (try? memory.write(Self.int3, at: physical)) != nil else { return .failed }
            lock.withLock {
                softwareBreakpoints[breakpoint.address] = (physical, original)
                settings.softwareBreakpoints = true
            }
            plantedCount.add(1, ordering: .relaxed)
            return .done
        case .read:
            return .unsupported   // x86 debug registers cannot watch reads alone (R/W = 10 is I/O)
        case .hardware, .write, .access:
            if breakpoint.kind.isWatchpoint && !support.watchpoints { return .failed }
            guard let fields = DebugRegisters.fields(for: breakpoint) else { return .failed }
            return lock.withLock {
                if hardwareSlots.contains(breakpoint) { return .done }
                guard let slot = hardwareSlots.firstIndex(of: nil) else { return .failed }
                hardwareSlots[slot] = breakpoint
                settings.addresses[slot] = breakpoint.address
                settings.dr7 |= 1 << UInt64(slot * 2) | fields << UInt64(16 + slot * 4)
                return .done
            }
        }
    }

    func remove(_ breakpoint: Breakpoint) -> BreakpointResult {
        switch breakpoint.kind {
        case .software:
            guard let planted = softwareBreakpoints[breakpoint.address] else { return .done }
            try? memory.write(planted.original, at: planted.physical)
            lock.withLock {
                softwareBreakpoints[breakpoint.address] = nil
                settings.softwareBreakpoints = !softwareBreakpoints.isEmpty
            }
            plantedCount.subtract(1, ordering: .relaxed)
            return .done
        case .read:
            return .unsupported
        case .hardware, .write, .access:
            return lock.withLock {
                guard let slot = hardwareSlots.firstIndex(of: breakpoint) else { return .done }
                hardwareSlots[slot] = nil
                settings.addresses[slot] = 0
                settings.dr7 &= ~(0b11 << UInt64(slot * 2) | 0b1111 << UInt64(16 + slot * 4))
                return .done
            }
        }
    }

    // MARK: GDBTarget: the rest

    func describe(vcpu: Int) -> String {
        guard let runner = runners[safe: vcpu] else { return "no such vCPU" }
        return "vCPU \(vcpu) (\(runner.status.withLock { $0 }))"
    }

    func monitor(_ command: String) -> String {
        switch command.split(separator: " ").first ?? "" {
        case "info", "help", "":
            return support.description + "\n" + "monitor snapshot DIR: save a snapshot of the stopped machine to DIR (swiftvmm restore DIR)\n"
        case "snapshot":
            let directory = String(command.drop { $0 != " " }.drop { $0 == " " })
            guard !directory.isEmpty else { return "usage: monitor snapshot DIR\n" }
            return saveSnapshot(directory)
        default:
            return "unknown monitor command \"\(command)\"; try \"monitor info\"\n"
        }
    }
}
