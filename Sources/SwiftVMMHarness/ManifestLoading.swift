import Foundation
import Yams

/// A manifest that cannot be used: the file and the problem (`swiftvmm test` exits 2).
public struct ManifestError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

extension Manifest {
    /// Reads and checks a manifest, YAML when its name ends in .yaml or .yml, else JSON:
    /// every key known, names unique, patterns and outcomes valid.
    public static func load(path: String) throws(ManifestError) -> Manifest {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ManifestError(path: path, problem: "cannot read: \((error as NSError).localizedDescription)")
        }
        let isYAML = path.hasSuffix(".yaml") || path.hasSuffix(".yml")
        var manifest: Manifest
        do {
            manifest = isYAML ? try YAMLDecoder().decode(Manifest.self, from: data)
                              : try JSONDecoder().decode(Manifest.self, from: data)
        } catch let error as DecodingError {
            throw ManifestError(path: path, problem: describe(error, format: isYAML ? "YAML" : "JSON"))
        } catch {
            throw ManifestError(path: path, problem: "not valid \(isYAML ? "YAML" : "JSON"): \(error)")
        }
        var seen = Set<String>()
        for (index, testCase) in manifest.cases.enumerated() where !seen.insert(testCase.name).inserted {
            throw ManifestError(path: path, problem: "cases[\(index)].name: \"\(testCase.name)\" is used by an earlier case")
        }
        manifest.baseDirectory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return manifest
    }

    /// Where kernels and modules are found: `override` (relative to the current
    /// directory) when given, else `kernelDirectory` relative to the manifest's folder.
    public func kernelDirectory(override: String? = nil) -> String {
        if let override { return URL(fileURLWithPath: override).standardizedFileURL.path }
        let base = URL(fileURLWithPath: baseDirectory, isDirectory: true)
        guard let kernelDirectory else { return base.standardizedFileURL.path }
        return URL(fileURLWithPath: kernelDirectory, relativeTo: base).standardizedFileURL.path
    }
}

/// "cases[2].outcome: "boot" is not one of …" from what JSONDecoder reports.
private func describe(_ error: DecodingError, format: String) -> String {
    func location(_ path: [any CodingKey]) -> String {
        let text = path.reduce(into: "") { text, key in
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text.isEmpty ? "" : text + ": "
    }
    switch error {
    case .keyNotFound(let key, let context):
        return location(context.codingPath) + "missing key \"\(key.stringValue)\""
    case .typeMismatch(let type, let context):
        return location(context.codingPath) + "expected \(jsonName(type))"
    case .valueNotFound(let type, let context):
        return location(context.codingPath) + "expected \(jsonName(type)), found null"
    case .dataCorrupted(let context):
        if context.codingPath.isEmpty {
            let detail = context.underlyingError.map { "\(($0 as NSError).userInfo[NSDebugDescriptionErrorKey] ?? $0)" }
            return "not valid \(format)" + (detail.map { ": \($0)" } ?? "")
        }
        return location(context.codingPath) + context.debugDescription
    @unknown default:
        return "\(error)"
    }
}

private func jsonName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is UInt64.Type, is Double.Type: "a number"
    case is [String].Type: "an array of strings"
    case _ where "\(type)".hasPrefix("Array"): "an array"
    case _ where "\(type)".hasPrefix("Dictionary"): "an object"
    default: "\(type)"
    }
}
