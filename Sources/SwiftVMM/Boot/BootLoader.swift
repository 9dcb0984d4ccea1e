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

/// Loads a kernel and its modules into guest memory, writes the boot information its
/// protocol defines, and returns the state the boot CPU starts in.
enum BootLoader {
    /// Size of the stack given to a plain ELF64 kernel.
    static let elf64StackSize = 64 * 1024

    static func boot(kernel: KernelImage, as requested: BootProtocol?, commandLine: String,
                     modules: [BootModule], rsdp: [UInt8], memory: GuestMemory) throws(BootError) -> EntryState {
        let loaded = try KernelLoader.load(kernel, as: requested, into: memory)
        // Boot data goes above the part of the kernel in low RAM (32-bit pointers reach it).
        let lowKernelEnd = loaded.ranges.filter { $0.upperBound <= Layout.lowRAMLimit }.map(\.upperBound).max() ?? 0
        var arena = BootDataArena(kernelEnd: lowKernelEnd, memory: memory)
        do {
            var placed: [PlacedModule] = []
            for module in modules {
                let image = try KernelImage(path: module.path)
                let start = try arena.place(image.bytes, for: "module \(module.path)", in: memory)
                placed.append(PlacedModule(start: start, end: start + UInt64(image.bytes.count), string: module.string))
            }
            let info = BootInformation(commandLine: commandLine, modules: placed,
                                       memoryMap: memory.layout.memoryMap, rsdp: rsdp)
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
