/// QEMU's option-value syntax (QemuOpts, `-device driver,key=value,...`): parts separated by
/// commas, a doubled comma standing for a comma inside a part.
enum QEMUOptionList {
    /// The parts of `text`, with `,,` turned into `,`.
    static func split(_ text: String) -> [String] {
        var parts: [String] = [], current = ""
        var characters = Substring(text)
        while let character = characters.popFirst() {
            if character != "," {
                current.append(character)
            } else if characters.first == "," {
                characters.removeFirst()
                current.append(",")
            } else {
                parts.append(current)
                current = ""
            }
        }
        parts.append(current)
        return parts
    }

    /// `key=value` parts as pairs; a part without `=` has the key "" (QEMU's implied
    /// first key, such as the driver name of `-device`).
    static func pairs(_ text: String) -> [(key: String, value: String)] {
        split(text).map { part in
            guard let equals = part.firstIndex(of: "=") else { return ("", part) }
            return (String(part[..<equals]), String(part[part.index(after: equals)...]))
        }
    }
}
