import SwiftVMMDevices
import SwiftVMMSupport
import SwiftVMMMemory
import SwiftVMMPlatform

/// `--vga-text`: copies the 80×25 VGA text page out of guest RAM every `interval` and
/// writes the rows that changed (see `VGATextPage.changedLines`) to a sink, one line each;
/// a last look when the run ends catches what the guest wrote just before it stopped.
/// Polling costs one 4000-byte copy per interval and nothing on the vCPUs' path; guest
/// stores to 0xB8000 are ordinary RAM writes that never exit.
final class VGATextMirror: @unchecked Sendable {
    static let interval: UInt64 = 30_000_000      // 30 ms

    private let memory: GuestMemory
    private let sink: any SerialSink
    private let lock = ConditionLock()
    private var stopping = false                    // guarded by `lock`
    /// The page as last printed; touched only by the polling thread, then by `stop()`
    /// after that thread is joined.
    private var shown = VGATextPage.blank
    private var thread: HostThread?

    init(memory: GuestMemory, sink: any SerialSink) {
        self.memory = memory
        self.sink = sink
    }

    func start() throws(HostError) {
        thread = try HostThread(name: "vga-text") { [self] in poll() }
    }

    /// Stops polling and prints the last changes.
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        thread?.join()
        thread = nil
        update()
    }

    private func poll() {
        while true {
            let stop = lock.withLock {
                let deadline = monotonicNanoseconds() + Self.interval
                while !stopping, lock.wait(untilNanoseconds: deadline) {}
                return stopping
            }
            if stop { return }
            update()
        }
    }

    private func update() {
        guard let bytes = try? memory.read(at: Layout.vgaTextPage, count: VGATextPage.byteCount) else { return }
        let page = VGATextPage(bytes: bytes)
        for line in page.changedLines(since: shown) {
            for byte in line.utf8 { sink.write(byte) }
            sink.write(UInt8(ascii: "\n"))
        }
        shown = page
    }
}
