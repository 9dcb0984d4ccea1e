import SystemPackage
import SwiftVMMBoot
import SwiftVMMDebug
import SwiftVMMDevices
import SwiftVMMKVM
import SwiftVMMMemory
import SwiftVMMPlatform

extension Machine {
    /// Everything that defines a machine and its run. The CLI builds one from its flags.
    public struct Configuration: Sendable {
        /// Where the kernel comes from.
        public enum Kernel: Sendable {
            /// A kernel file, or a GRUB disc (an ISO 9660 image, e.g. from `grub-mkrescue`),
            /// whose `/boot/grub/grub.cfg` then names the kernel, modules and command line.
            case file(String)
            /// An image already in memory (an embedded guest); `name` is used in messages.
            case image(name: String, bytes: [UInt8])

            func image() throws(BootError) -> KernelImage {
                switch self {
                case .file(let path): try KernelImage(path: path)
                case .image(let name, let bytes): KernelImage(path: name, bytes: bytes)
                }
            }
        }

        public var kernel: Kernel

        /// The kernel, modules and strings to boot, read from their files.
        func bootPayload() throws(BootError) -> BootPayload {
            if case .file(let path) = kernel, GRUBDisc.isDisc(path: path) {
                guard commandLine.isEmpty, modules.isEmpty, bootProtocol == nil else {
                    throw BootError(file: path, problem: "is a GRUB disc: its grub.cfg gives the boot protocol, command line and modules (drop --boot-protocol, --cmdline and --module)")
                }
                return try GRUBDisc.payload(path: path, limit: memorySize)
            }
            return try .files(kernel: kernel.image(), bootProtocol: bootProtocol, commandLine: commandLine, modules: modules)
        }
        /// nil: detect (multiboot 2, then multiboot 1, then ELF64).
        public var bootProtocol: BootProtocol?
        public var commandLine: String
        public var modules: [BootModule]
        public var cpus: Int
        /// Bytes of guest RAM.
        public var memorySize: UInt64
        /// COM1's output.
        public var serialOutput: any SerialSink
        /// COM1's input, read on a thread of its own (nil: none).
        public var serialInput: FileDescriptor?
        public var pinning: CPUPinning
        public var timeout: Duration?
        public var interruptController: InterruptController
        /// Unknown MSRs: #GP (strict), read 0 with a warning (log), or silently (ignore).
        public var msrPolicy: UnknownMSRPolicy
        /// RDMSR values that replace whatever KVM or SwiftVMM would answer.
        public var msrOverrides: [UInt32: UInt64]
        public var cpuVendor: CPUIDTable.Vendor
        /// CPUID feature names (see `CPUIDTable.features`) to set (true) or clear (false).
        public var cpuFeatures: [String: Bool]
        /// Nested virtualization (VMX/SVM advertised to the guest): nil where the host KVM
        /// offers it, false never, true required (an error on a host without it).
        public var nested: Bool?
        /// Regular expressions matched against each complete line of serial output; the
        /// first match ends the run with `exitOnStatus`.
        public var exitOn: [String]
        public var exitOnStatus: Int32
        /// COM2's output (0x2F8, IRQ 3); nil: no COM2, as QEMU without a second `-serial`.
        public var serial2Output: (any SerialSink)?
        /// Where the VGA text page's changed rows go (`--vga-text`); nil: not watched.
        public var vgaTextOutput: (any SerialSink)?
        /// A reset request boots the kernel again (`MachineSession`) instead of ending the run.
        public var rebootOnReset: Bool
        /// Files served by fw_cfg besides `etc/e820` (QEMU's `-fw_cfg name=…`).
        public var firmwareConfigFiles: [FirmwareConfigItems.File] = []
        /// More debug-exit port ranges besides 0xF4 (QEMU's `-device isa-debug-exit,iobase=,iosize=`).
        public var debugExitPorts: [Range<UInt16>] = []
        /// What the PIT and the HPET's edge comparators do with ticks the host ran too late to send (`--lost-ticks`,
        /// QEMU's `-global kvm-pit.lost_tick_policy=`); KVM's PIT too with `.kernel`.
        public var lostTicks: PIT8254.LostTickPolicy = .delay
        /// QEMU's `pc-testdev` (`-device pc-testdev`), which kvm-unit-tests drives; it takes
        /// ports 0xE8–0xEB from the Bochs debug console (see `PCTestDevice`).
        public var testDevice = false
        /// Leave the PIT ticking into IRQ 0 and a real-mode interrupt vector table, as a PC
        /// BIOS does (`--bios-timer`, on with QEMU's spelling; see `Machine.leaveBIOSTimer`).
        /// Needs SwiftVMM's irqchip.
        public var biosTimer = false
        /// A gdb remote stub (`--gdb`, `--gdb-wait`); nil: none.
        public var gdb: GDBOptions? = nil
        /// `--trace exits[=FILE]`, `--trace summary`; nil: no tracing, no cost.
        public var trace: ExitTraceOptions? = nil
        /// A guest write to the snapshot port (`SnapshotPort`, port 0x5F0) stops every vCPU
        /// where it stands, the writer right after its OUT, until `Machine.snapshot` takes a
        /// snapshot (`boot --save` without `--snapshot-on`); `Machine.snapshotRequested`
        /// waits for the write. The guest's clocks run on meanwhile. false: the write does
        /// nothing. Not kept in a snapshot.
        public var snapshotOnPortWrite = false
        /// Time added to the handling of every exit, spent on the vCPU's thread: a slower host
        /// (a debug build, a nested KVM) modelled on a fast one, for the tests that check a
        /// guest's verdict does not depend on what an exit costs. nil: none.
        var addedExitLatency: Duration? = nil

