import ArgumentParser

/// A command line parsed without swift-argument-parser's reflection, for the commands a
/// test harness runs thousands of times (`boot`, `restore`).
///
/// ArgumentParser builds a command's model by reflecting over its property wrappers with
/// `Mirror`, and does it more than once per run: 20.9 M of the 21.4 M instructions swiftvmm
/// ran before it could open /dev/kvm (BENCHMARKS.md, "Start-up"). Even creating the
/// wrappers costs 1.4 M: each `Option<T>` type is looked up by its mangled name, which
/// scans every protocol conformance in the binary. No library parses without that model,
/// so this is our own code, kept as narrow as it can be, and it fills a plain `Request`
/// value without creating a single wrapper:
/// - It only accepts what it fully understands: the command, one positional argument, and
///   long options from `options` as `--name VALUE`, `--name=VALUE` or `--flag`. Anything
///   else (`--help`, a short option, `--`, a value that starts with `-`, an option given
///   twice, a value its type rejects) returns nil, and ArgumentParser parses the command
///   line instead. Help, completion scripts and every error message stay ArgumentParser's.
/// - Values go through the same `init(argument:)` ArgumentParser calls.
/// - `BootFastPathTests` and `RestoreFastPathTests` hold it to ArgumentParser: every option
///   of the command's help is in the table, and both parsers give the same request, field
///   for field, defaults included.
struct FastPath<Request> {
    /// One long option: how it takes its value, and where the value goes.
    struct Option: Sendable {
        enum Arity { case flag, single, repeating }
        let name: String
        let arity: Arity
        /// Options that set the same property (`--nested` and `--no-nested`) share a key.
        let key: String
        /// Stores one value (`""` for a flag); false when the value does not parse.
        let store: @Sendable (inout Request, String) -> Bool

        /// An option that takes a value: at most once (`.single`), or each time it is given
        /// (`.repeating`).
        static func value<T: ExpressibleByArgument>(_ name: String, _: T.Type, _ arity: Arity = .single,
                                                    _ set: @escaping @Sendable (inout Request, T) -> Void) -> Self {
            Self(name: name, arity: arity, key: name) { request, text in
                guard let value = T(argument: text) else { return false }
                set(&request, value)
                return true
            }
        }

        /// A flag; flags that set the same property share a `key`.
        static func flag(_ name: String, key: String? = nil, _ set: @escaping @Sendable (inout Request) -> Void) -> Self {
            Self(name: name, arity: .flag, key: key ?? name) { request, _ in
                set(&request)
                return true
            }
        }
    }

    let command: String
    /// The request before any argument, and where the positional argument goes (a closure,
    /// not a key path: building a `WritableKeyPath` at run time costs 44 K instructions).
    let initial: Request
    let storePositional: (inout Request, String) -> Void
    let options: [Option]

    /// The parsed command, or nil to leave the command line to ArgumentParser.
    func parse(_ arguments: [String]) -> Request? {
        guard arguments.first == command else { return nil }
        var request = initial
        var positionalValue: String?
        var seen: [String] = []   // keys given; an array for the reason `options` is searched
        var index = 1
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            guard word.hasPrefix("--") else {
                guard positionalValue == nil, !word.hasPrefix("-") else { return nil }
                positionalValue = word
                continue
            }
            let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            // A search of a few dozen names, not a dictionary: the first Dictionary<String, …>
            // makes the runtime look up String's Hashable conformance by scanning every
            // conformance in the binary, 0.25 M instructions, more than the rest of the parse.
            guard let option = options.first(where: { $0.name == parts[0] }) else { return nil }
            guard option.arity == .repeating || !seen.contains(option.key) else { return nil }
            seen.append(option.key)
            var value = ""
            if option.arity != .flag {
                if parts.count == 2 {
                    // ArgumentParser reads `--name=` as a missing value.
                    guard !parts[1].isEmpty else { return nil }
                    value = String(parts[1])
                } else if index < arguments.count, !arguments[index].hasPrefix("-") {
                    value = arguments[index]
                    index += 1
                } else {
                    return nil
                }
            } else if parts.count == 2 {
                return nil
            }
            guard option.store(&request, value) else { return nil }
        }
        guard let positionalValue else { return nil }
        storePositional(&request, positionalValue)
        return request
    }
}
