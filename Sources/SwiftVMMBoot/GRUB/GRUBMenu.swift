/// What a `grub.cfg` boots, worked out as GRUB 2 would without any firmware: the top-level
/// commands run (`set`, and the lines that do nothing here such as `insmod`), the menu
/// entries are collected, the default entry is chosen (`set default` by number, title or
/// `--id`; out of range or unmatched means the first entry, as GRUB's `get_entry_number`),
/// and that entry's commands are run into a `GRUBBootEntry`. Anything that needs firmware or
/// another loader (`linux`, `chainloader`, `configfile`, …) or a variable that is not set
/// is an error naming the line.
struct GRUBMenu {
    struct Entry {
        let title: String
        let id: String
        let line: Int
        /// nil for a submenu.
        let body: [GRUBScript.Statement]?
    }

    let entries: [Entry]
    /// The index of the entry GRUB boots with `timeout=0`.
    let defaultIndex: Int
    /// Variables after the top-level commands ran.
    let variables: [String: String]

    /// Commands that GRUB runs but that change nothing when there is no firmware, no
    /// screen and a single disc.
    static let ignoredCommands: Set<String> = [
        "insmod", "search", "search.file", "search.fs_label", "search.fs_uuid", "terminal_input",
        "terminal_output", "terminal", "serial", "echo", "boot", "export", "load_video", "set_gfxmode",
    ]

    init(_ script: GRUBScript) throws(GRUBScriptError) {
        var variables: [String: String] = [:]
        var entries: [Entry] = []
        for statement in script.statements {
            switch statement {
            case .command(let command):
                try Self.run(command, variables: &variables, context: "outside a menu entry")
            case .block(let header, let body):
                let words = try Self.expand(header.words, variables, line: header.line)
                switch words.first {
                case "menuentry", "submenu":
                    let (title, id) = try Self.menuTitle(words, line: header.line)
                    entries.append(Entry(title: title, id: id, line: header.line, body: words.first == "menuentry" ? body : nil))
                case "function":
                    break                                    // defined, not run
                default:
                    throw GRUBScriptError(line: header.line, problem: "\(words.first ?? "{") { … } is not supported")
                }
            }
        }
        guard !entries.isEmpty else { throw GRUBScriptError(line: 1, problem: "no menuentry to boot") }
        self.entries = entries
        self.variables = variables
        defaultIndex = Self.entryNumber(variables["default"], in: entries)
    }

    /// GRUB's `get_entry_number`: a number (strtoul, base 0) if the value starts with one,
    /// else the entry whose title or id equals it; anything else falls back to entry 0.
    static func entryNumber(_ value: String?, in entries: [Entry]) -> Int {
        guard let value else { return 0 }
        let trimmed = value.drop { $0 == " " || $0 == "\t" }
        if let number = leadingNumber(trimmed) { return number < entries.count ? number : 0 }
        return entries.firstIndex { $0.title == value || $0.id == value } ?? 0
    }

    /// strtoul with base 0: "0x1F" hexadecimal, "017" octal, else decimal; digits up to the
    /// first other character. nil if no digit starts the text.
    static func leadingNumber(_ text: Substring) -> Int? {
        var digits = text[...]
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X"), digits.dropFirst(2).first?.isHexDigit == true {
            radix = 16; digits = digits.dropFirst(2)
        } else if digits.hasPrefix("0"), digits.count > 1 {
            radix = 8
        }
        let prefix = digits.prefix { $0.hexDigitValue.map { $0 < radix } ?? false }
        guard !prefix.isEmpty else { return nil }
        return Int(prefix, radix: radix) ?? Int.max
    }

    /// `menuentry TITLE [--class C]… [--users U] [--hotkey K] [--source S] [--id ID]
    /// [--unrestricted]` (options anywhere; `--id=ID` or `--id ID`): the title and the id
    /// (the title when there is no --id).
    static func menuTitle(_ words: [String], line: Int) throws(GRUBScriptError) -> (String, String) {
        var positional: [String] = []
        var id: String?
        var rest = words.dropFirst()[...]
        while let word = rest.popFirst() {
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            switch name {
            case "--class", "--users", "--hotkey", "--source", "--id":
                var value: String?
                if word.contains("=") {
                    value = String(word.drop { $0 != "=" }.dropFirst())
                } else if let next = rest.first, !next.hasPrefix("-") {
                    value = rest.removeFirst()
                }
                if name == "--id" { id = value }
            case "--unrestricted":
                break
            default:
                positional.append(word)
            }
        }
        guard let title = positional.first else {
            throw GRUBScriptError(line: line, problem: "\(words.first!) needs a title")
        }
        return (title, id ?? title)
    }

