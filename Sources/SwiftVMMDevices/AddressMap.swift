/// The address arithmetic of a `DeviceBus`: its ranges in address order, none overlapping,
/// and for the I/O port space a direct index from each address to its range.
///
/// It does not know the bus's device type, on purpose. The methods of a generic class that
/// another module calls run as unspecialized generic code. When placement ran that way, the
/// sort and the loops made the Swift runtime build type metadata from mangled names and scan
/// every conformance record: 2.4 M of the 6.5 M user instructions of a hello boot
/// (callgrind, 2026-12-07). Kept concrete, it runs as compiled code.
struct AddressMap {
    /// Sorted by lower bound; the bus keeps its devices in the same order.
    private(set) var ranges: [Range<UInt64>] = []
    /// For addresses below `directLimit`: the position + 1 in `ranges` of the range holding
    /// each one, 0 for none, so that a port exit finds its device with one load instead of a
    /// binary search. Stays empty when nothing lies down there (MMIO), or when too many
    /// ranges do for a byte.
    private var directIndex: [UInt8] = []
    /// The ISA ports below 0x1000 hold every device a guest talks to often (PIC, PIT, CMOS,
    /// UARTs, the reset register, fw_cfg, ACPI PM, debug exit); the few above (Bochs's 0x8900
    /// and 0xB004, pc-testdev's 0x2000, debug-exit ports placed up there) take the binary
    /// search. One page of index, not sixteen: each page costs a boot a page fault (15 of a
    /// hello boot's 292 went to zeroing a 64 KiB index).
    private static var directLimit: UInt64 { 0x1000 }

    /// Adds `range` and returns its position in `ranges`, where the bus inserts the device.
    mutating func insert(_ range: Range<UInt64>) throws(DevicePlacementError) -> Int {
        guard !range.isEmpty else { throw .empty(range) }
        for existing in ranges where existing.overlaps(range) {
            throw .overlap(range, existing)
        }
        var position = 0
        while position < ranges.count, ranges[position].lowerBound < range.lowerBound {
            position += 1
        }
        ranges.insert(range, at: position)
        rebuildDirectIndex()
        return position
    }

    /// Positions shift as ranges are inserted, so every low range is written again.
    private mutating func rebuildDirectIndex() {
        var lowCount = 0
        while lowCount < ranges.count, ranges[lowCount].lowerBound < Self.directLimit {
            lowCount += 1
        }
        guard lowCount > 0, lowCount < Int(UInt8.max) else {
            directIndex = []
            return
        }
        if directIndex.isEmpty { directIndex = [UInt8](repeating: 0, count: Int(Self.directLimit)) }
        for position in 0..<lowCount {
            for address in ranges[position].clamped(to: 0..<Self.directLimit) {
                directIndex[Int(address)] = UInt8(position + 1)
            }
        }
    }

    /// The position of the range holding `address`, and the offset into it.
    func find(_ address: UInt64) -> (position: Int, offset: UInt64)? {
        if address < UInt64(directIndex.count) {
            let position = Int(directIndex[Int(address)])
            guard position > 0 else { return nil }
            return (position - 1, address - ranges[position - 1].lowerBound)
        }
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            let range = ranges[middle]
            if address < range.lowerBound { high = middle }
            else if address >= range.upperBound { low = middle + 1 }
            else { return (middle, address - range.lowerBound) }
        }
        return nil
    }
}
