#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SystemPackage
import SwiftVMMMemory
import SwiftVMMPlatform

/// Snapshots on disk: a directory holding
/// - `ram`: guest RAM as a sparse file (`RAMImage.write(to:)`), mapped copy-on-write when
///   restored, so restoring reads only the pages the guest touches;
/// - `snapshot.json`: everything else (format name and version, the machine's shape, each
///   vCPU's CPUID, KVM state, local APIC and run state, every device, the clocks).
///
/// Loading checks the format name and version and the machine's shape; whether this host
/// may continue it (CPU vendor, CPUID, TSC rate) is checked when a machine is restored from
/// it. Every failure is a `MachineError.invalidConfiguration` (status 2) saying which.
extension MachineSnapshot {
    static let formatName = "swiftvmm-snapshot"
    /// Bumped whenever what `snapshot.json` holds changes meaning.
    static let formatVersion = 3
    static let stateFile = "snapshot.json", ramFile = "ram"

    /// What `snapshot.json` holds. Its `Header` is read first, so that a file of another
    /// version is named as such rather than reported corrupt, and so that a machine can be
    /// built while the rest decodes (`Opened`).
    struct File: Codable {
        var format: String
        var version: Int
        var shape: Machine.Configuration.Shape
        var tscKHz: UInt32
        var machineTime: UInt64
        var tsc: UInt64
        var cpuid: [CPUIDLeaves]
        var vcpus: [VCPUSnapshot]
        var devices: DeviceSnapshots
    }

    /// One vCPU's CPUID in the file: an array of struct kvm_cpuid_entry2 (function, index,
    /// flags, eax, ebx, ecx, edx and three words of padding) as one hexadecimal string.
    struct CPUIDLeaves: Codable {
        var entries: [CPUIDEntry]

        init(_ entries: [CPUIDEntry]) { self.entries = entries }

