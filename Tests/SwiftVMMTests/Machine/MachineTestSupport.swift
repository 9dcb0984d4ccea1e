import Foundation
import Testing
@testable import SwiftVMM

/// Whether this host can run guests; integration tests are skipped (with this reason
/// shown) where it cannot.
enum KVMHost {
    static let unavailableReason: String? = {
        do { _ = try KVM(); return nil } catch { return "needs /dev/kvm: \(error)" }
    }()
    static var available: Bool { unavailableReason == nil }
}

/// A serial sink that keeps every byte, for checking exact output.
final class CollectingSink: SerialSink {
    private let bytes = AnnotatedMutex<[UInt8]>([])
    func write(_ byte: UInt8) { bytes.withLock { $0.append(byte) } }
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

/// Boots an embedded guest through the library and returns how it ended and what it printed.
func boot(_ guest: [UInt8], name: String = "guest", cpus: Int = 1, commandLine: String = "",
          modules: [BootModule] = [], memory: UInt64 = 256 << 20, timeout: Duration = .seconds(20)) throws -> (outcome: Outcome, output: String) {
    let sink = CollectingSink()
    let machine = try Machine(Machine.Configuration(
        kernel: .image(name: name, bytes: guest), commandLine: commandLine, modules: modules, cpus: cpus,
        memorySize: memory, serialOutput: sink, timeout: timeout))
    let outcome = machine.run()
    return (outcome, sink.text)
}

/// This test process's scratch directory (`swiftvmm-tests-PID` in the temporary
/// directory), removed when the process exits, so test runs leave no files behind.
let testScratch: URL = {
    let directory = FileManager.default.temporaryDirectory.appending(path: "swiftvmm-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    atexit {
        try? FileManager.default.removeItem(at: FileManager.default.temporaryDirectory.appending(path: "swiftvmm-tests-\(getpid())"))
    }
    return directory
}()

/// A temporary file holding `bytes`, removed when the test process exits.
func temporaryFile(_ bytes: [UInt8], name: String) throws -> String {
    let url = testScratch.appending(path: name)
    try Data(bytes).write(to: url)
    return url.path
}

/// The `swiftvmm` executable built beside this test bundle.
let swiftvmmExecutable: URL = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = bundle.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appending(path: "swiftvmm").path), directory.path != "/" {
        directory = directory.deletingLastPathComponent()
    }
    return directory.appending(path: "swiftvmm")
}()

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `swiftvmm` (or `executable`) with `arguments`, stdin from /dev/null. With `signal`,
/// it is sent once `signalAfter` has appeared on standard output (by default the spin guest's
/// line: the machine is running and the handlers are installed), or on standard error with
/// `signalAfterStderr`: an event, whatever the host's speed.
func swiftvmm(_ arguments: [String], signal: Int32? = nil, signalAfter: String = "spinning\n",
              signalAfterStderr: Bool = false, executable: URL = swiftvmmExecutable) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let stdout = Pipe(), stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    var out = Data(), err = Data()
    if let signal {
        let marker = Data(signalAfter.utf8)
        let watched = signalAfterStderr ? stderr : stdout
        var seen = Data()
        while seen.range(of: marker) == nil {
            let chunk = watched.fileHandleForReading.availableData   // waits for output or EOF
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        kill(process.processIdentifier, signal)
        if signalAfterStderr { err = seen } else { out = seen }
    }
    out.append(stdout.fileHandleForReading.readDataToEndOfFile())
    err.append(stderr.fileHandleForReading.readDataToEndOfFile())
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
}

/// llvm-objcopy beside the toolchain's clang, if any.
let llvmObjcopy: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "")
    .split(separator: ":").map { "\($0)/llvm-objcopy" }
    .first { FileManager.default.isExecutableFile(atPath: $0) }

/// `guest` as an ELF32 file (`llvm-objcopy -O elf32-i386`), the container QEMU's -kernel
/// wants for multiboot 1 kernels. Needs `llvmObjcopy`.
func elf32File(_ guest: [UInt8], name: String) throws -> String {
    let elf64 = try temporaryFile(guest, name: "\(name)-64.elf")
    let elf32 = elf64.replacingOccurrences(of: "-64.elf", with: "-32.elf")
    let convert = Process()
    convert.executableURL = URL(fileURLWithPath: llvmObjcopy!)
    convert.arguments = ["-O", "elf32-i386", elf64, elf32]
    try convert.run()
    convert.waitUntilExit()
    #expect(convert.terminationStatus == 0, "llvm-objcopy \(name)")
    return elf32
}
