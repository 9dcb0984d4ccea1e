import SwiftVMMDevices
import SwiftVMMKVM

/// An ISA IRQ line into KVM's in-kernel irqchip (`KVM_IRQ_LINE`), for devices SwiftVMM
/// models itself (the UART) when KVM models the interrupt controllers. A device cannot
/// handle a failed ioctl, so `failed` (the machine ends the run with a host error) does.
struct KVMInterruptLine: InterruptLine {
    let vm: VirtualMachine
    let gsi: UInt32
    let failed: @Sendable (KVMError) -> Void

    func set(_ level: Bool) {
        do { try vm.setIRQLine(gsi, level: level) } catch { failed(error) }
    }
}
