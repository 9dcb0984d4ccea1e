import SwiftVMM
import Testing

@Test func helloKernelGreetsAndExits() async throws {
    let kernel = #filePath.replacing(/Tests\/KernelTests\/.*/, with: "kernel/hello.elf")
    let machine = try Machine(.init(kernel: .file(kernel), cpus: 2, serialOutput: NullSink(), timeout: .seconds(30)))
    async let outcome = machine.run()
    try await machine.expect(/Hello, world!/, within: .seconds(10))
    #expect(await outcome == .debugExit(0))
}
