import Foundation
import Testing
@testable import SwiftVMMSupport

/// How snapshot files keep KVM's structs: two lowercase digits a byte, words little-endian.
struct SnapshotHexBytesTests {
    struct Box: Codable, Equatable { var value: HexBytes }

    func decode(_ text: String) -> HexBytes? {
        try? JSONDecoder().decode(Box.self, from: Data("{\"value\": \"\(text)\"}".utf8)).value
    }

    @Test func roundTripsEveryByte() throws {
        let all = HexBytes((0...255).map { UInt8($0) })
        let json = try JSONEncoder().encode(Box(value: all))
        #expect(String(decoding: json, as: UTF8.self).contains("\"000102"))
        #expect(try JSONDecoder().decode(Box.self, from: json).value == all)
        #expect(decode("")?.bytes == [])
        #expect(decode("00ff7a")?.bytes == [0x00, 0xFF, 0x7A])
    }

    @Test("refused", arguments: ["0", "abc", "0g", "FF", "0x12", " 12", "1é"])
    func refusesWhatIsNotLowercaseHexPairs(_ text: String) {
        #expect(decode(text) == nil)
    }

    @Test func wordsAreLittleEndian() {
        let hex = HexBytes(words: [0x1122_3344, 0xFFFF_FFFF, 0])
        #expect(hex.bytes == [0x44, 0x33, 0x22, 0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
        #expect(hex.words == [0x1122_3344, 0xFFFF_FFFF, 0])
        #expect(HexBytes([1, 2, 3]).words == nil)
    }
}
