import Testing
@testable import SwiftVMM
@testable import SwiftVMMDebug

/// The remote protocol's framing (GDB manual E.1): checksums, escapes, run-length
/// encoding, acks, Ctrl-C, and what happens to broken input.
struct GDBPacketTests {
    func decode(_ text: String) -> [GDBPacketDecoder.Event] {
        var decoder = GDBPacketDecoder()
        return Array(text.utf8).compactMap { decoder.feed($0) }
    }

    @Test func checksumIsTheModulo256Sum() {
        #expect(GDBPacket.checksum(Array("qSupported".utf8)) == 0x37)
        #expect(GDBPacket.checksum(Array("OK".utf8)) == 0x9A)
        #expect(GDBPacket.checksum(Array(repeating: UInt8(0xFF), count: 3)) == 0xFD)
        #expect(GDBPacket.checksum([UInt8]()) == 0)
    }

    @Test func encodesWithChecksum() {
        #expect(String(decoding: GDBPacket.encode("OK"), as: UTF8.self) == "$OK#9a")
        #expect(String(decoding: GDBPacket.encode(""), as: UTF8.self) == "$#00")
    }

    @Test func escapesTheFourSpecialBytes() {
        let encoded = GDBPacket.encode([0x23, 0x24, 0x7D, 0x2A, 0x41])
        // } then byte ^ 0x20 for # $ } *, and the checksum is over the escaped body.
        let body: [UInt8] = [0x7D, 0x03, 0x7D, 0x04, 0x7D, 0x5D, 0x7D, 0x0A, 0x41]
        #expect(Array(encoded.dropFirst().prefix(body.count)) == body)
        #expect(String(decoding: encoded.suffix(2), as: UTF8.self) == GDBHex.byte(GDBPacket.checksum(body)))
    }

    @Test func decodesWhatItEncodes() {
        let payload: [UInt8] = Array(0...255)
        var decoder = GDBPacketDecoder()
        let events = GDBPacket.encode(payload).compactMap { decoder.feed($0) }
        #expect(events == [.packet(payload)])
    }

    @Test func decodesAPacketAndAcks() {
        #expect(decode("+$qSupported#37-") == [.ack, .packet(Array("qSupported".utf8)), .nack])
        #expect(decode("$OK#9A") == [.packet(Array("OK".utf8))], "upper-case checksum digits")
    }

    @Test func badChecksumIsCorrupt() {
        let events = decode("$OK#9b")
        #expect(events.count == 1)
        if case .corrupt(let why)? = events.first { #expect(why.contains("9b")) } else { Issue.record("\(events)") }
        #expect(decode("$OK#zz").count == 1)
    }

    @Test func runLengthExpands() {
        // "0* " is '0' plus 32 - 29 = 3 more; "x*!" is x plus 4 more (E.1's own example).
        #expect(GDBPacket.decodePayload(Array("0* ".utf8)) == Array("0000".utf8))
        #expect(GDBPacket.decodePayload(Array("ax*!b".utf8)) == Array("axxxxxb".utf8))
        let raw = Array("0*\"".utf8)   // count 34 - 29 = 5
        #expect(decode("$" + String(decoding: raw, as: UTF8.self) + "#" + GDBHex.byte(GDBPacket.checksum(raw)))
                == [.packet(Array("000000".utf8))])
    }

    @Test func malformedRepeatsAndEscapesAreRejected() {
        #expect(GDBPacket.decodePayload(Array("*!".utf8)) == nil, "repeat with nothing before it")
        #expect(GDBPacket.decodePayload(Array("a*".utf8)) == nil, "repeat without a count")
        #expect(GDBPacket.decodePayload([UInt8(ascii: "a"), UInt8(ascii: "*"), 0x1F]) == nil, "count below 3")
        #expect(GDBPacket.decodePayload(Array("ab}".utf8)) == nil, "escape at the end")
        let raw = Array("ab}".utf8)
        let events = decode("$ab}#" + GDBHex.byte(GDBPacket.checksum(raw)))
        if case .corrupt? = events.first {} else { Issue.record("\(events)") }
    }

    @Test func ctrlCOutsideAPacketIsAnInterrupt() {
        var decoder = GDBPacketDecoder()
        #expect(decoder.feed(0x03) == .interrupt)
        // Inside a packet it is just a byte.
        _ = decoder.feed(UInt8(ascii: "$"))
        #expect(decoder.feed(0x03) == nil)
    }

    @Test func noiseIsIgnoredAndDollarRestarts() {
        #expect(decode("garbage$junk$OK#9a") == [.packet(Array("OK".utf8))])
    }

    @Test func overlongPacketIsDropped() {
        var decoder = GDBPacketDecoder()
        var events: [GDBPacketDecoder.Event] = []
        if let event = decoder.feed(UInt8(ascii: "$")) { events.append(event) }
        for _ in 0...GDBPacketDecoder.maximumPayload { if let event = decoder.feed(UInt8(ascii: "a")) { events.append(event) } }
        #expect(events.count == 1)
        // The decoder recovers for the next packet.
        #expect(Array("$OK#9a".utf8).compactMap { decoder.feed($0) } == [.packet(Array("OK".utf8))])
    }

    @Test func hexHelpers() {
        #expect(GDBHex.decode("00ff7A") == [0, 255, 0x7A])
        #expect(GDBHex.decode("abc") == nil)
        #expect(GDBHex.decode("zz") == nil)
        #expect(GDBHex.number("ffffffff81000000") == 0xFFFF_FFFF_8100_0000)
        #expect(GDBHex.number("") == nil)
        #expect(GDBHex.number("1ffffffffffffffff") == nil)
        #expect(GDBHex.littleEndian(0x1122334455667788, size: 8) == "8877665544332211")
    }
}
