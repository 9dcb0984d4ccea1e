// MinimalVMM: the smallest whole VMM, for reading first. It boots a multiboot ELF kernel
// that prints on COM1 and ends through QEMU's isa-debug-exit (port 0xF4) — SwiftVMM's
// `hello` guest — with nothing but SwiftVMM's KVM layer: what dpw/kvm-hello-world and
// LWN's "Using the KVM API" do in C.
//
//   swift run MinimalVMM guests/hello.elf     (guests/build.sh builds it)
//
// The steps: open /dev/kvm, create a VM, give it RAM, copy the kernel's segments in, put
// the one vCPU where a multiboot loader leaves it (32-bit protected mode, flat segments,
// paging off; the kernel turns on long mode itself), then run it and answer its exits.
// The full machine (Sources/SwiftVMM/Machine) does the same with devices, interrupts,
// timers and many vCPUs.
#if canImport(Glibc)
import Glibc
#endif
import SwiftVMMKVM

/// Prints `message` on standard error and exits with status 2.
func fail(_ message: String) -> Never {
    let line = Array("MinimalVMM: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

@main
struct MinimalVMM {
    static func main() {
        guard CommandLine.arguments.count == 2, let file = fopen(CommandLine.arguments[1], "rb") else {
            fail("usage: MinimalVMM KERNEL.elf (a readable multiboot ELF64 kernel)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while case let count = fread(&chunk, 1, chunk.count, file), count > 0 { bytes += chunk[..<count] }
        fclose(file)
        let kernel = bytes

        /// A little-endian field of the kernel file (the ELF header, ELF spec "ELF Header").
        func field<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
            guard offset >= 0, offset + MemoryLayout<T>.size <= kernel.count else { fail("truncated ELF file") }
            return kernel[offset..<offset + MemoryLayout<T>.size].reversed().reduce(0) { $0 << 8 | T($1) }
        }
        guard kernel.starts(with: [0x7F, 0x45, 0x4C, 0x46, 2]) else { fail("not an ELF64 file") }

        do {
            // 1. The VM and 16 MiB of RAM at guest-physical 0: anonymous host memory KVM maps in.
            let ramSize = 16 << 20
            let kvm = try KVM()
            let vm = try kvm.createVM()
            try vm.setTSSAddress(0xFFFB_D000)   // Intel VMX needs three pages outside RAM for this
            guard let ram = mmap(nil, ramSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
                  ram != MAP_FAILED else { fail("cannot allocate guest RAM") }
            try vm.setMemoryRegion(slot: 0, guestAddress: 0, size: UInt64(ramSize), host: ram)

            // 2. The kernel: each PT_LOAD segment at its physical address, the rest of it zero.
            let programHeaders = Int(field(UInt64.self, at: 0x20)), entrySize = Int(field(UInt16.self, at: 0x36))
            for index in 0..<Int(field(UInt16.self, at: 0x38)) {
                let header = programHeaders + index * entrySize
                guard field(UInt32.self, at: header) == 1 else { continue }   // PT_LOAD
                let offset = Int(field(UInt64.self, at: header + 0x08)), address = Int(field(UInt64.self, at: header + 0x18))
                let fileSize = Int(field(UInt64.self, at: header + 0x20)), memorySize = Int(field(UInt64.self, at: header + 0x28))
                guard fileSize <= memorySize, address >= 0, address + memorySize <= ramSize, offset + fileSize <= kernel.count else {
                    fail("a segment does not fit in \(ramSize >> 20) MiB of RAM")
                }
                // SAFETY: address..<address + memorySize lies inside the mapping (checked above), and
                // the file bytes copied lie inside `kernel`.
                kernel.withUnsafeBytes { (ram + address).copyMemory(from: $0.baseAddress! + offset, byteCount: fileSize) }
            }

            // 3. One vCPU, with the CPU features KVM can give it, as a multiboot loader leaves it
            // (Multiboot 1 §3.2): protected mode, CS a flat 32-bit code segment, the data
            // segments flat, EAX the magic, EBX the information structure (all zero here: no
            // memory map, no command line).
            let vcpu = try vm.createVCPU(id: 0)
            // A new vCPU's CPUID is empty: without long mode in it, KVM refuses EFER.LME.
            try vcpu.setCPUID(kvm.supportedCPUID())
            var special = try vcpu.specialRegisters()
            /// A flat 4 GiB segment (SDM Vol. 3A §3.4.5): code (type 0xB, execute/read) or data (0x3).
            func flat(code: Bool) -> KVMSegment {
                var segment = KVMSegment()
                (segment.base, segment.limit, segment.g, segment.db, segment.s, segment.present) = (0, 0xFFFF_FFFF, 1, 1, 1, 1)
                (segment.type, segment.selector) = code ? (0xB, 0x08) : (0x3, 0x10)
                return segment
            }
            special.cs = flat(code: true)
            (special.ds, special.es, special.fs, special.gs, special.ss) = (flat(code: false), flat(code: false), flat(code: false),
                                                                            flat(code: false), flat(code: false))
            special.cr0 = 0x11   // PE, ET: protected mode, paging off
            try vcpu.setSpecialRegisters(special)
            var registers = try vcpu.registers()
            registers.rip = field(UInt64.self, at: 0x18)   // e_entry
            registers.rax = 0x2BAD_B002
            registers.rbx = 0x9000
            registers.rflags = 0x2
            try vcpu.setRegisters(registers)

            // 4. Run (a guest that never ends is stopped after 10 s: SIGALRM ends the process).
            // Each exit is a port access the guest made. COM1's line status (0x3FD) says
            // the transmitter is empty, a byte to COM1's data port (0x3F8) is printed, and a write
            // to 0xF4 ends the run with status (value << 1) | 1, as QEMU's isa-debug-exit does.
            alarm(10)
            while true {
                switch try vcpu.runOnce() {
                case .io(let io) where io.port == 0x3F8 && io.isWrite:
                    putchar(Int32(io.data[0]))
                case .io(let io) where io.port == 0x3FD && !io.isWrite:
                    io.data[0] = 0x20
                case .io(let io) where io.port == 0xF4 && io.isWrite:
                    fflush(nil)
                    exit(Int32(io.data[0]) << 1 | 1)
                case .io, .interrupted:
                    continue
                case let other:
                    fail("the guest stopped: \(other.kind.name)")
                }
            }
        } catch {
            fail("\(error)")
        }
    }
}
