/// A `grub.cfg` read into statements, the way GRUB 2's script lexer splits it (GRUB manual
/// §6.3 "Shell-like scripting"): words separated by blanks, `;` or a newline ending a
/// command, `#` starting a comment at the start of a word, `\` escaping one character (a
/// newline: a continuation), '…' taking everything literally, "…" expanding `$NAME` and
/// `${NAME}` and honouring `\` before `$ " \` and a newline. A command whose last word is
/// `{` opens a block (menuentry, submenu, function) that the matching `}` closes.
/// Variables are expanded when a command runs, not when it is read.
struct GRUBScript {
    /// A piece of a word: literal text or a variable reference; `quoted` says whether it
    /// stood inside double quotes (an unquoted expansion is split into words at blanks).
    enum Part: Equatable {
        case text(String)
        case variable(String, quoted: Bool)
    }

    struct Word: Equatable {
        var parts: [Part] = []
        /// The word as written with no variables in it, if it has none.
        var literal: String? {
            var text = ""
            for part in parts {
                guard case .text(let piece) = part else { return nil }
                text += piece
            }
            return text
        }
    }

    struct Command: Equatable {
        /// 1-based line where the command starts.
        let line: Int
        let words: [Word]
    }

    indirect enum Statement: Equatable {
        case command(Command)
        /// `header {` … `}`; the header is the command without its `{`.
        case block(header: Command, body: [Statement])
    }

    let statements: [Statement]

    /// The largest file read: real menus are a few KiB.
    static let maximumLength = 1 << 20
    /// The deepest nesting of blocks.
    static let maximumNesting = 16

