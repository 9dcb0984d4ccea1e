import Foundation
import PackagePlugin

/// Builds freestanding guest kernels from guests/ and embeds each in the target as a
/// `[UInt8]` constant named `<name>Guest` (e.g. `smpTimerGuest`).
///
/// The target `DemoGuest` gets `guests/demo`; any other target gets every guest folder
/// (each folder with an `entry.S`). One build command per guest runs `build-guest`,
/// which compiles with the toolchain's clang, links with ld.lld and writes the Swift file;
/// the objects and ELF stay in the plugin's work folder. SwiftPM plans this once: after
/// adding a guest folder, touch Package.swift.
@main
struct GuestBuilder: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let guests = context.package.directoryURL.appending(path: "guests")
        let folders = try FileManager.default.contentsOfDirectory(atPath: guests.path)
            .filter { FileManager.default.fileExists(atPath: guests.appending(path: "\($0)/entry.S").path) }
            .sorted()
        let names = target.name == "DemoGuest" ? ["demo"] : folders
        let clang = try context.tool(named: "clang").url
        let lld = try context.tool(named: "ld.lld").url
        let builder = try context.tool(named: "build-guest").url
        // Guests include headers and each other's sources (the x2APIC variants), so every
        // guest depends on every file under guests/.
        let inputs = Self.allFiles(under: guests)
        return names.map { name in
            let work = context.pluginWorkDirectoryURL.appending(path: name)
            let output = context.pluginWorkDirectoryURL.appending(path: "Guest_\(name).swift")
            return .buildCommand(
                displayName: "Building guest kernel \(name)",
                executable: builder,
                arguments: [clang.path, lld.path, guests.path, name, work.path, output.path],
                inputFiles: inputs + [clang, lld],
                outputFiles: [output])
        }
    }

    static func allFiles(under directory: URL) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        return (enumerator?.allObjects as? [URL] ?? [])
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
            .sorted { $0.path < $1.path }
    }
}
