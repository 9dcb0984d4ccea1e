import SwiftVMMKVM
import SwiftVMMBoot


/// Puts a vCPU in the state a boot protocol promises (`EntryState`).
extension VCPU {
    /// CR0: PE (bit 0), ET (bit 4); for long mode also MP, NE, WP and PG (SDM Vol. 3A §2.5).
    static let cr0Protected: UInt64 = 0x11
    static let cr0Paged: UInt64 = 0x8005_0033
    /// CR4.PAE (bit 5), required for long mode.
    static let cr4PAE: UInt64 = 1 << 5
    /// IA32_EFER.LME (bit 8) and LMA (bit 10) (SDM Vol. 3A §9.8.5).
    static let eferLongMode: UInt64 = 1 << 8 | 1 << 10

    func enter(_ state: EntryState) throws(KVMError) {
        var sregs = try specialRegisters()
        let code: KVMSegment
        switch state.mode {
        case .protected32:
            code = Self.flatSegment(selector: EntryState.Selector.code32, type: 0xB, longMode: false)
            sregs.cr0 = Self.cr0Protected
        case .long64(let pageTables):
            code = Self.flatSegment(selector: EntryState.Selector.code64, type: 0xB, longMode: true)
            sregs.cr0 = Self.cr0Paged
            sregs.cr3 = pageTables
            sregs.cr4 = Self.cr4PAE
            sregs.efer = Self.eferLongMode
        }
        let data = Self.flatSegment(selector: EntryState.Selector.data, type: 0x3, longMode: false)
        sregs.cs = code
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        sregs.gdt.base = state.gdtBase
        sregs.gdt.limit = EntryState.gdtLimit
        try setSpecialRegisters(sregs)

        var regs = KVMRegisters()
        regs.rip = state.rip
        regs.rsp = state.rsp
        regs.rax = state.rax
        regs.rbx = state.rbx
        regs.rdi = state.rdi
        regs.rsi = state.rsi
        regs.rflags = 0x2          // bit 1 is always 1; IF = 0
        try setRegisters(regs)
    }

    /// A flat segment: base 0, limit 4 GiB, present, ring 0 (SDM Vol. 3A §3.4.5).
    /// `type` 0xB is execute/read code (accessed), 0x3 read/write data (accessed).
    static func flatSegment(selector: UInt16, type: UInt8, longMode: Bool) -> KVMSegment {
        var segment = KVMSegment()
        segment.base = 0
        segment.limit = 0xFFFF_FFFF
        segment.selector = selector
        segment.type = type
        segment.present = 1
        segment.dpl = 0
        segment.s = 1
        segment.g = 1
        segment.l = longMode ? 1 : 0
        segment.db = longMode ? 0 : 1
        return segment
    }
}

extension VirtualCPU {
    /// An application processor receiving a start-up IPI with vector `vector` after INIT
    /// (SDM Vol. 3A §9.4.1 INIT state, §11.6.1 "Start-up"): real mode, CS = vector << 8
    /// (base vector << 12), IP = 0, the rest as after INIT.
    func startUp(vector: UInt8) throws(KVMError) {
        try enterRealMode(codeSegment: UInt16(vector) << 8, offset: 0)
    }

    /// Real mode at `codeSegment`:`offset`, the data and stack segments 0, the rest of the
    /// state as after INIT (§9.1.1, Table 9-1): how the boot processor leaves firmware
    /// for an ACPI waking vector (ACPI 6.5 §5.2.10) and an AP for its start-up vector.
    func enterRealMode(codeSegment: UInt16, offset: UInt16) throws(KVMError) {
        var sregs = try specialRegisters()
        func realModeSegment(selector: UInt16, type: UInt8) -> KVMSegment {
            var segment = KVMSegment()
            segment.selector = selector
            segment.base = UInt64(selector) << 4
            segment.limit = 0xFFFF
            segment.type = type
            segment.present = 1
            segment.s = 1
            return segment
        }
        sregs.cs = realModeSegment(selector: codeSegment, type: 0xB)
        let data = realModeSegment(selector: 0, type: 0x3)
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        sregs.gdt.base = 0; sregs.gdt.limit = 0xFFFF
        sregs.idt.base = 0; sregs.idt.limit = 0xFFFF
        sregs.cr0 = 0x6000_0010     // CD, NW, ET (INIT state)
        sregs.cr2 = 0; sregs.cr3 = 0; sregs.cr4 = 0; sregs.efer = 0
        try setSpecialRegisters(sregs)
        var regs = KVMRegisters()
        regs.rflags = 0x2
        regs.rip = UInt64(offset)
        try setRegisters(regs)
    }
}
