// SwiftVMM: a small KVM virtual machine monitor. See the README and the DocC catalog.
