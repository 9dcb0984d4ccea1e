#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SwiftVMM

/// The kick and alarm signals get a handler that does nothing only where the embedding
/// process has none: its own handler is kept, SIG_DFL and SIG_IGN are replaced. Tried on
/// SIGUSR2, which nothing in SwiftVMM or its tests uses, and restored after.
@Suite(.serialized)
struct KickSignalTests {
    static let processHandler: @convention(c) (Int32) -> Void = { _ in }

    /// The address of `signal`'s handler: 0 for SIG_DFL, 1 for SIG_IGN.
    func handlerAddress(_ signal: Int32) -> Int {
        var current = sigaction()
        sigaction(signal, nil, &current)
        // SAFETY: reads the handler's address only, never calls it.
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
    }

    /// Sets `signal`'s handler, runs `body`, and puts the old one back.
    func with(_ signal: Int32, handler: __sighandler_t?, _ body: () -> Void) {
        var action = sigaction(), previous = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, &previous)
        body()
        sigaction(signal, &previous, nil)
    }

    @Test func aHandlerOfTheProcessIsKept() {
        with(SIGUSR2, handler: Self.processHandler) {
            KickSignal.installQuietHandler(for: SIGUSR2)
            #expect(handlerAddress(SIGUSR2) == unsafeBitCast(Self.processHandler, to: Int.self))
        }
    }

    @Test(arguments: [0, 1])
    func defaultAndIgnoredAreReplaced(_ disposition: Int) {
        // SAFETY: SIG_DFL and SIG_IGN are the handler values 0 and 1; never called.
        let handler = unsafeBitCast(disposition, to: __sighandler_t?.self)
        with(SIGUSR2, handler: handler) {
            #expect(handlerAddress(SIGUSR2) == disposition)
            KickSignal.installQuietHandler(for: SIGUSR2)
            #expect(handlerAddress(SIGUSR2) > 1, "a handler that does nothing")
        }
    }
}
