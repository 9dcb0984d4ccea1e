import Testing
@testable import SwiftVMM
@testable import SwiftVMMDebug

/// A machine made of arrays: registers, 64 KiB of flat memory, a log of resumes.
final class FakeGDBTarget: GDBTarget {
    let cpuCount: Int
    var registerFiles: [[UInt64?]]
    var memory = [UInt8](repeating: 0, count: 0x10000)
    var breakpoints: Set<Breakpoint> = []
    var resumed: [[ResumeAction?]] = []

    init(cpus: Int) {
        cpuCount = cpus
        registerFiles = (0..<cpus).map { cpu in
            GDBRegisters.all.enumerated().map { $1.bits <= 64 ? UInt64(cpu * 0x100 + $0) : nil }
        }
    }

    func registers(vcpu: Int) -> [UInt64?]? { registerFiles[vcpu] }
    func setRegisters(vcpu: Int, _ values: [UInt64?]) -> Bool {
        for (index, value) in values.enumerated() where value != nil { registerFiles[vcpu][index] = value }
        return true
    }
    func readMemory(vcpu: Int, at address: UInt64, count: Int) -> [UInt8]? {
        guard address < UInt64(memory.count) else { return nil }
        return Array(memory[Int(address)..<min(memory.count, Int(address) + count)])
    }
    func writeMemory(vcpu: Int, at address: UInt64, _ bytes: [UInt8]) -> Bool {
        guard address + UInt64(bytes.count) <= UInt64(memory.count) else { return false }
        memory.replaceSubrange(Int(address)..<Int(address) + bytes.count, with: bytes)
        return true
    }
    func insert(_ breakpoint: Breakpoint) -> BreakpointResult {
        if breakpoint.kind == .read { return .unsupported }
        breakpoints.insert(breakpoint)
        return .done
    }
    func remove(_ breakpoint: Breakpoint) -> BreakpointResult {
        breakpoints.remove(breakpoint)
        return .done
    }
    func describe(vcpu: Int) -> String { "vCPU \(vcpu) (halted)" }
    func resume(_ actions: [ResumeAction?]) { resumed.append(actions) }
    func monitor(_ command: String) -> String { "you said \(command)" }
}

/// Packet handling against a fake target (GDB manual E.2–E.4): every malformed packet gets
/// an error reply, every known one the documented answer.
struct GDBSessionTests {
    let target = FakeGDBTarget(cpus: 4)
    let session: GDBSession

    init() { session = GDBSession(target: target, stop: StopEvent(vcpu: 0, reason: .attached)) }

    func reply(_ packet: String) -> String {
        guard case .reply(let text) = session.handle(Array(packet.utf8)) else { return "<not a reply>" }
        return text
    }

    @Test func supportedAndStopReason() {
        #expect(reply("qSupported:multiprocess+;swbreak+") == "PacketSize=4000;qXfer:features:read+;vContSupported+")
        #expect(reply("?") == "T05thread:1;")
        #expect(reply("qAttached") == "1")
        #expect(reply("vCont?") == "vCont;c;C;s;S")
        #expect(reply("qTStatus") == "", "unknown packets get the empty reply")
    }

    @Test func targetDescriptionIsServedInChunks() {
        let whole = GDBRegisters.targetXML
        let first = reply("qXfer:features:read:target.xml:0,10")
        #expect(first == "m" + whole.prefix(16))
        let rest = reply("qXfer:features:read:target.xml:10,4000")
        #expect(rest.first == "l")
        #expect(first.dropFirst() + rest.dropFirst() == whole)
        #expect(whole.contains("<architecture>i386:x86-64</architecture>"))
        #expect(whole.contains("name=\"org.gnu.gdb.i386.core\""))
        #expect(whole.contains("<reg name=\"cr3\" bitsize=\"64\""))
        #expect(reply("qXfer:features:read:other.xml:0,10") == "E00")
        #expect(reply("qXfer:features:read:target.xml:zz,10") == "E01")
    }

    @Test func threadsAreVCPUs() {
        #expect(reply("qfThreadInfo") == "m1,2,3,4")
        #expect(reply("qsThreadInfo") == "l")
        #expect(reply("T3") == "OK")
        #expect(reply("T5") == "E01")
        #expect(reply("T0") == "OK")
        #expect(reply("qThreadExtraInfo,2") == GDBHex.encode("vCPU 1 (halted)".utf8))
        #expect(reply("Hg3") == "OK")
        #expect(reply("qC") == "QC3")
        #expect(reply("Hg9") == "E01")
        #expect(reply("Hx1") == "E01")
    }

    @Test func registersFollowTheLayout() throws {
        #expect(reply("Hg2") == "OK")
        let all = reply("g")
        let size = GDBRegisters.all.reduce(0) { $0 + $1.bits / 8 }
        #expect(all.count == 2 * size)
        // rax of vCPU 1 = 0x100, little-endian; st0 (register 24) is unavailable.
        #expect(all.hasPrefix("0001000000000000"))
        #expect(reply("p18") == "xxxxxxxxxxxxxxxxxxxx")
        let rip = try #require(GDBRegisters.number["rip"])
        #expect(reply("p\(String(rip, radix: 16))") == GDBHex.littleEndian(UInt64(0x100 + rip), size: 8))
        #expect(reply("P\(String(rip, radix: 16))=efbeadde00000000") == "OK")
        #expect(target.registerFiles[1][rip] == 0xDEAD_BEEF)
        #expect(reply("P10=1234") == "E01", "wrong size")
        #expect(reply("P18=00000000000000000000") == "E02", "x87 is not writable")
        #expect(reply("P999=00") == "E01")
        #expect(reply("pzz") == "E01")
        #expect(reply("G" + all.replacingOccurrences(of: "x", with: "0")) == "OK")
        #expect(reply("Gxyz") == "E01")
    }