    /// Runs the default entry's commands.
    func bootEntry() throws(GRUBScriptError) -> GRUBBootEntry {
        let entry = entries[defaultIndex]
        guard let body = entry.body else {
            throw GRUBScriptError(line: entry.line, problem: "the default entry \"\(entry.title)\" is a submenu, which SwiftVMM does not open")
        }
        var variables = self.variables
        var kernel: GRUBBootEntry.Kernel?
        var modules: [GRUBBootEntry.Module] = []
        for statement in body {
            guard case .command(let command) = statement else {
                guard case .block(let header, _) = statement else { continue }
                throw GRUBScriptError(line: header.line, problem: "a block inside menu entry \"\(entry.title)\" is not supported")
            }
            let words = try Self.expand(command.words, variables, line: command.line)
            guard let name = words.first else { continue }
            let arguments = Array(words.dropFirst())
            switch name {
            case "multiboot", "multiboot2":
                var rest = arguments[...]
                if name == "multiboot" {
                    // GRUB's quirks for old kernels; they change where GRUB itself puts things.
                    while let option = rest.first, option.hasPrefix("--quirk-") { rest.removeFirst() }
                }
                guard let path = rest.popFirst() else {
                    throw GRUBScriptError(line: command.line, problem: "\(name) needs a kernel file")
                }
                kernel = GRUBBootEntry.Kernel(path: path, arguments: Array(rest),
                                              bootProtocol: name == "multiboot" ? .multiboot1 : .multiboot2, line: command.line)
            case "module", "module2":
                guard let kernel else {
                    throw GRUBScriptError(line: command.line, problem: "\(name) before the kernel: load the kernel first (multiboot or multiboot2)")
                }
                let expected = kernel.bootProtocol == .multiboot1 ? "module" : "module2"
                guard name == expected else {
                    throw GRUBScriptError(line: command.line, problem: "\(name) with a \(kernel.bootProtocol == .multiboot1 ? "multiboot" : "multiboot2") kernel (use \(expected))")
                }
                var rest = arguments[...]
                let unzip = rest.first != "--nounzip"
                if !unzip { rest.removeFirst() }
                guard let path = rest.popFirst() else {
                    throw GRUBScriptError(line: command.line, problem: "\(name) needs a file")
                }
                modules.append(GRUBBootEntry.Module(path: path, arguments: Array(rest), unzip: unzip, line: command.line))
            default:
                try Self.run(command, words: words, variables: &variables, context: "in menu entry \"\(entry.title)\"")
            }
        }
        guard let kernel else {
            throw GRUBScriptError(line: entry.line, problem: "menu entry \"\(entry.title)\" loads no kernel (no multiboot or multiboot2 line)")
        }
        return GRUBBootEntry(title: entry.title, kernel: kernel, modules: modules)
    }

    /// A command other than a kernel or module line: `set`, or one that does nothing here.
    static func run(_ command: GRUBScript.Command, words: [String]? = nil, variables: inout [String: String],
                    context: String) throws(GRUBScriptError) {
        let words = if let words { words } else { try expand(command.words, variables, line: command.line) }
        guard let name = words.first else { return }
        if name == "set" {
            for assignment in words.dropFirst() {
                guard let equals = assignment.firstIndex(of: "=") else { continue }
                variables[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
            }
            return
        }
        if name == "unset" {
            for variable in words.dropFirst() { variables[variable] = nil }
            return
        }
        if ignoredCommands.contains(name) { return }
        let why = switch name {
        case "linux", "linux16", "linuxefi", "initrd", "initrd16", "initrdefi":
            "SwiftVMM boots multiboot kernels only (Linux's boot protocol is not supported)"
        case "chainloader", "ntldr", "freebsd", "netbsd", "openbsd", "knetbsd", "kopenbsd", "xnu_kernel", "appleloader":
            "SwiftVMM has no firmware to hand another loader or kernel to"
        case "configfile", "source", "normal", "extract_entries_configfile":
            "SwiftVMM reads /boot/grub/grub.cfg only"
        case "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done":
            "GRUB's script conditionals and loops are not supported"
        default:
            "SwiftVMM does not know this GRUB command"
        }
        throw GRUBScriptError(line: command.line, problem: "\(name) (\(context)): \(why)")
    }

    /// Expands variables; an unquoted expansion splits at blanks, as GRUB's argv does.
    /// A variable that is not set is an error (GRUB would expand it to nothing, but a boot
    /// that depends on firmware's variables would then load the wrong thing here).
    static func expand(_ words: [GRUBScript.Word], _ variables: [String: String], line: Int) throws(GRUBScriptError) -> [String] {
        var result: [String] = []
        for word in words {
            var pieces: [String] = [""]
            // A word made only of unquoted expansions that give nothing is no word at all.
            var present = false
            for part in word.parts {
                switch part {
                case .text(let text):
                    pieces[pieces.count - 1] += text
                    present = true
                case .variable(let name, let quoted):
                    guard let value = variables[name] else { throw GRUBScriptError(line: line, problem: "$\(name) is not set (SwiftVMM expands only variables the file sets)") }
                    if quoted {
                        pieces[pieces.count - 1] += value
                        present = true
                    } else {
                        let fields = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
                        guard let first = fields.first else { continue }
                        pieces[pieces.count - 1] += first
                        pieces += fields.dropFirst()
                        present = true
                    }
                }
            }
            if present { result += pieces }
        }
        return result
    }
}

/// What a GRUB menu entry loads.
struct GRUBBootEntry: Equatable {
    struct Kernel: Equatable {
        let path: String
        let arguments: [String]
        let bootProtocol: BootProtocol
        let line: Int
    }

    struct Module: Equatable {
        let path: String
        let arguments: [String]
        /// false with `--nounzip`.
        let unzip: Bool
        let line: Int
    }

    let title: String
    let kernel: Kernel
    let modules: [Module]

    /// GRUB's `grub_create_loader_cmdline` (grub-core/lib/cmdline.c): the arguments joined
    /// by single spaces, `\`, `'` and `"` escaped with a backslash, and an argument holding
    /// a space put in double quotes. The file path itself is not part of it.
    static func commandLine(_ arguments: [String]) -> String {
        arguments.map { argument in
            var escaped = ""
            for character in argument {
                if character == "\\" || character == "'" || character == "\"" { escaped.append("\\") }
                escaped.append(character)
            }
            return argument.contains(" ") ? "\"\(escaped)\"" : escaped
        }.joined(separator: " ")
    }
}
