// SwiftVMM: a small KVM virtual machine monitor. See the README and the DocC catalog.
//
// This target is the machine itself (Machine/). `import SwiftVMM` also brings the public
// API of every layer below it, so users import one module.
@_exported import SwiftVMMBoot
@_exported import SwiftVMMDebug
@_exported import SwiftVMMDevices
@_exported import SwiftVMMKVM
@_exported import SwiftVMMMemory
@_exported import SwiftVMMPlatform
@_exported import SwiftVMMSupport
