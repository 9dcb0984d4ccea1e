#if canImport(Glibc)
import Glibc
#endif

/// A GRUB rescue disc (`grub-mkrescue`) booted the way GRUB itself would boot it, without
/// GRUB or any firmware: the ISO 9660 file system is read, `/boot/grub/grub.cfg`'s default
/// entry is worked out (`GRUBMenu`), and its multiboot kernel and modules are read from the
/// disc with the strings GRUB 2 gives them (`grub-core/loader/multiboot.c`: the arguments
/// after the file name, never the name itself). gzip files are unpacked as GRUB's gzio
/// does, modules unless `--nounzip`; other compressed formats are refused.
package enum GRUBDisc {
    static let configPath = "/boot/grub/grub.cfg"
    /// GRUB's boot loader name (`PACKAGE_STRING`), as Debian 12's GRUB gives it.
    static let loaderName = "GRUB 2.06-13+deb12u2"

    /// Whether the file at `path` is an ISO 9660 image. Only a regular file is opened (a
    /// FIFO would block the open); anything else is left to the kernel loader to refuse.
    package static func isDisc(path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
              let source = try? FileImageSource(path: path) else { return false }
        return ISO9660Volume.holdsVolume(source)
    }

    /// Reads the disc at `path` and what its default menu entry boots. `limit` bounds each
    /// file read (the guest's RAM).
    package static func payload(path: String, limit: UInt64) throws(BootError) -> BootPayload {
        try payload(source: FileImageSource(path: path), name: path, limit: limit)
    }

    static func payload(source: some ImageSource, name: String, limit: UInt64) throws(BootError) -> BootPayload {
        let volume: ISO9660Volume
        let configBytes: [UInt8]
        do throws(ImageError) {
            volume = try ISO9660Volume(source)
            guard let record = try volume.lookup(configPath), !record.isDirectory else {
                throw ImageError("no \(configPath) on this disc: SwiftVMM boots GRUB discs (grub-mkrescue) by reading that file")
            }
            configBytes = try volume.contents(of: record, path: configPath, limit: UInt64(GRUBScript.maximumLength))
        } catch {
            throw BootError(file: name, problem: error.problem)
        }
        let entry: GRUBBootEntry
        do throws(GRUBScriptError) {
            let text = String(decoding: configBytes, as: UTF8.self)
            entry = try GRUBMenu(GRUBScript(text)).bootEntry()
        } catch {
            throw BootError(file: "\(name):\(configPath)", problem: "line \(error.line): \(error.problem)")
        }
        func read(_ path: String, line: Int, unzip: Bool, module: Bool) throws(BootError) -> KernelImage {
            do throws(ImageError) {
                let discPath = try discPath(path)
                guard let record = try volume.lookup(discPath) else { throw ImageError("\(discPath) is not on the disc") }
                var bytes = try volume.contents(of: record, path: discPath, limit: limit)
                if unzip {
                    if Gzip.isCompressed(bytes) {
                        bytes = try Gzip.decompress(bytes, limit: Int(clamping: limit))
                    } else if let format = otherCompression(bytes) {
                        throw ImageError("\(discPath) is \(format)-compressed; SwiftVMM unpacks gzip only (store it uncompressed or gzip it\(module ? ", or load it with --nounzip" : ""))")
                    }
                }
                return KernelImage(path: "\(name):\(discPath)", bytes: bytes)
            } catch {
                throw BootError(file: "\(name):\(configPath)", problem: "line \(line): \(error.problem)")
            }
        }
        let kernel = try read(entry.kernel.path, line: entry.kernel.line, unzip: true, module: false)
        let modules = try entry.modules.map { module throws(BootError) in
            LoadedModule(image: try read(module.path, line: module.line, unzip: module.unzip, module: true),
                         string: GRUBBootEntry.commandLine(module.arguments))
        }
        return BootPayload(kernel: kernel, bootProtocol: entry.kernel.bootProtocol,
                           commandLine: GRUBBootEntry.commandLine(entry.kernel.arguments),
                           modules: modules, loaderName: loaderName)
    }

    /// A path in grub.cfg as a path on the disc: a device prefix ("(cd)", "($root)") names
    /// this disc, the only one there is; the rest must be absolute.
    static func discPath(_ path: String) throws(ImageError) -> String {
        var rest = Substring(path)
        if rest.hasPrefix("(") {
            guard let close = rest.firstIndex(of: ")") else { throw ImageError("\(path): unclosed ( in the device name") }
            rest = rest[rest.index(after: close)...]
        }
        guard rest.hasPrefix("/") else { throw ImageError("\(path): GRUB needs an absolute path such as /boot/kernel") }
        return String(rest)
    }

    /// The compressed formats GRUB would unpack and SwiftVMM does not (its xzio and lzopio
    /// magic numbers), by name.
    static func otherCompression(_ bytes: [UInt8]) -> String? {
        if bytes.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return "xz" }
        if bytes.starts(with: [0x89, 0x4C, 0x5A, 0x4F, 0x00, 0x0D, 0x0A, 0x1A, 0x0A]) { return "lzop" }
        return nil
    }
}
