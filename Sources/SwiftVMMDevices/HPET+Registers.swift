/// HPET register offsets, bits and fixed values (IA-PC HPET Specification 1.0a, §2.3
/// "Register Descriptions", Table 2 "Memory-Mapped Registers").
extension HPET {
    /// Offsets from the base (0xFED00000); 64-bit registers, read and written whole or as
    /// 32-bit halves (§2.3.1).
    enum Register {
        static let capabilities: UInt64 = 0x000      // General Capabilities and ID (§2.3.4), RO
        static let configuration: UInt64 = 0x010     // General Configuration (§2.3.5)
        static let interruptStatus: UInt64 = 0x020   // General Interrupt Status (§2.3.6)
        static let mainCounter: UInt64 = 0x0F0       // Main Counter Value (§2.3.7)
        static let timers: UInt64 = 0x100            // timer N's block at 0x100 + 0x20·N
        static let timerStride: UInt64 = 0x20
        static let timerConfiguration: UInt64 = 0x00 // Tn_CONF_CAP (§2.3.8), in a timer's block
        static let timerComparator: UInt64 = 0x08    // Tn_COMPARATOR (§2.3.9)
        static let timerFSBRoute: UInt64 = 0x10      // Tn_FSB_INT_ROUTE (§2.3.10): not implemented, reads 0
    }

    /// The register block's length: 1 KiB (§2.3.1).
    public static let size: UInt64 = 0x400
    /// Timers provided (the minimum the specification allows, §2.3.4: NUM_TIM_CAP ≥ 2 — and
    /// three, as on Intel chipsets).
    public static let timerCount = 3
    /// COUNTER_CLK_PERIOD: 100 ns in femtoseconds, a 10 MHz main counter (§2.3.4 bits 63:32;
    /// at most 0x05F5E100 = 100 ns is allowed).
    public static let periodFemtoseconds: UInt64 = 100_000_000
    static let counterHz: UInt64 = 1_000_000_000_000_000 / periodFemtoseconds

    /// General Capabilities and ID (§2.3.4).
    enum Capabilities {
        static let revisionID: UInt64 = 0x01                 // REV_ID, bits 7:0
        static let timerCountShift: UInt64 = 8               // NUM_TIM_CAP, bits 12:8: timers − 1
        static let counterSize64: UInt64 = 1 << 13           // COUNT_SIZE_CAP
        static let legacyRoute: UInt64 = 1 << 15             // LEG_RT_CAP
        static let vendorShift: UInt64 = 16                  // VENDOR_ID, bits 31:16
        static let vendorID: UInt64 = 0x8086
        static let periodShift: UInt64 = 32                  // COUNTER_CLK_PERIOD, bits 63:32

        static let value = revisionID | UInt64(HPET.timerCount - 1) << timerCountShift | counterSize64
            | legacyRoute | vendorID << vendorShift | HPET.periodFemtoseconds << periodShift
    }

    /// General Configuration (§2.3.5).
    struct GeneralConfiguration: OptionSet, Codable {
        let rawValue: UInt64
        static let enable = GeneralConfiguration(rawValue: 1 << 0)             // ENABLE_CNF
        static let legacyReplacement = GeneralConfiguration(rawValue: 1 << 1)  // LEG_RT_CNF
    }

    /// Timer N Configuration and Capabilities (§2.3.8).
    struct TimerConfiguration: OptionSet, Codable {
        let rawValue: UInt64
        static let levelTriggered = TimerConfiguration(rawValue: 1 << 1)   // Tn_INT_TYPE_CNF
        static let interruptEnable = TimerConfiguration(rawValue: 1 << 2)  // Tn_INT_ENB_CNF
        static let periodic = TimerConfiguration(rawValue: 1 << 3)         // Tn_TYPE_CNF
        static let periodicCapable = TimerConfiguration(rawValue: 1 << 4)  // Tn_PER_INT_CAP, RO
        static let size64Capable = TimerConfiguration(rawValue: 1 << 5)    // Tn_SIZE_CAP, RO
        static let valueSet = TimerConfiguration(rawValue: 1 << 6)         // Tn_VAL_SET_CNF
        static let mode32 = TimerConfiguration(rawValue: 1 << 8)           // Tn_32MODE_CNF
        static let routeShift: UInt64 = 9                                  // Tn_INT_ROUTE_CNF, bits 13:9
        static let routeMask: UInt64 = 0x1F << routeShift
        static let fsbEnable = TimerConfiguration(rawValue: 1 << 14)       // Tn_FSB_EN_CNF (not capable)
        static let fsbCapable = TimerConfiguration(rawValue: 1 << 15)      // Tn_FSB_INT_DEL_CAP, RO
        static let routeCapabilityShift: UInt64 = 32                       // Tn_INT_ROUTE_CAP, bits 63:32

        /// Every timer here is periodic-capable and 64-bit (both optional per timer, §2.3.8).
        static let capabilities: TimerConfiguration = [.periodicCapable, .size64Capable]
        static let writable = TimerConfiguration([.levelTriggered, .interruptEnable, .periodic, .valueSet, .mode32])
            .union(TimerConfiguration(rawValue: routeMask))
    }

    /// Tn_INT_ROUTE_CAP: the I/O APIC pins a timer may be routed to: 20–23 (free on the
    /// PC's I/O APIC), and 2 and 8 (where the PIT and RTC would be).
    static let routeCapability: UInt32 = 1 << 2 | 1 << 8 | 0xF << 20
    /// LEG_RT_CNF routes (§2.3.5, Table 4): timer 0 to IRQ0 (I/O APIC pin 2), timer 1 to IRQ8.
    package static let legacyRoutes = [0, 8]
}
