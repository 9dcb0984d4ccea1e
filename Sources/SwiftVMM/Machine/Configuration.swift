import SystemPackage

extension Machine {
    /// Everything that defines a machine and its run. The CLI builds one from its flags.
    public struct Configuration: Sendable {
        /// Where the kernel comes from.
        public enum Kernel: Sendable {
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
        /// Regular expressions matched against each complete line of serial output; the
        /// first match ends the run with `exitOnStatus`.
        public var exitOn: [String]
        public var exitOnStatus: Int32
        /// A gdb remote stub (`--gdb`, `--gdb-wait`); nil: none.
        public var gdb: GDBOptions? = nil
        /// `--trace exits[=FILE]`, `--trace summary`; nil: no tracing, no cost.
        public var trace: ExitTraceOptions? = nil

        public init(kernel: Kernel, bootProtocol: BootProtocol? = nil, commandLine: String = "",
                    modules: [BootModule] = [], cpus: Int = 1, memorySize: UInt64 = 256 << 20,
                    serialOutput: any SerialSink = FileDescriptorSink(.standardOutput),
                    serialInput: FileDescriptor? = nil, pinning: CPUPinning = .auto, timeout: Duration? = nil,
                    interruptController: InterruptController = .userspace, msrPolicy: UnknownMSRPolicy = .log,
                    msrOverrides: [UInt32: UInt64] = [:], cpuVendor: CPUIDTable.Vendor = .host,
                    cpuFeatures: [String: Bool] = [:], exitOn: [String] = [], exitOnStatus: Int32 = 0) {
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
            self.exitOn = exitOn
            self.exitOnStatus = exitOnStatus
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
    /// vCPU i on the i-th CPU this process may use, round robin.
    case auto
    /// Let the host scheduler decide.
    case none
    /// vCPU i on `cpus[i % cpus.count]`.
    case cpus([Int])

    /// The host CPU per vCPU, or nil when not pinned.
    func hostCPUs(count: Int) -> [Int]? {
        let cpus: [Int]
        switch self {
        case .none: return nil
        case .auto: cpus = CPUAffinity.allowedCPUs()
        case .cpus(let list): cpus = list
        }
        guard !cpus.isEmpty else { return nil }
        return (0..<count).map { cpus[$0 % cpus.count] }
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
}