    @Test func memoryReadsAndWrites() {
        #expect(reply("M1000,4:deadbeef") == "OK")
        #expect(reply("m1000,4") == "deadbeef")
        #expect(reply("m1000,0") == "")
        #expect(reply("m20000,4") == "E14")
        #expect(reply("M1000,4:dead") == "E01", "length mismatch")
        #expect(reply("m1000") == "E01")
        #expect(reply("mzz,4") == "E01")
        #expect(reply("m1000,ffffffff") == "E01", "longer than a packet")
        // X carries raw bytes (the decoder already undid the escapes).
        let packet = Array("X2000,3:".utf8) + [0x00, 0x23, 0xFF]
        #expect(session.handle(packet) == .reply("OK"))
        #expect(target.memory[0x2000..<0x2003] == [0x00, 0x23, 0xFF])
        #expect(session.handle(Array("X2000,0:".utf8)) == .reply("OK"))
        #expect(session.handle(Array("X2000,5:ab".utf8)) == .reply("E01"))
    }

    @Test func breakpoints() {
        #expect(reply("Z0,103000,1") == "OK")
        #expect(reply("Z1,103004,1") == "OK")
        #expect(reply("Z2,2000,4") == "OK")
        #expect(target.breakpoints.count == 3)
        #expect(reply("z0,103000,1") == "OK")
        #expect(target.breakpoints.count == 2)
        #expect(reply("Z3,2000,4") == "", "unsupported kind: empty reply")
        #expect(reply("Z9,2000,4") == "E01")
        #expect(reply("Z0,zz,1") == "E01")
        #expect(reply("Z0,1000") == "E01")
    }

    @Test func resumption() {
        #expect(session.handle(Array("c".utf8)) == .resumed)
        #expect(target.resumed.last == [.continue, .continue, .continue, .continue])
        _ = reply("Hc3")
        #expect(session.handle(Array("s".utf8)) == .resumed)
        #expect(target.resumed.last == [nil, nil, .step, nil], "a step moves only the chosen vCPU")
        #expect(session.handle(Array("vCont;s:2;c".utf8)) == .resumed)
        #expect(target.resumed.last == [.continue, .step, .continue, .continue])
        #expect(session.handle(Array("vCont;c:4".utf8)) == .resumed)
        #expect(target.resumed.last == [nil, nil, nil, .continue])
        #expect(session.handle(Array("vCont;x".utf8)) == .reply("E01"))
        #expect(session.handle(Array("vCont;c:9".utf8)) == .reply("E01"))
        #expect(session.handle(Array("D".utf8)) == .detach)
        #expect(session.handle(Array("k".utf8)) == .kill)
        #expect(session.handle(Array("vKill;1".utf8)) == .kill)
    }

    @Test func stopRepliesNameTheThread() {
        #expect(session.stopped(StopEvent(vcpu: 2, reason: .breakpoint)) == "T05thread:3;")
        #expect(reply("qC") == "QC3", "the stopped vCPU becomes current")
        #expect(session.stopped(StopEvent(vcpu: 0, reason: .interrupted)) == "T02thread:1;")
        #expect(session.stopped(StopEvent(vcpu: 1, reason: .watchpoint(.write, address: 0x2000))) == "T05thread:2;watch:2000;")
    }

    @Test func monitorCommands() {
        #expect(reply("qRcmd," + GDBHex.encode("info".utf8)) == GDBHex.encode("you said info".utf8))
        #expect(reply("qRcmd,zz") == "E01")
    }

    /// Empty, binary and truncated packets get an error or the empty "not supported" reply
    /// (gdb's Remote Protocol, "Packets"), never a trap, a resume or a changed session.
    @Test func emptyAndBinaryGarbageAreRefused() {
        let stopReply = reply("?")
        for packet: [UInt8] in [[], [0xFF], [0x00, 0x01], Array("Z".utf8), Array("P".utf8), Array("H".utf8),
                                Array("X".utf8), Array("vCont;".utf8), Array("qXfer:features:read:".utf8)] {
            let response = session.handle(packet)
            guard case .reply(let text) = response else {
                Issue.record("\(packet) gave \(response)")
                continue
            }
            #expect(text.isEmpty || text.hasPrefix("E"), "\(packet) gave \(text)")
        }
        #expect(reply("?") == stopReply)
    }

    @Test func debugRegisterFields() {
        #expect(DebugRegisters.fields(for: Breakpoint(kind: .hardware, address: 0x1003, length: 1)) == 0)
        #expect(DebugRegisters.fields(for: Breakpoint(kind: .write, address: 0x2000, length: 4)) == 0b1101)
        #expect(DebugRegisters.fields(for: Breakpoint(kind: .access, address: 0x2000, length: 8)) == 0b1011)
        #expect(DebugRegisters.fields(for: Breakpoint(kind: .write, address: 0x2001, length: 4)) == nil, "unaligned")
        #expect(DebugRegisters.fields(for: Breakpoint(kind: .write, address: 0x2000, length: 3)) == nil)
    }
}
