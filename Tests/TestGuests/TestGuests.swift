// The test kernels from guests/, built by the GuestBuilder plugin and embedded as
// `<name>Guest: [UInt8]` (ELF bytes); guests.list names which ones.
