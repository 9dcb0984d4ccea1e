import Testing
@testable import SwiftVMM

/// The lock-free mailbox other threads post a vCPU's interrupts into.
struct InterruptInboxTests {
    @Test("two NMIs posted before the vCPU looks are two NMIs, not one flag")
    func nmisAreCounted() {
        let inbox = InterruptInbox()
        inbox.post(.nmi)
        inbox.post(.nmi)
        let first = inbox.take()
        #expect(first.events.contains(.nmi))
        #expect(first.nmis == 2)
        #expect(inbox.isEmpty)
        #expect(inbox.take().nmis == 0)
    }

    @Test("fixed vectors keep their trigger mode; events and the SIPI vector come along")
    func vectorsAndEvents() {
        let inbox = InterruptInbox()
        inbox.post(vector: 0x41)
        inbox.post(vector: 0x92, levelTriggered: true)
        inbox.post(.startup, startupVector: 0x08)
        let taken = inbox.take()
        #expect(taken.events.contains(.startup) && taken.events.contains(.vectors))
        #expect(taken.startupVector == 0x08)
        #expect(taken.vectors.map(\.vector) == [0x41, 0x92])
        #expect(taken.vectors.map(\.levelTriggered) == [false, true])
        #expect(taken.nmis == 0)
    }
}
