// The guest `swiftvmm demo` boots: built from guests/demo by the GuestBuilder plugin,
// which adds `demoGuest: [UInt8]` (the kernel's ELF bytes) to this module.