        public init(kernel: Kernel, bootProtocol: BootProtocol? = nil, commandLine: String = "",
                    modules: [BootModule] = [], cpus: Int = 1, memorySize: UInt64 = 256 << 20,
                    serialOutput: any SerialSink = FileDescriptorSink(.standardOutput),
                    serialInput: FileDescriptor? = nil, pinning: CPUPinning = .auto, timeout: Duration? = nil,
                    interruptController: InterruptController = .userspace, msrPolicy: UnknownMSRPolicy = .log,
                    msrOverrides: [UInt32: UInt64] = [:], cpuVendor: CPUIDTable.Vendor = .host,
                    cpuFeatures: [String: Bool] = [:], nested: Bool? = nil, exitOn: [String] = [], exitOnStatus: Int32 = 0,
                    serial2Output: (any SerialSink)? = nil, vgaTextOutput: (any SerialSink)? = nil,
                    rebootOnReset: Bool = false) {
            self.kernel = kernel
            self.bootProtocol = bootProtocol
            self.commandLine = commandLine
            self.modules = modules
            self.cpus = cpus
            self.memorySize = memorySize
            self.serialOutput = serialOutput
            self.serialInput = serialInput
            self.pinning = pinning
            self.timeout = timeout
            self.interruptController = interruptController
            self.msrPolicy = msrPolicy
            self.msrOverrides = msrOverrides
            self.cpuVendor = cpuVendor
            self.cpuFeatures = cpuFeatures
            self.nested = nested
            self.exitOn = exitOn
            self.exitOnStatus = exitOnStatus
            self.serial2Output = serial2Output
            self.vgaTextOutput = vgaTextOutput
            self.rebootOnReset = rebootOnReset
        }
    }
}

/// Who emulates the local APICs (and later the PIC, PIT and I/O APIC).
public enum InterruptController: String, Sendable, CaseIterable {
    /// SwiftVMM's own models, in userspace: exact timers, deterministic SMP start-up,
    /// deadlock detection.
    case userspace = "user"
    /// KVM's in-kernel irqchip (KVM_CREATE_IRQCHIP): for comparison and for guests that
    /// need it. HLT then stays inside KVM, so a deadlock cannot be detected.
    case kernel
}

/// Which host CPU each vCPU thread runs on.
public enum CPUPinning: Equatable, Sendable {
    /// Spread over the CPUs this process may use: each vCPU on the CPU with the fewest
    /// vCPUs of this process's live machines (one machine alone: vCPU i on the i-th CPU).
    case auto
    /// Let the host scheduler decide.
    case none
    /// vCPU i on `cpus[i % cpus.count]`.
    case cpus([Int])

    /// The host CPU per vCPU (nil when not pinned), and for `.auto` the lease that
    /// holds them in the process-wide pool until the machine is freed.
    func hostCPUs(count: Int) -> (cpus: [Int]?, lease: HostCPUPool.Lease?) {
        switch self {
        case .none: return (nil, nil)
        case .auto:
            let lease = HostCPUPool.shared.lease(count: count)
            return (lease.cpus, lease)
        case .cpus(let list):
            guard !list.isEmpty else { return (nil, nil) }
            return ((0..<count).map { list[$0 % list.count] }, nil)
        }
    }
}

/// Why a machine could not be built. `exitStatus` follows the CLI's table.
public enum MachineError: Error, CustomStringConvertible, Equatable {
    /// The kernel or a module cannot be booted (status 2).
    case boot(BootError)
    /// A setting is out of range (status 2).
    case invalidConfiguration(String)
    /// The host cannot run the machine (status 10).
    case host(HostError)

    public var exitStatus: Int32 {
        switch self {
        case .boot, .invalidConfiguration: ExitStatus.usage
        case .host: ExitStatus.hostError
        }
    }

    public var description: String {
        switch self {
        case .boot(let error): "\(error)"
        case .invalidConfiguration(let message): message
        case .host(let error): "\(error)"
        }
    }

    /// What an error from one of the steps that build a machine means for its user.
    init(buildingMachine error: any Error) {
        switch error {
        case let error as MachineError: self = error
        case let error as BootError: self = .boot(error)
        case let error as KVMError: self = .host(.kvm(error))
        case let error as HostError: self = .host(error)
        case let error as GuestMemoryError: self = .host(.memory(error))
        default: self = .host(.configuration("\(error)"))
        }
    }
}
