import Logging
import Synchronization
import SwiftVMMSupport

/// Places devices in an address space (I/O ports or guest-physical MMIO) and routes
/// accesses to them as offsets. Overlapping and empty ranges are refused at placement.
/// Placement happens before the vCPUs start; afterwards the bus is only read.
public final class DeviceBus<Device>: @unchecked Sendable {
    /// Written only before the machine runs and only read after, so the per-access
    /// exclusivity checks (a runtime call on every exit) are turned off.
    @exclusivity(unchecked) private var map = AddressMap()
    /// The device of each of `map`'s ranges, in the same order.
    @exclusivity(unchecked) private var devices: [Device] = []
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
        devices.insert(device, at: try map.insert(base..<base + count))
    }

    /// The device at `address` and the offset into it.
    public func find(_ address: UInt64) -> (device: Device, offset: UInt64)? {
        guard let (position, offset) = map.find(address) else { return nil }
        return (devices[position], offset)
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
