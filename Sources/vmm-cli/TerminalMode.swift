#if canImport(Glibc)
import Glibc
#endif

/// Puts an interactive terminal on stdin into non-canonical, no-echo mode so the guest
/// sees keys as they are typed, keeping ISIG so Ctrl-C still stops the VM; `restore()`
/// puts the saved settings back.
final class TerminalMode {
    private var saved: termios

    private init(saved: termios) { self.saved = saved }

    /// nil when stdin is not a terminal.
    static func rawInput() -> TerminalMode? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        var settings = termios()
        guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return nil }
        let mode = TerminalMode(saved: settings)
        settings.c_lflag &= ~tcflag_t(ICANON | ECHO)
        // SAFETY: c_cc is a tuple of NCCS (32) cc_t bytes in the local `settings`; VMIN (6) and
        // VTIME (5) index inside it, and the pointer does not escape the closure.
        withUnsafeMutableBytes(of: &settings.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(STDIN_FILENO, TCSANOW, &settings)
        return mode
    }

    func restore() { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
}
