import SwiftVMMSupport
import SwiftVMMMemory
import SwiftVMMPlatform

/// A boot module: a file and the string the kernel sees with it.
public struct BootModule: Equatable, Sendable {
    public var path: String
    public var string: String

    public init(path: String, string: String? = nil) {
        self.path = path
        self.string = string ?? path
    }

    /// `PATH[=STRING]` as on the command line.
    public init(argument: String) {
        if let equals = argument.firstIndex(of: "=") {
            self.init(path: String(argument[..<equals]), string: String(argument[argument.index(after: equals)...]))
        } else {
            self.init(path: argument)
        }
    }
}

/// A module read into memory with the string the kernel sees with it.
struct LoadedModule {
    let image: KernelImage
    let string: String
}

/// Everything a boot needs from files, read before the machine is built (so a missing
/// file is reported before /dev/kvm is opened): from a kernel file and module files, or
/// from a GRUB disc's menu entry (`GRUBDisc`).
package struct BootPayload {
    package let kernel: KernelImage
    /// nil: detect (multiboot 2, then multiboot 1, then ELF64).
    let bootProtocol: BootProtocol?
    let commandLine: String
    let modules: [LoadedModule]
    /// The multiboot boot loader name.
    let loaderName: String

    /// SwiftVMM's own name in the multiboot information, when it is the boot loader.
    static let swiftVMMLoaderName = "SwiftVMM"

    /// A kernel file and module files, as `swiftvmm boot KERNEL --module ...` gives them.
    package static func files(kernel: KernelImage, bootProtocol: BootProtocol?, commandLine: String,
                      modules: [BootModule]) throws(BootError) -> BootPayload {
        BootPayload(kernel: kernel, bootProtocol: bootProtocol, commandLine: commandLine,
                    modules: try modules.map { module throws(BootError) in
                        LoadedModule(image: try KernelImage(path: module.path), string: module.string)
                    },
                    loaderName: swiftVMMLoaderName)
    }
}

/// Loads a kernel and its modules into guest memory, writes the boot information its
/// protocol defines, and returns the state the boot CPU starts in.
package enum BootLoader {
    /// Size of the stack given to a plain ELF64 kernel.
    static let elf64StackSize = 64 * 1024

    static func boot(kernel: KernelImage, as requested: BootProtocol?, commandLine: String,
                     modules: [BootModule], rsdp: [UInt8], memory: GuestMemory) throws(BootError) -> EntryState {
        try boot(.files(kernel: kernel, bootProtocol: requested, commandLine: commandLine, modules: modules),
                 rsdp: rsdp, memory: memory)
    }

    package static func boot(_ payload: BootPayload, rsdp: [UInt8], memory: GuestMemory) throws(BootError) -> EntryState {
        let kernel = payload.kernel
        let loaded = try KernelLoader.load(kernel, as: payload.bootProtocol, into: memory)
        // Boot data goes above the part of the kernel in low RAM (32-bit pointers reach it).
        let lowKernelEnd = loaded.ranges.filter { $0.upperBound <= Layout.lowRAMLimit }.map(\.upperBound).max() ?? 0
        var arena = BootDataArena(kernelEnd: lowKernelEnd, memory: memory)
        do {
            var placed: [PlacedModule] = []
            for module in payload.modules {
                let start = try arena.place(module.image.bytes, for: "module \(module.image.path)", in: memory)
                placed.append(PlacedModule(start: start, end: start + UInt64(module.image.bytes.count), string: module.string))
            }
            let info = BootInformation(commandLine: payload.commandLine, modules: placed,
                                       memoryMap: memory.layout.memoryMap, rsdp: rsdp, loaderName: payload.loaderName)
            var gdt = ByteBuffer()
            for descriptor in EntryState.gdt { gdt.append(descriptor) }
            let gdtBase = try arena.place(gdt.bytes, for: "GDT", in: memory)

            switch loaded.bootProtocol {
            case .multiboot1:
                let mbi = try Multiboot1Info.place(info, arena: &arena, memory: memory)
                return EntryState(mode: .protected32, rip: loaded.entry, rax: UInt64(Multiboot1Info.bootMagic), rbx: mbi, gdtBase: gdtBase)
            case .multiboot2:
                let mbi = try Multiboot2Info.place(info, arena: &arena, memory: memory)
                return EntryState(mode: .protected32, rip: loaded.entry, rax: UInt64(Multiboot2Info.bootMagic), rbx: mbi, gdtBase: gdtBase)
            case .elf64:
                let mbi = try Multiboot2Info.place(info, arena: &arena, memory: memory)
                let tablesAddress = try arena.allocate(6 * 4096, for: "page tables")
                let tables = IdentityPageTables.build(at: tablesAddress)
                do { try memory.write(tables, at: tablesAddress) } catch { throw ImageError("\(error)") }
                let stack = try arena.allocate(elf64StackSize, for: "stack")
                return EntryState(mode: .long64(pageTables: tablesAddress), rip: loaded.entry,
                                  rsp: stack + UInt64(elf64StackSize), rdi: mbi,
                                  rsi: UInt64(Multiboot2Info.bootMagic), gdtBase: gdtBase)
            }
        } catch let error as ImageError {
            throw BootError(file: kernel.path, problem: error.problem)
        } catch let error as BootError {
            throw error
        } catch {
            throw BootError(file: kernel.path, problem: "\(error)")
        }
    }
}
