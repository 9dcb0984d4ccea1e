import Foundation
import Testing
import TestGuests
@testable import SwiftVMM

/// Examples/MinimalVMM, the one-page VMM on the KVM layer alone, boots the hello guest to
/// its debug-exit and refuses what it cannot boot with status 2.
@Suite(.enabled(if: KVMHost.available, "\(KVMHost.unavailableReason ?? "")"))
struct MinimalVMMTests {
    static let executable = swiftvmmExecutable.deletingLastPathComponent().appending(path: "MinimalVMM")

    @Test func bootsHelloToItsDebugExit() throws {
        let kernel = try temporaryFile(helloGuest, name: "minimal-hello.elf")
        let result = try swiftvmm([kernel], executable: Self.executable)
        #expect(result.stdout == "Hello, world!\n")
        #expect(result.status == 1, "debug-exit 0 is status 1: \(result.stderr)")
    }

    @Test func refusesATruncatedKernel() throws {
        let kernel = try temporaryFile(Array(helloGuest.prefix(100)), name: "minimal-truncated.elf")
        let result = try swiftvmm([kernel], executable: Self.executable)
        #expect(result.status == 2)
        #expect(result.stderr == "MinimalVMM: truncated ELF file\n")
    }
}
