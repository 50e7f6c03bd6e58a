import NIOCore
import NIOEmbedded
import Testing

@testable import HotlineServer

/// Connections that gave up their turn are served one turn each per round, a round a
/// millisecond after the last one ended, and never all in one go (issue 12: the loop must
/// read its sockets between rounds).
@Suite struct TurnQueueTests {
    final class Log {
        var entries: [String] = []
    }

    @Test func aConnectionThatYieldsAgainWaitsForTheNextRound() {
        let loop = EmbeddedEventLoop()
        let queue = TurnQueue.of(loop)
        let log = Log()
        func turn(_ name: String, again: Int) {
            queue.append {
                log.entries.append(name)
                if again > 0 { turn(name, again: again - 1) }
            }
        }
        turn("a", again: 2)
        turn("b", again: 0)
        #expect(queue.isBusy)
        #expect(log.entries.isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(log.entries == ["a", "b"])
        // "a" yielded again during the round: not served until a millisecond after it.
        loop.advanceTime(by: .microseconds(999))
        #expect(log.entries == ["a", "b"])
        loop.advanceTime(by: .microseconds(1))
        #expect(log.entries == ["a", "b", "a"])
        loop.advanceTime(by: .milliseconds(1))
        #expect(log.entries == ["a", "b", "a", "a"])
        loop.advanceTime(by: .milliseconds(5))
        #expect(log.entries.count == 4)
        #expect(!queue.isBusy)
    }

    @Test func aRoundPastItsBudgetLeavesTheRestFirstForTheNext() {
        let loop = EmbeddedEventLoop()
        let queue = TurnQueue.of(loop)
        let log = Log()
        for name in ["slow", "b", "c"] {
            queue.append {
                log.entries.append(name)
                if name == "slow" {
                    // Longer than a round's budget.
                    let end = NIODeadline.now() + TurnQueue.roundBudget + .milliseconds(1)
                    while NIODeadline.now() < end {}
                    queue.append { log.entries.append("late") }
                }
            }
        }
        loop.advanceTime(by: .milliseconds(1))
        #expect(log.entries == ["slow"])
        loop.advanceTime(by: .milliseconds(1))
        // Those the last round did not reach come before one that yielded during it.
        #expect(log.entries == ["slow", "b", "c", "late"])
    }
}
