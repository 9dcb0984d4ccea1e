import Testing
@testable import SwiftVMM

@Suite struct ChipsetTests {
    /// Regression (FuzzDevices leak check): the HPET and its interrupt routing referred to each
    /// other, so no chipset was ever freed.
    @Test func chipsetIsFreedWithItsDevices() {
        weak var hpet: HPET?
        weak var pit: PIT8254?
        do {
            let clock = FakeDeviceClock()
            let chipset = Chipset(ioAPICID: 1, pitTimer: clock.timer, hpetTimer: clock.timer, apicBus: APICBus(cpuCount: 1))
            hpet = chipset.hpet
            pit = chipset.pit
            #expect(hpet != nil && pit != nil)
        }
        #expect(hpet == nil, "HPET freed")
        #expect(pit == nil, "PIT freed")
    }
}
