/// A deterministic slice of a suite, so CI matrix jobs or Kubernetes indexed jobs can
/// share one manifest: with the cases sorted by name, shard K of N (1 ≤ K ≤ N) takes the
/// cases whose position in that order, counted from 0, is K-1 modulo N. The N shards
/// partition the cases and differ in size by at most one; every repeat of a case stays in
/// the case's shard.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 1-based, as `--shard K/N`.
    public let index: Int
    public let count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// "K/N".
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else { return nil }
        self.init(index: index, count: count)
    }

    /// This shard's cases, in name order.
    public func select(_ cases: [Manifest.TestCase]) -> [Manifest.TestCase] {
        cases.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            .enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }

    public var description: String { "\(index)/\(count)" }
}
