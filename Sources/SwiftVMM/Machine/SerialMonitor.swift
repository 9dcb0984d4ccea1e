import SwiftVMMSupport
import SwiftVMMDevices

/// Sits between the UART and the configured serial sink: passes every byte on, and keeps
/// the complete lines (the last `lineLimit` of them) for `Machine.expect` and the async
/// serial streams. Subscribers get what arrives after they subscribe; a line subscriber
/// may also start from an earlier line still kept.
final class SerialMonitor: SerialSink {
    static let lineLimit = 10_000

    private struct State {
        var partial: [UInt8] = []
        /// Lines `firstLine ..< firstLine + lines.count`.
        var lines: [String] = []
        var firstLine = 0
        var byteSubscribers: [Int: AsyncStream<UInt8>.Continuation] = [:]
        var lineSubscribers: [Int: AsyncStream<(index: Int, line: String)>.Continuation] = [:]
        var nextToken = 0
        var closed = false
    }

    private let output: any SerialSink
    private let state = AnnotatedMutex(State())

    init(output: any SerialSink) { self.output = output }

    func write(_ byte: UInt8) {
        output.write(byte)
        state.withLock { state in
            for subscriber in state.byteSubscribers.values { subscriber.yield(byte) }
            guard byte == UInt8(ascii: "\n") else {
                state.partial.append(byte)
                return
            }
            if state.partial.last == UInt8(ascii: "\r") { state.partial.removeLast() }
            let line = String(decoding: state.partial, as: UTF8.self)
            state.partial.removeAll(keepingCapacity: true)
            let index = state.firstLine + state.lines.count
            state.lines.append(line)
            if state.lines.count > Self.lineLimit {
                state.lines.removeFirst(state.lines.count - Self.lineLimit)
                state.firstLine = index + 1 - Self.lineLimit
            }
            for subscriber in state.lineSubscribers.values { subscriber.yield((index, line)) }
        }
    }

    /// Ends every stream: the machine has stopped.
    func close() {
        // Finished outside the lock: finishing runs `onTermination`, which takes it.
        let (bytes, lines) = state.withLock { state in
            state.closed = true
            defer { (state.byteSubscribers, state.lineSubscribers) = ([:], [:]) }
            return (Array(state.byteSubscribers.values), Array(state.lineSubscribers.values))
        }
        for subscriber in bytes { subscriber.finish() }
        for subscriber in lines { subscriber.finish() }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Every complete line still kept.
    var lines: [String] { state.withLock { $0.lines } }

    func bytes() -> AsyncStream<UInt8> {
        let (stream, continuation) = AsyncStream.makeStream(of: UInt8.self)
        subscribe(continuation, \.byteSubscribers)
        return stream
    }

    /// Lines numbered from the start of the run, beginning with line `first` if still
    /// kept; finishing the continuation ends the subscription early.
    func lines(from first: Int = .max) -> (stream: AsyncStream<(index: Int, line: String)>,
                                           subscription: AsyncStream<(index: Int, line: String)>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: (index: Int, line: String).self)
        subscribe(continuation, \.lineSubscribers) { state in
            // Under the same lock as the subscription, so no line is missed or repeated.
            let start = max(first, state.firstLine) - state.firstLine
            for (offset, line) in state.lines.enumerated().dropFirst(start) {
                continuation.yield((state.firstLine + offset, line))
            }
        }
        return (stream, continuation)
    }

    private func subscribe<Element>(_ continuation: AsyncStream<Element>.Continuation,
                                    _ list: WritableKeyPath<State, [Int: AsyncStream<Element>.Continuation]>,
                                    backlog: (inout State) -> Void = { _ in }) {
        let token: Int? = state.withLock { state in
            backlog(&state)
            guard !state.closed else { return nil }
            state.nextToken += 1
            state[keyPath: list][state.nextToken] = continuation
            return state.nextToken
        }
        guard let token else { return continuation.finish() }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { state in
                // Tokens are unique across both lists.
                state.byteSubscribers[token] = nil
                state.lineSubscribers[token] = nil
            }
        }
    }
}
