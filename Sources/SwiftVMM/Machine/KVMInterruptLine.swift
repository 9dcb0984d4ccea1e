/// An ISA IRQ line into KVM's in-kernel irqchip (`KVM_IRQ_LINE`), for devices SwiftVMM
/// models itself (the UART) when KVM models the interrupt controllers.
struct KVMInterruptLine: InterruptLine {
    let vm: VirtualMachine
    let gsi: UInt32

    func set(_ level: Bool) { try? vm.setIRQLine(gsi, level: level) }
}
