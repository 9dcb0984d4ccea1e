import SwiftVMMKVM
import SwiftVMMBoot

extension Machine {
    /// Gathers every vCPU's registers and recent exits (after all vCPU threads have
    /// stopped), the instruction bytes at the faulting vCPU's CS:RIP, and symbols for
    /// each RIP from the kernel's ELF symbol table.
    func faultReport(_ fault: RunControl.FaultInfo) -> FaultReport {
        let symbols = (try? configuration.bootPayload()).map { ELFSymbolTable($0.kernel.bytes) }
        let cpus = runners.map { runner in
            let status = runner.status.withLock { $0 }
            guard let regs = try? runner.vcpu.registers(), let sregs = try? runner.vcpu.specialRegisters() else {
                return FaultReport.CPUState(id: runner.vcpu.id, rip: 0, rsp: 0, rflags: 0, cr0: 0, cr2: 0, cr3: 0,
                                            cr4: 0, efer: 0, csSelector: 0, csBase: 0, status: "registers unavailable",
                                            recentExits: runner.recentExits.recent)
            }
            return FaultReport.CPUState(id: runner.vcpu.id, rip: regs.rip, rsp: regs.rsp, rflags: regs.rflags,
                                        cr0: sregs.cr0, cr2: sregs.cr2, cr3: sregs.cr3, cr4: sregs.cr4, efer: sregs.efer,
                                        csSelector: sregs.cs.selector, csBase: sregs.cs.base, status: status,
                                        general: [regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp,
                                                  regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15],
                                        symbol: symbols?.describe(sregs.cs.base &+ regs.rip),
                                        recentExits: runner.recentExits.recent)
        }
        var instruction = fault.instruction
        if instruction.isEmpty, let cpu = cpus.first(where: { $0.id == fault.vcpu }) {
            instruction = instructionBytes(vcpu: runners[fault.vcpu].vcpu, linear: cpu.csBase &+ cpu.rip)
        }
        return FaultReport(vcpu: fault.vcpu, reason: fault.reason, instruction: instruction, cpus: cpus)
    }

    /// Up to 15 bytes (the longest x86 instruction) at a linear address, translated
    /// through the vCPU's page tables; fewer where the translation or RAM ends.
    private func instructionBytes(vcpu: any VirtualCPU, linear: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        for offset in 0..<UInt64(15) {
            guard let physical = try? vcpu.translate(linear &+ offset),
                  let byte = try? memory.read(UInt8.self, at: physical) else { break }
            bytes.append(byte)
        }
        return bytes
    }
}