        init(from decoder: any Decoder) throws {
            let hex = try HexBytes(from: decoder)
            guard let words = hex.words, words.count % 10 == 0 else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "\(hex.bytes.count) bytes, not a whole number of 40-byte CPUID entries"))
            }
            entries = stride(from: 0, to: words.count, by: 10).map {
                CPUIDEntry(function: words[$0], index: words[$0 + 1], flags: words[$0 + 2],
                           eax: words[$0 + 3], ebx: words[$0 + 4], ecx: words[$0 + 5], edx: words[$0 + 6])
            }
        }

        func encode(to encoder: any Encoder) throws {
            try HexBytes(words: entries.flatMap { [$0.function, $0.index, $0.flags, $0.eax, $0.ebx, $0.ecx, $0.edx, 0, 0, 0] })
                .encode(to: encoder)
        }
    }

    /// What is read first: the format, and the shape a machine needs before the rest.
    /// A shape that does not decode is left nil, so that the file is reported corrupt
    /// rather than not a snapshot.
    struct Header: Decodable {
        var format: String
        var version: Int
        var shape: Machine.Configuration.Shape?

        private enum CodingKeys: String, CodingKey { case format, version, shape }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            format = try container.decode(String.self, forKey: .format)
            version = try container.decode(Int.self, forKey: .version)
            shape = try? container.decode(Machine.Configuration.Shape.self, forKey: .shape)
        }
    }

    /// A snapshot file opened for restoring: the machine's configuration and RAM image at
    /// once, the rest when `snapshot()` is asked for. The file decodes on a thread of its
    /// own from the moment it is read, so that a machine's VM and vCPUs are built while it
    /// decodes: decoding is a third of a restore's CPU time, most of it the Swift runtime's
    /// first use of each Codable type (BENCHMARKS.md section 9).
    struct Opened {
        let path: FilePath
        let configuration: Machine.Configuration
        let ram: RAMImage
        let file: DeferredResult<File, MachineError>

        /// Waits for the file to decode and checks it against its machine.
        func snapshot() throws(MachineError) -> MachineSnapshot {
            let file = try file.value()
            let cpus = configuration.cpus
            guard file.vcpus.count == cpus, file.cpuid.count == cpus,
                  file.vcpus.allSatisfy({ $0.localAPIC?.isWellFormed ?? true }), file.devices.isWellFormed,
                  (file.devices.chipset != nil) == (configuration.interruptController == .userspace) else {
                throw .invalidConfiguration("\(path) is corrupt: its vCPUs, CPUID or devices do not match its machine")
            }
            return MachineSnapshot(configuration: configuration, ram: ram, vcpus: file.vcpus, devices: file.devices,
                                   machineTime: file.machineTime, tsc: file.tsc, tscKHz: file.tscKHz,
                                   cpuid: file.cpuid.map(\.entries))
        }
    }

    /// Writes the snapshot to `directory` (created if missing; its two files are replaced).
    public func save(to directory: FilePath) throws(MachineError) {
        if mkdir(directory.string, 0o755) != 0 && errno != EEXIST {
            throw .host(.io("cannot create the snapshot directory \(directory)", Errno(rawValue: errno)))
        }
        do throws(GuestMemoryError) {
            try ram.write(to: directory.appending(Self.ramFile))
        } catch {
            throw .host(.memory(error))
        }
        let file = File(format: Self.formatName, version: Self.formatVersion, shape: configuration.shape, tscKHz: tscKHz, machineTime: machineTime, tsc: tsc, cpuid: cpuid.map(CPUIDLeaves.init), vcpus: vcpus, devices: devices)
        let path = directory.appending(Self.stateFile)
        do {
            let data = try JSONEncoder().encode(file)
            let temporary = directory.appending(Self.stateFile + ".new")
            let descriptor = try FileDescriptor.open(temporary, .writeOnly, options: [.create, .truncate, .closeOnExec],
                                                     permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try descriptor.closeAfter { _ = try descriptor.writeAll(data) }
            guard rename(temporary.string, path.string) == 0 else { throw Errno(rawValue: errno) }
        } catch let error as Errno {
            throw .host(.io("cannot write \(path)", error))
        } catch {
            throw .host(.configuration("cannot encode the snapshot: \(error)"))
        }
    }

    /// The snapshot saved in `directory`. Its `configuration` is the saved machine's shape
    /// with serial output to `serialOutput`; change its outputs, input, time limit and
    /// `--exit-on` patterns before `fork(_:)`.
    public init(loading directory: FilePath, serialOutput: any SerialSink) throws(MachineError) {
        self = try Self.open(directory, serialOutput: serialOutput).snapshot()
    }

    /// Reads `directory`'s state file, starts decoding it (on host CPU `decodeCPU`, when
    /// given), checks its format, version and shape meanwhile, and maps its RAM image.
    static func open(_ directory: FilePath, serialOutput: any SerialSink, decodeCPU: Int? = nil) throws(MachineError) -> Opened {
        let path = directory.appending(Self.stateFile)
        let data: Data
        do { data = try Data(contentsOf: URL(filePath: path.string)) } catch {
            throw .invalidConfiguration("cannot read the snapshot \(path): \(error)")
        }
        let file: DeferredResult<File, MachineError>
        do throws(HostError) {
            file = try DeferredResult(name: "snapshot-load", cpu: decodeCPU) { () throws(MachineError) in
                do { return try JSONDecoder().decode(File.self, from: data) } catch {
                    throw .invalidConfiguration("\(path) is corrupt: \(error)")
                }
            }
        } catch {
            throw .host(error)
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: data), header.format == Self.formatName else {
            throw .invalidConfiguration("\(path) is not a SwiftVMM snapshot (corrupt, or not one at all)")
        }
        guard header.version == Self.formatVersion else {
            throw .invalidConfiguration("\(path) is a snapshot of format version \(header.version); this SwiftVMM reads version \(Self.formatVersion)")
        }
        guard let shape = header.shape, let configuration = Machine.Configuration(shape: shape, serialOutput: serialOutput) else {
            throw .invalidConfiguration("\(path) is corrupt: its machine's shape does not decode")
        }
        let image: RAMImage
        do throws(GuestMemoryError) {
            image = try RAMImage(file: directory.appending(Self.ramFile), layout: RAMLayout(size: shape.memorySize))
        } catch {
            throw .invalidConfiguration("\(error)")
        }
        return Opened(path: path, configuration: configuration, ram: image, file: file)
    }
}
