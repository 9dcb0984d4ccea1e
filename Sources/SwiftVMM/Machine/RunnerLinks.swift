/// The vCPU runners as seen from the things that reach back to them: the APIC bus (IPIs),
/// ACPI S3, the debugger and the run control (waking every vCPU). The machine owns the
/// runners and the runners own their links to those; these links are weak, so ownership
/// flows one way and freeing the machine frees every runner (and closes its vCPU fd)
/// without anything to cut by hand.
struct RunnerLinks: Sendable {
    private struct Link: Sendable {
        weak let runner: VCPURunner?
    }
    private let links: [Link]

    init(_ runners: [VCPURunner]) { links = runners.map { Link(runner: $0) } }

    static let none = RunnerLinks([])

    /// vCPU `index`'s runner (nil: no such vCPU, or the machine is gone).
    subscript(index: Int) -> VCPURunner? { links.indices.contains(index) ? links[index].runner : nil }

    /// Every runner still there, in vCPU order.
    var all: [VCPURunner] { links.compactMap(\.runner) }
}