    init(_ text: String) throws(GRUBScriptError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw GRUBScriptError(line: 1, problem: "the file is \(text.utf8.count) bytes; at most \(Self.maximumLength) are read")
        }
        var lexer = Lexer(Array(text.unicodeScalars))
        var stack: [(header: Command, body: [Statement])] = []
        var top: [Statement] = []
        while let command = try lexer.nextCommand() {
            let last = command.words.last?.literal
            if last == "{" && lexer.lastWordWasBare {
                guard stack.count < Self.maximumNesting else {
                    throw GRUBScriptError(line: command.line, problem: "blocks nested more than \(Self.maximumNesting) deep")
                }
                stack.append((Command(line: command.line, words: Array(command.words.dropLast())), []))
            } else if command.words.count == 1, last == "}", lexer.lastWordWasBare {
                guard let block = stack.popLast() else {
                    throw GRUBScriptError(line: command.line, problem: "} without a block to close")
                }
                let statement = Statement.block(header: block.header, body: block.body)
                if stack.isEmpty { top.append(statement) } else { stack[stack.count - 1].body.append(statement) }
            } else if stack.isEmpty {
                top.append(.command(command))
            } else {
                stack[stack.count - 1].body.append(.command(command))
            }
        }
        if let open = stack.last {
            throw GRUBScriptError(line: open.header.line, problem: "this block's { is never closed with }")
        }
        statements = top
    }

    /// Splits the text into commands.
    private struct Lexer {
        let scalars: [Unicode.Scalar]
        var position = 0
        var line = 1
        /// Whether the last word of the last command was a single unquoted token (so a
        /// quoted "{" is a word, not a block).
        var lastWordWasBare = false

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        var current: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

        static func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" }
        static func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_"
        }

        /// The next non-empty command, or nil at the end of the text.
        mutating func nextCommand() throws(GRUBScriptError) -> Command? {
            while current != nil {
                var words: [Word] = []
                var start = line
                lastWordWasBare = false
                commandLoop: while let c = current {
                    if Self.isBlank(c) { position += 1; continue }
                    if c == "\n" { position += 1; line += 1; break commandLoop }
                    if c == ";" { position += 1; break commandLoop }
                    if c == "#" {
                        while let c = current, c != "\n" { position += 1 }
                        continue
                    }
                    if c == "\\", position + 1 < scalars.count, scalars[position + 1] == "\n" {
                        position += 2; line += 1
                        continue
                    }
                    if words.isEmpty { start = line }
                    let wordStart = (position, line)
                    let (word, bare) = try readWord()
                    // `{` and `}` are tokens of their own: `menuentry x { multiboot /k }`
                    // on one line is a block header, a command and the close.
                    if bare, word.literal == "}", !words.isEmpty {
                        (position, line) = wordStart
                        break commandLoop
                    }
                    words.append(word)
                    lastWordWasBare = bare
                    if bare, word.literal == "{" || word.literal == "}" { break commandLoop }
                }
                if !words.isEmpty { return Command(line: start, words: words) }
            }
            return nil
        }

        /// One word; `bare` is true when it was a single unquoted, unescaped token.
        mutating func readWord() throws(GRUBScriptError) -> (Word, Bool) {
            var word = Word()
            var text = ""
            var bare = true
            func flush() {
                if !text.isEmpty { word.parts.append(.text(text)); text = "" }
            }
            while let c = current, !Self.isBlank(c), c != "\n", c != ";" {
                switch c {
                case "\\":
                    bare = false
                    position += 1
                    guard let next = current else { break }
                    position += 1
                    if next == "\n" { line += 1 } else { text.unicodeScalars.append(next) }
                case "'":
                    bare = false
                    let open = line
                    position += 1
                    while let c = current, c != "'" {
                        if c == "\n" { line += 1 }
                        text.unicodeScalars.append(c)
                        position += 1
                    }
                    guard current == "'" else { throw GRUBScriptError(line: open, problem: "a ' quote is never closed") }
                    position += 1
                case "\"":
                    bare = false
                    let open = line
                    position += 1
                    while let c = current, c != "\"" {
                        if c == "\\", position + 1 < scalars.count, ["$", "\"", "\\", "\n"].contains(scalars[position + 1]) {
                            let next = scalars[position + 1]
                            position += 2
                            if next == "\n" { line += 1 } else { text.unicodeScalars.append(next) }
                        } else if c == "$", let name = try readVariable() {
                            flush()
                            word.parts.append(.variable(name, quoted: true))
                        } else {
                            if c == "\n" { line += 1 }
                            text.unicodeScalars.append(c)
                            position += 1
                        }
                    }
                    guard current == "\"" else { throw GRUBScriptError(line: open, problem: "a \" quote is never closed") }
                    position += 1
                case "$":
                    if let name = try readVariable() {
                        bare = false
                        flush()
                        word.parts.append(.variable(name, quoted: false))
                    } else {
                        text.unicodeScalars.append(c)
                        position += 1
                    }
                default:
                    text.unicodeScalars.append(c)
                    position += 1
                }
            }
            flush()
            if word.parts.isEmpty { word.parts.append(.text("")) }
            return (word, bare)
        }

        /// At a `$`: reads `$NAME`, `${NAME}` (also `$1`, `$?`, `$#`, `$*`, `$@`), or returns
        /// nil (and consumes nothing) when no name follows, so the `$` is literal.
        mutating func readVariable() throws(GRUBScriptError) -> String? {
            var index = position + 1
            guard index < scalars.count else { return nil }
            if scalars[index] == "{" {
                index += 1
                var name = ""
                while index < scalars.count, scalars[index] != "}", scalars[index] != "\n" {
                    name.unicodeScalars.append(scalars[index])
                    index += 1
                }
                guard index < scalars.count, scalars[index] == "}", !name.isEmpty else {
                    throw GRUBScriptError(line: line, problem: "${ without a closing }")
                }
                position = index + 1
                return name
            }
            if ["?", "#", "*", "@"].contains(scalars[index]) {
                position = index + 1
                return String(scalars[index])
            }
            var name = ""
            while index < scalars.count, Self.isNameCharacter(scalars[index]) {
                name.unicodeScalars.append(scalars[index])
                index += 1
            }
            guard !name.isEmpty else { return nil }
            position = index
            return name
        }
    }
}

/// A `grub.cfg` that cannot be read, with the line.
struct GRUBScriptError: Error, Equatable {
    let line: Int
    let problem: String
}
