import SwiftVMMSupport

/// One gdb connection's protocol state and its answers to packets (GDB manual Appendix E,
/// "Packets" E.2 and "General Query Packets" E.4). A function of (packet, target), so
/// malformed input is tested with a fake target: every packet gets a reply or, for
/// resumption, a later stop reply; nothing traps.
///
/// Threads: vCPU i is gdb thread i + 1. `Hg` selects the thread for registers and memory,
/// `Hc` (or `vCont`) the thread to step. All-stop: when gdb resumes, every vCPU named by
/// the action runs; when any of them stops, all stop.
package final class GDBSession {
    package enum Response: Equatable {
        case reply(String)
        /// The target runs: the answer is the stop reply sent when it stops.
        case resumed
        /// gdb detached: reply OK, let the guest run without a debugger.
        case detach
        /// gdb asked to kill the target: no reply, end the machine.
        case kill
    }

    let target: GDBTarget
    /// Thread for `g`, `G`, `p`, `P`, `m`, `M`, `X` (a vCPU index).
    private var registerThread = 0
    /// Thread `s`/`c` apply to when gdb does not use `vCont`; nil means "any".
    private var resumeThread: Int?
    /// The last stop, repeated for `?`.
    package private(set) var lastStop: StopEvent

    /// Longest memory transfer per packet: the `PacketSize` offered, in hex.
    static let packetSize = 0x4000
    static let maximumTransfer = (packetSize - 16) / 2

    package init(target: GDBTarget, stop: StopEvent) {
        self.target = target
        self.lastStop = stop
        registerThread = stop.vcpu
    }

    /// A stop happened; returns its stop reply and makes its vCPU the current thread.
    package func stopped(_ event: StopEvent) -> String {
        lastStop = event
        registerThread = event.vcpu
        resumeThread = nil
        return stopReply(event)
    }

    func stopReply(_ event: StopEvent) -> String {
        var reply = "T" + GDBHex.byte(event.signal) + "thread:" + threadID(event.vcpu) + ";"
        if case .watchpoint(let kind, let address) = event.reason {
            let name = [Breakpoint.Kind.write: "watch", .read: "rwatch", .access: "awatch"][kind] ?? "watch"
            reply += "\(name):" + String(address, radix: 16) + ";"
        }
        return reply
    }

    package func handle(_ packet: [UInt8]) -> Response {
        // Binary data only follows "X addr,len:"; the rest of every packet is ASCII.
        guard let first = packet.first else { return .reply("") }
        if first == UInt8(ascii: "X") { return .reply(writeBinary(packet)) }
        let text = String(decoding: packet, as: UTF8.self)
        let body = text.dropFirst()
        switch Character(UnicodeScalar(first)) {
        case "?": return .reply(stopReply(lastStop))
        case "g": return .reply(readRegisters())
        case "G": return .reply(writeRegisters(body))
        case "p": return .reply(readRegister(body))
        case "P": return .reply(writeRegister(body))
        case "m": return .reply(readMemory(body))
        case "M": return .reply(writeMemory(body))
        case "Z", "z": return .reply(breakpoint(body, insert: first == UInt8(ascii: "Z")))
        case "H": return .reply(selectThread(body))
        case "T": return .reply(thread(body).map { _ in "OK" } ?? "E01")
        case "c", "C": return resumeAll(stepping: nil)
        case "s", "S": return resumeAll(stepping: resumeThread ?? registerThread)
        case "D": return .detach
        case "k": return .kill
        case "q": return .reply(query(String(body)))
        case "v": return vPacket(String(body))
        default: return .reply("")
        }
    }

    // MARK: Threads

    func threadID(_ vcpu: Int) -> String { String(vcpu + 1, radix: 16) }

    /// A gdb thread id to a vCPU: nil for malformed or unknown ids; "0" (any) and "-1"
    /// (all) come back as -1.
    private func thread<S: StringProtocol>(_ text: S) -> Int? {
        if text == "-1" || text == "0" { return -1 }
        guard let id = GDBHex.number(text), id >= 1, id <= UInt64(target.cpuCount) else { return nil }
        return Int(id) - 1
    }

    private func selectThread(_ body: Substring) -> String {
        guard let operation = body.first, let vcpu = thread(body.dropFirst()) else { return "E01" }
        switch operation {
        case "g": registerThread = vcpu >= 0 ? vcpu : registerThread
        case "c": resumeThread = vcpu >= 0 ? vcpu : nil
        default: return "E01"
        }
        return "OK"
    }

    // MARK: Registers

    private func readRegisters() -> String {
        guard let values = target.registers(vcpu: registerThread) else { return "E01" }
        return GDBRegisters.encode(values)
    }

    private func writeRegisters(_ hex: Substring) -> String {
        guard let values = GDBRegisters.decode(hex) else { return "E01" }
        return target.setRegisters(vcpu: registerThread, values) ? "OK" : "E01"
    }

    private func readRegister(_ body: Substring) -> String {
        guard let number = GDBHex.number(body), number < GDBRegisters.all.count,
              let values = target.registers(vcpu: registerThread) else { return "E01" }
        return GDBRegisters.encode(values[Int(number)], GDBRegisters.all[Int(number)])
    }

    private func writeRegister(_ body: Substring) -> String {
        let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let number = GDBHex.number(parts[0]), number < GDBRegisters.all.count,
              let bytes = GDBHex.decode(parts[1]) else { return "E01" }
        let register = GDBRegisters.all[Int(number)]
        guard bytes.count == register.bytes else { return "E01" }
        guard register.bits <= 64 else { return "E02" }   // x87/SSE state is not writable here
        var values = [UInt64?](repeating: nil, count: GDBRegisters.all.count)
        values[Int(number)] = GDBRegisters.littleEndian(bytes[...])
        return target.setRegisters(vcpu: registerThread, values) ? "OK" : "E01"
    }

    // MARK: Memory

    /// "addr,length" with both in hex.
    private func addressAndLength<S: StringProtocol>(_ text: S) -> (UInt64, Int)? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = GDBHex.number(parts[0]), let length = GDBHex.number(parts[1]),
              length <= UInt64(Self.maximumTransfer) else { return nil }
        return (address, Int(length))
    }

    private func readMemory(_ body: Substring) -> String {
        guard let (address, length) = addressAndLength(body) else { return "E01" }
        if length == 0 { return "" }
        guard let bytes = target.readMemory(vcpu: registerThread, at: address, count: length), !bytes.isEmpty else { return "E14" }
        return GDBHex.encode(bytes)
    }

    private func writeMemory(_ body: Substring) -> String {
        let parts = body.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let (address, length) = addressAndLength(parts[0]),
              let bytes = GDBHex.decode(parts[1]), bytes.count == length else { return "E01" }
        if length == 0 { return "OK" }
        return target.writeMemory(vcpu: registerThread, at: address, bytes) ? "OK" : "E14"
    }

    /// `X addr,length:BINARY`: the data is raw bytes (already unescaped by the decoder).
    private func writeBinary(_ packet: [UInt8]) -> String {
        guard let colon = packet.firstIndex(of: UInt8(ascii: ":")) else { return "E01" }
        let header = String(decoding: packet[1..<colon], as: UTF8.self)
        let data = Array(packet[(colon + 1)...])
        guard let (address, length) = addressAndLength(header), data.count == length else { return "E01" }
        if length == 0 { return "OK" }   // gdb probes for X support with an empty write
        return target.writeMemory(vcpu: registerThread, at: address, data) ? "OK" : "E14"
    }

    // MARK: Breakpoints

    private func breakpoint(_ body: Substring, insert: Bool) -> String {
        let parts = body.split(separator: ",", omittingEmptySubsequences: false)
        // "type,addr,kind", possibly followed by ";cond" lists, which are not supported.
        guard parts.count >= 3, let type = Int(parts[0]), let kind = Breakpoint.Kind(rawValue: type),
              let address = GDBHex.number(parts[1]),
              let length = GDBHex.number(parts[2].prefix { $0 != ";" }), length <= 8 else { return "E01" }
        let breakpoint = Breakpoint(kind: kind, address: address, length: Int(length))
        switch insert ? target.insert(breakpoint) : target.remove(breakpoint) {
        case .done: return "OK"
        case .unsupported: return ""
        case .failed: return "E01"
        }
    }

    // MARK: Running

    /// `c`/`s`: every vCPU continues, or only `stepping` steps (the others stay stopped,
    /// so a step never lets another CPU run ahead).
    private func resumeAll(stepping: Int?) -> Response {
        if let stepping {
            var actions = [ResumeAction?](repeating: nil, count: target.cpuCount)
            actions[stepping] = .step
            target.resume(actions)
        } else {
            target.resume(Array(repeating: .continue, count: target.cpuCount))
        }
        return .resumed
    }

    private func vPacket(_ body: String) -> Response {
        if body == "Cont?" { return .reply("vCont;c;C;s;S") }
        if body.hasPrefix("Cont;") { return vCont(body.dropFirst(5)) }
        if body == "MustReplyEmpty" { return .reply("") }
        if body.hasPrefix("Kill") { return .kill }
        return .reply("")
    }

    /// `vCont;action[:thread];...`: for each vCPU, the leftmost action that names it (or
    /// names no thread) applies; vCPUs no action names stay stopped.
    private func vCont(_ body: Substring) -> Response {
        var actions = [ResumeAction?](repeating: nil, count: target.cpuCount)
        var assigned = [Bool](repeating: false, count: target.cpuCount)
        for item in body.split(separator: ";") {
            let parts = item.split(separator: ":", maxSplits: 1)
            guard let code = parts.first?.first else { return .reply("E01") }
            let action: ResumeAction
            switch code {
            case "c", "C": action = .continue
            case "s", "S": action = .step
            default: return .reply("E01")
            }
            let vcpus: [Int]
            if parts.count == 2 {
                guard let vcpu = thread(parts[1]) else { return .reply("E01") }
                vcpus = vcpu >= 0 ? [vcpu] : Array(0..<target.cpuCount)
            } else {
                vcpus = Array(0..<target.cpuCount)
            }
            for vcpu in vcpus where !assigned[vcpu] {
                assigned[vcpu] = true
                actions[vcpu] = action
            }
        }
        guard actions.contains(where: { $0 != nil }) else { return .reply("E01") }
        target.resume(actions)
        return .resumed
    }

    // MARK: Queries

    private func query(_ body: String) -> String {
        if body.hasPrefix("Supported") {
            return "PacketSize=\(String(Self.packetSize, radix: 16));qXfer:features:read+;vContSupported+"
        }
        if body.hasPrefix("Xfer:features:read:") { return targetDescription(body.dropFirst(19)) }
        switch body {
        case "Attached": return "1"
        case "C": return "QC" + threadID(registerThread)
        case "fThreadInfo": return "m" + (0..<target.cpuCount).map(threadID).joined(separator: ",")
        case "sThreadInfo": return "l"
        case "Symbol::": return "OK"
        default: break
        }
        if body.hasPrefix("ThreadExtraInfo,") {
            guard let vcpu = thread(body.dropFirst(16)), vcpu >= 0 else { return "E01" }
            return GDBHex.encode(target.describe(vcpu: vcpu).utf8)
        }
        if body.hasPrefix("Rcmd,") {
            guard let command = GDBHex.decode(body.dropFirst(5)) else { return "E01" }
            let output = target.monitor(String(decoding: command, as: UTF8.self))
            return GDBHex.encode(output.utf8)
        }
        return ""
    }

    /// `qXfer:features:read:ANNEX:OFFSET,LENGTH` (E.4): `m` + a chunk, or `l` + the last.
    private func targetDescription(_ request: Substring) -> String {
        let parts = request.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "E01" }
        guard parts[0] == "target.xml" else { return "E00" }
        let range = parts[1].split(separator: ",", omittingEmptySubsequences: false)
        guard range.count == 2, let offset = GDBHex.number(range[0]), let length = GDBHex.number(range[1]) else { return "E01" }
        let document = Array(GDBRegisters.targetXML.utf8)
        guard offset <= UInt64(document.count) else { return "E01" }
        let end = min(document.count, Int(offset) + Int(min(length, UInt64(Self.maximumTransfer))))
        let chunk = String(decoding: document[Int(offset)..<end], as: UTF8.self)
        return (end == document.count ? "l" : "m") + chunk
    }
}
