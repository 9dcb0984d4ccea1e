import SwiftVMMSupport

/// Guest memory as a DMA-capable device sees it.
public protocol DMAMemory: Sendable {
    func read(at address: UInt64, count: Int) throws -> [UInt8]
    func write(_ bytes: [UInt8], at address: UInt64) throws
}

/// QEMU's firmware configuration device (fw_cfg) on the x86 I/O ports (QEMU
/// docs/specs/fw_cfg.rst), serving `FirmwareConfigItems`:
///
/// - **selector** (port 0x510, 16-bit write): chooses an item and rewinds to its first byte.
///   The write-channel and architecture bits (0x4000, 0x8000) are ignored.
/// - **data** (port 0x511, byte read): the next byte of the item; past its end, or for a
///   key with no item, 0. Writes are ignored (QEMU dropped data-port writes in 2.4).
/// - **DMA address** (ports 0x514–0x51B, big-endian): a 32-bit write of the high half at
///   0x514, then of the low half at 0x518, starts a transfer described by the
///   `FWCfgDmaAccess` at that guest address (be32 control, be32 length, be64 address);
///   the control word is written back 0 when done, or with the error bit. Reading the
///   DMA ports gives the signature "QEMU CFG".
///
/// The selector and offset are one state for the whole machine, as in QEMU.
public final class FirmwareConfig: Sendable {
    /// `FWCfgDmaAccess.control` bits (fw_cfg.rst, "FW_CFG_DMA_CTL_*").
    enum DMAControl {
        static let error: UInt32 = 0x01
        static let read: UInt32 = 0x02
        static let skip: UInt32 = 0x04
        static let select: UInt32 = 0x08
        static let write: UInt32 = 0x10
    }
    /// What a read of the DMA address register returns, big-endian: "QEMU CFG".
    static let dmaSignature: UInt64 = 0x5145_4D55_2043_4647
    /// Selector bits that are not part of the key (FW_CFG_WRITE_CHANNEL, FW_CFG_ARCH_LOCAL).
    static let keyMask: UInt16 = 0x3FFF

    package struct State: Sendable, Equatable, Codable {
        var key: UInt16 = 0
        var offset = 0
        var dmaAddressHigh: UInt32 = 0
    }

    private let items: FirmwareConfigItems
    private let memory: (any DMAMemory)?
    let state = AnnotatedMutex(State())

    /// `memory` is what DMA transfers read and write; nil disables DMA (and the ID item
    /// should then say so).
    public init(items: FirmwareConfigItems, memory: (any DMAMemory)?) {
        self.items = items
        self.memory = memory
    }

    /// Ports 0x510 (selector) and 0x511 (data).
    public var selectorAndData: any PortDevice { SelectorAndData(device: self) }
    /// Ports 0x514–0x51B.
    public var dma: any PortDevice { DMAAddress(device: self) }

    // MARK: The traditional interface

    func select(_ key: UInt16) {
        state.withLock { $0.key = key & Self.keyMask; $0.offset = 0 }
    }

    func readByte() -> UInt8 {
        state.withLock { state in
            let item = items[state.key]
            let byte = state.offset < item.count ? item[state.offset] : 0
            state.offset += 1
            return byte
        }
    }

    private final class SelectorAndData: PortDevice {
        let device: FirmwareConfig
        init(device: FirmwareConfig) { self.device = device }
        func read(offset: UInt16, size: Int) -> UInt32 { offset == 1 ? UInt32(device.readByte()) : 0 }
        func write(offset: UInt16, size: Int, value: UInt32) {
            if offset == 0, size == 2 { device.select(UInt16(truncatingIfNeeded: value)) }
        }
    }

    // MARK: The DMA interface

    private final class DMAAddress: PortDevice {
        let device: FirmwareConfig
        init(device: FirmwareConfig) { self.device = device }

        func read(offset: UInt16, size: Int) -> UInt32 {
            // The register is big-endian: byte `offset` is the signature's byte `offset`.
            let bytes = FirmwareConfig.dmaSignature.bigEndianBytes
            var value: UInt32 = 0
            for i in 0..<size where Int(offset) + i < 8 { value |= UInt32(bytes[Int(offset) + i]) << (8 * i) }
            return value
        }

        func write(offset: UInt16, size: Int, value: UInt32) {
            guard size == 4, device.memory != nil else { return }
            let half = value.byteSwapped        // a big-endian register written with `outl`
            switch offset {
            case 0: device.state.withLock { $0.dmaAddressHigh = half }
            case 4: device.transfer(at: UInt64(device.state.withLock { $0.dmaAddressHigh }) << 32 | UInt64(half))
            default: break
            }
        }
    }

    /// Runs the `FWCfgDmaAccess` at `descriptor` (fw_cfg.rst "DMA interface"; the loop
    /// follows QEMU's fw_cfg_dma_transfer). Memory errors set the error bit.
    func transfer(at descriptor: UInt64) {
        guard let memory else { return }
        guard let raw = try? memory.read(at: descriptor, count: 16) else { return }
        var control = UInt32(bigEndianBytes: raw[0..<4])
        var length = UInt32(bigEndianBytes: raw[4..<8])
        var address = UInt64(bigEndianBytes: raw[8..<16])
        if control & DMAControl.select != 0 { select(UInt16(truncatingIfNeeded: control >> 16)) }
        let reading = control & DMAControl.read != 0
        let writing = !reading && control & DMAControl.write != 0
        if !reading && !writing && control & DMAControl.skip == 0 { length = 0 }

        control = 0
        state.withLock { state in
            while length > 0 && control & DMAControl.error == 0 {
                let item = items[state.key]
                let available = max(item.count - state.offset, 0)
                // Past the end a read fills zeros, in pieces so a huge length costs no
                // huge buffer; a skip just ends.
                let count = min(Int(length), available > 0 ? available : reading ? 1 << 16 : Int(length))
                if writing {
                    control |= DMAControl.error                         // no item is writable
                    break
                }
                if reading {
                    let bytes = available == 0 ? [UInt8](repeating: 0, count: count)
                                               : Array(item[state.offset..<state.offset + count])
                    if (try? memory.write(bytes, at: address)) == nil { control |= DMAControl.error }
                }
                if available > 0 { state.offset += count }
                address &+= UInt64(count)
                length -= UInt32(count)
            }
        }
        try? memory.write(control.bigEndianBytes, at: descriptor)
    }
}

extension FixedWidthInteger {
    init(bigEndianBytes bytes: ArraySlice<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | Self($1) }
    }
}
