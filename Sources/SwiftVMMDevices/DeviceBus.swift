import Logging
import Synchronization
import SwiftVMMSupport

/// Places devices in an address space (I/O ports or guest-physical MMIO) and routes
/// accesses to them as offsets. Overlapping and empty ranges are refused at placement.
/// Placement happens before the vCPUs start; afterwards the bus is only read.
public final class DeviceBus<Device>: @unchecked Sendable {
    public struct Placement {
        public let range: Range<UInt64>
        public let device: Device
    }

    /// Sorted by address; written only before the machine runs and only read after, so the
    /// per-access exclusivity check (a runtime call on every exit) is turned off.
    @exclusivity(unchecked) private var placements: [Placement] = []
    /// For addresses below `directLimit` (the whole I/O port space): the position + 1 in
    /// `placements` of the device holding each one, 0 for none, so that a port exit finds its
    /// device with one load instead of a binary search. Built at placement; stays empty on a
    /// bus with nothing down there (MMIO), or with too many devices there for a byte.
    @exclusivity(unchecked) private var directIndex: [UInt8] = []
    private static var directLimit: UInt64 { 0x1_0000 }
    /// Accesses that found no device, for the exit statistics and the debug log.
    let unhandled = Atomic<UInt64>(0)
    /// Where unhandled accesses are logged (debug level).
    private let logger: Logger?
    /// Decided once: reading the logger's level on every access would copy its handler.
    private let logsUnhandled: Bool
    private let name: String

    /// `name` ("port", "MMIO") labels unhandled accesses in the debug log.
    public init(name: String = "bus", logger: Logger? = nil) {
        self.name = name
        self.logger = logger
        logsUnhandled = logger.map { $0.logLevel <= .debug } ?? false
    }

    /// Counts an access no device answered and logs it at debug level.
    private func noDevice(_ address: UInt64, _ size: Int, write value: UInt64?) {
        unhandled.add(1, ordering: .relaxed)
        if logsUnhandled, let logger {
            let what = value.map { "write of \(hex($0)) to" } ?? "read of"
            logger.debug("unhandled \(size)-byte \(what) \(name) \(hex(address))")
        }
    }

    public func place(_ device: Device, at base: UInt64, count: UInt64) throws(DevicePlacementError) {
        let range = base..<base + count
        guard !range.isEmpty else { throw .empty(range) }
        if let existing = placements.first(where: { $0.range.overlaps(range) }) {
            throw .overlap(range, existing.range)
        }
        placements.append(Placement(range: range, device: device))
        placements.sort { $0.range.lowerBound < $1.range.lowerBound }
        rebuildDirectIndex()
    }

    /// Positions shift as placements are inserted, so every low placement is written again.
    private func rebuildDirectIndex() {
        let low = placements.prefix { $0.range.lowerBound < Self.directLimit }
        guard !low.isEmpty, low.count < Int(UInt8.max) else {
            directIndex = []
            return
        }
        if directIndex.isEmpty { directIndex = [UInt8](repeating: 0, count: Int(Self.directLimit)) }
        for (position, placement) in low.enumerated() {
            for address in placement.range.clamped(to: 0..<Self.directLimit) {
                directIndex[Int(address)] = UInt8(position + 1)
            }
        }
    }

    /// The device at `address` and the offset into it.
    public func find(_ address: UInt64) -> (device: Device, offset: UInt64)? {
        if address < UInt64(directIndex.count) {
            let position = Int(directIndex[Int(address)])
            guard position > 0 else { return nil }
            let placement = placements[position - 1]
            return (placement.device, address - placement.range.lowerBound)
        }
        var low = 0, high = placements.count
        while low < high {
            let middle = (low + high) / 2
            let range = placements[middle].range
            if address < range.lowerBound { high = middle }
            else if address >= range.upperBound { low = middle + 1 }
            else { return (placements[middle].device, address - range.lowerBound) }
        }
        return nil
    }
}

/// Why a device could not be placed on a bus.
public enum DevicePlacementError: Error, Equatable, CustomStringConvertible {
    case empty(Range<UInt64>)
    case overlap(Range<UInt64>, Range<UInt64>)
    public var description: String {
        switch self {
        case .empty(let range): "empty device range at \(hex(range.lowerBound))"
        case .overlap(let new, let old):
            "device range \(hex(new.lowerBound))-\(hex(new.upperBound)) overlaps \(hex(old.lowerBound))-\(hex(old.upperBound))"
        }
    }
}

public typealias PortBus = DeviceBus<any PortDevice>
public typealias MMIOBus = DeviceBus<any MMIODevice>

extension DeviceBus where Device == any PortDevice {
    /// A port read; all ones where no device answers (an open ISA bus).
    public func read(port: UInt16, size: Int) -> UInt32 {
        guard let (device, offset) = find(UInt64(port)) else {
            noDevice(UInt64(port), size, write: nil)
            return size == 4 ? 0xFFFF_FFFF : (1 << (size * 8)) - 1
        }
        return device.read(offset: UInt16(offset), size: size)
    }

    /// A port write; dropped where no device listens.
    public func write(port: UInt16, size: Int, value: UInt32) {
        guard let (device, offset) = find(UInt64(port)) else {
            noDevice(UInt64(port), size, write: UInt64(value))
            return
        }
        device.write(offset: UInt16(offset), size: size, value: value)
    }
}

extension DeviceBus where Device == any MMIODevice {
    /// An MMIO read; all ones where no device answers.
    public func read(address: UInt64, size: Int) -> UInt64 {
        guard let (device, offset) = find(address) else {
            noDevice(address, size, write: nil)
            return size == 8 ? .max : (1 << UInt64(size * 8)) - 1
        }
        return device.read(offset: offset, size: size)
    }

    /// An MMIO write; dropped where no device listens.
    public func write(address: UInt64, size: Int, value: UInt64) {
        guard let (device, offset) = find(address) else {
            noDevice(address, size, write: value)
            return
        }
        device.write(offset: offset, size: size, value: value)
    }
}
