/// Local APIC register offsets, bits and messages (Intel SDM Vol. 3A chapter 11,
/// "Advanced Programmable Interrupt Controller (APIC)"; chapter 12 in SDM editions from
/// 2024 on, same section numbers after the chapter).
extension LocalAPIC {
    /// xAPIC MMIO offsets (§11.4.1, Table 11-1). In x2APIC mode the register at offset R is
    /// MSR 0x800 + R >> 4 (§11.12.1.2, Table 11-6).
    public enum Register {
        static let id: UInt32 = 0x020
        static let version: UInt32 = 0x030
        static let taskPriority: UInt32 = 0x080
        static let arbitrationPriority: UInt32 = 0x090
        static let processorPriority: UInt32 = 0x0A0
        static let endOfInterrupt: UInt32 = 0x0B0
        static let remoteRead: UInt32 = 0x0C0
        static let logicalDestination: UInt32 = 0x0D0
        static let destinationFormat: UInt32 = 0x0E0
        static let spuriousVector: UInt32 = 0x0F0
        static let inService: UInt32 = 0x100          // ISR, 8 registers to 0x170
        static let triggerMode: UInt32 = 0x180        // TMR, 8 registers to 0x1F0
        static let interruptRequest: UInt32 = 0x200   // IRR, 8 registers to 0x270
        static let errorStatus: UInt32 = 0x280
        static let lvtCMCI: UInt32 = 0x2F0
        static let interruptCommandLow: UInt32 = 0x300
        static let interruptCommandHigh: UInt32 = 0x310
        static let lvtTimer: UInt32 = 0x320
        static let lvtThermal: UInt32 = 0x330
        static let lvtPerformance: UInt32 = 0x340
        static let lvtLINT0: UInt32 = 0x350
        static let lvtLINT1: UInt32 = 0x360
        static let lvtError: UInt32 = 0x370
        static let timerInitialCount: UInt32 = 0x380
        static let timerCurrentCount: UInt32 = 0x390
        static let timerDivide: UInt32 = 0x3E0
        static let selfIPI: UInt32 = 0x3F0            // x2APIC only (§11.12.11)
    }

    /// MSRs the local APIC owns.
    public enum MSR {
        /// IA32_APIC_BASE (§11.4.4): bit 8 BSP, bit 10 EXTD (x2APIC), bit 11 EN, base in 51:12.
        public static let apicBase: UInt32 = 0x1B
        /// IA32_TSC_DEADLINE (§11.5.4.1).
        public static let tscDeadline: UInt32 = 0x6E0
        /// The x2APIC register range (§11.12.1.2).
        public static let x2APICRange: ClosedRange<UInt32> = 0x800...0x8FF

        /// Whether the local APIC answers `index` (including with #GP).
        public static func owned(_ index: UInt32) -> Bool {
            index == apicBase || index == tscDeadline || x2APICRange.contains(index)
        }
    }

    static let baseBSP: UInt64 = 1 << 8, baseExtended: UInt64 = 1 << 10, baseEnabled: UInt64 = 1 << 11

    /// Version register: version 0x14 (integrated APIC), max LVT entry 6 (CMCI..error), bits 23:16.
    static let versionValue: UInt32 = 0x14 | 6 << 16
    /// SVR bit 8: APIC software enable (§11.4.7.2); bit 12: suppress EOI broadcasts.
    static let softwareEnable: UInt32 = 1 << 8
    static let suppressEOIBroadcast: UInt32 = 1 << 12
    /// LVT bit 16: masked; bit 12: delivery status (§11.5.1).
    static let lvtMasked: UInt32 = 1 << 16
    /// LVT timer mode, bits 18:17 (§11.5.1, Figure 11-8).
    enum TimerMode: UInt32 { case oneShot = 0, periodic = 1, tscDeadline = 2 }

    /// ICR fields (§11.6.1, Figure 11-12).
    public enum DeliveryMode: UInt32, Sendable {
        case fixed = 0, lowestPriority = 1, smi = 2, nmi = 4, initialize = 5, startup = 6

        /// LVT delivery-mode values (§11.5.1): NMI 100b, ExtINT 111b.
        static let nmiMode: UInt32 = 4, extINT: UInt32 = 7
    }
    public enum Shorthand: UInt32, Sendable { case none = 0, selfOnly = 1, allIncludingSelf = 2, allExcludingSelf = 3 }

    /// ESR bits (§11.5.3): illegal vector sent / received.
    static let sendIllegalVector: UInt32 = 1 << 5, receiveIllegalVector: UInt32 = 1 << 6

    /// An inter-processor interrupt as written to the ICR, for the APIC bus to route.
    public struct InterprocessorInterrupt: Equatable, Sendable {
        public var vector: UInt8
        public var mode: DeliveryMode
        public var logical: Bool
        /// Level bit (bit 14): INIT with level de-assert is the obsolete INIT-deassert message.
        public var assert: Bool
        public var levelTriggered: Bool
        public var shorthand: Shorthand
        /// APIC ID or logical destination (8 bits in xAPIC mode, 32 in x2APIC mode).
        public var destination: UInt32
        public var source: UInt32
        public var x2APIC: Bool
    }

    /// What the APIC bus needs to know to route an interrupt to this APIC (§11.6.2).
    public struct Addressing: Equatable, Sendable {
        /// The APIC's own ID: its vCPU's index on the bus, and its x2APIC ID.
        public var id: UInt32
        public var logicalDestination: UInt32
        public var destinationFormat: UInt32
        public var x2APIC: Bool
        public var softwareEnabled: Bool
        public var taskPriority: UInt32
        /// The xAPIC ID register's bits 31:24 where the guest wrote another ID (§11.4.6: the
        /// xAPIC ID is writable); nil: `id`.
        public var xAPICID: UInt32? = nil

        /// Whether a logical destination selects this APIC (§11.6.2.2; x2APIC §11.12.10.2).
        public func matchesLogical(_ destination: UInt32) -> Bool {
            if x2APIC {
                if destination == 0xFFFF_FFFF { return true }
                return destination >> 16 == logicalDestination >> 16 && destination & logicalDestination & 0xFFFF != 0
            }
            let ldr = logicalDestination >> 24, dest = destination & 0xFF
            if dest == 0xFF { return true }
            if destinationFormat >> 28 == 0xF { return ldr & dest != 0 }          // flat model
            return ldr >> 4 == dest >> 4 && ldr & dest & 0xF != 0                 // cluster model
        }

        /// Whether a physical destination selects this APIC (0xFF / 0xFFFFFFFF broadcast).
        public func matchesPhysical(_ destination: UInt32, x2APICMessage: Bool) -> Bool {
            let broadcast: UInt32 = x2APICMessage ? 0xFFFF_FFFF : 0xFF
            return destination == broadcast || destination == (x2APIC ? id : xAPICID ?? id)
        }
    }
}
