import Testing
@testable import SwiftVMM
@testable import SwiftVMMBoot

/// grub.cfg read and run as GRUB 2.06 does (grub-core/script, normal/menu.c,
/// loader/multiboot.c, lib/cmdline.c), without a disc.
struct GRUBMenuTests {
    func entry(_ text: String) throws -> GRUBBootEntry { try GRUBMenu(GRUBScript(text)).bootEntry() }

    func error(_ text: String) -> GRUBScriptError? {
        do { _ = try entry(text); return nil } catch let error as GRUBScriptError { return error } catch { return nil }
    }

    @Test func composite() throws {
        let boot = try entry("""
            set timeout=0
            set default=0
            menuentry "composite" {
              multiboot2 /boot/cos.img
            }
            """)
        #expect(boot == GRUBBootEntry(title: "composite",
                                      kernel: .init(path: "/boot/cos.img", arguments: [], bootProtocol: .multiboot2, line: 4),
                                      modules: []))
    }

    @Test func quotingAndExpansion() throws {
        let boot = try entry(#"""
            # a comment; with a semicolon
            set dir=/boot ; set opts='a  b'
            set greeting="say \"hi\" \$HOME"
            menuentry 'one' --class os --id=first {
                multiboot $dir/k.elf "$opts" $opts x\ y 'it''s' "$greeting" a#b \
                    continued
                module ${dir}/m.bin --flag "quoted arg"
            }
            """#)
        #expect(boot.kernel.path == "/boot/k.elf")
        #expect(boot.kernel.bootProtocol == .multiboot1)
        #expect(boot.kernel.arguments == ["a  b", "a", "b", "x y", "its", #"say "hi" $HOME"#, "a#b", "continued"])
        #expect(boot.modules == [.init(path: "/boot/m.bin", arguments: ["--flag", "quoted arg"], unzip: true, line: 7)])
        #expect(boot.kernel.line == 5)
    }

    /// lib/cmdline.c: `\ ' "` escaped, an argument with a space in double quotes, single
    /// spaces between, none at the end; the path is not part of it.
    @Test func loaderCommandLine() {
        #expect(GRUBBootEntry.commandLine([]) == "")
        #expect(GRUBBootEntry.commandLine(["console=ttyS0", "two words", "it's", #"back\slash"#, #"q"uote"#])
                == #"console=ttyS0 "two words" it\'s back\\slash q\"uote"#)
        #expect(GRUBBootEntry.commandLine(["tab\there"]) == "tab\there")
    }

    @Test func defaultEntry() throws {
        let menu = """
            menuentry "zero" { multiboot /k0 }
            menuentry "one" --id second { multiboot /k1 }
            menuentry "two" { multiboot /k2 }
            """
        for (value, path) in [("1", "/k1"), ("2", "/k2"), ("0x2", "/k2"), ("1abc", "/k1"), ("two", "/k2"),
                              ("second", "/k1"), ("one", "/k1"), ("7", "/k0"), ("nothing", "/k0"), ("TWO", "/k0"), (" 2", "/k2")] {
            #expect(try entry("set default=\"\(value)\"\n" + menu).kernel.path == path, "default=\(value)")
        }
        #expect(try entry(menu).kernel.path == "/k0")
        #expect(try entry("set default=2\nunset default\n" + menu).kernel.path == "/k0")
    }

    @Test func modulesNeedTheirKernel() throws {
        #expect(try entry("menuentry x { multiboot2 /k\n module2 --nounzip /m.gz a b }").modules
                == [.init(path: "/m.gz", arguments: ["a", "b"], unzip: false, line: 2)])
        #expect(try entry("menuentry x { multiboot --quirk-bad-kludge /k arg }").kernel.arguments == ["arg"])
        #expect(error("menuentry x {\n module2 /m\n multiboot2 /k\n}")?.line == 2)
        #expect(error("menuentry x {\n multiboot2 /k\n module /m\n}")?.problem == "module with a multiboot2 kernel (use module2)")
        #expect(error("menuentry x {\n multiboot /k\n module2 /m\n}")?.problem == "module2 with a multiboot kernel (use module)")
        #expect(error("menuentry x {\n insmod multiboot2\n}")?.problem == #"menu entry "x" loads no kernel (no multiboot or multiboot2 line)"#)
    }

    @Test func refusals() {
        #expect(error("menuentry x {\n linux /vmlinuz\n}") == GRUBScriptError(line: 2, problem:
            #"linux (in menu entry "x"): SwiftVMM boots multiboot kernels only (Linux's boot protocol is not supported)"#))
        #expect(error("menuentry x {\n chainloader +1\n}")?.line == 2)
        #expect(error("configfile /other.cfg\nmenuentry x { multiboot /k }")?.problem.hasPrefix("configfile (outside a menu entry)") == true)
        #expect(error("menuentry x {\n multiboot2 $kernel\n}") == GRUBScriptError(line: 2, problem:
            "$kernel is not set (SwiftVMM expands only variables the file sets)"))
        #expect(error("set timeout=0") == GRUBScriptError(line: 1, problem: "no menuentry to boot"))
        #expect(error("menuentry x {\n multiboot2 /k\n") == GRUBScriptError(line: 1, problem: "this block's { is never closed with }"))
        #expect(error("}\n") == GRUBScriptError(line: 1, problem: "} without a block to close"))
        #expect(error("menuentry 'x {\n multiboot2 /k\n}") == GRUBScriptError(line: 1, problem: "a ' quote is never closed"))
        #expect(error("if true; then\n echo\nfi\nmenuentry x { multiboot /k }")?.line == 1)
        #expect(error("submenu s {\n menuentry x { multiboot /k }\n}")?.problem == #"the default entry "s" is a submenu, which SwiftVMM does not open"#)
        #expect(error("menuentry --class os { multiboot /k }")?.problem == "menuentry needs a title")
        #expect(error("menuentry x { multiboot2 }")?.problem == "multiboot2 needs a kernel file")
    }

    /// GRUB's argv: an unquoted expansion of nothing is no argument; a quoted one is "".
    @Test func emptyExpansions() throws {
        #expect(try entry("set none=\nmenuentry x { multiboot /k a $none \"$none\" b }").kernel.arguments == ["a", "", "b"])
    }

    /// A quoted "{" is a word, not a block.
    @Test func quotedBraceIsAWord() throws {
        #expect(try entry("menuentry x {\n multiboot /k '{' \"}\"\n}").kernel.arguments == ["{", "}"])
    }

    @Test func oversizedAndDeepInputsAreRefused() {
        #expect(error(String(repeating: "#", count: GRUBScript.maximumLength + 1))?.problem.hasPrefix("the file is") == true)
        let deep = String(repeating: "function f {\n", count: 17) + String(repeating: "}\n", count: 17)
        #expect(error(deep)?.problem == "blocks nested more than 16 deep")
    }
}
