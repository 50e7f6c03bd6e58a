import DequeModule
import NIOCore
import Synchronization

/// The connections of one event loop that gave up their turn with lines still to handle
/// (``ConnectionHandler/linesPerTurn``): each gets one more turn per round, in the order they
/// yielded; a round ends after ``roundBudget`` (those not reached go first in the next),
/// and the next starts a millisecond after it *ended*, so the loop reads its sockets
/// between any two rounds and a quiet workstation's line waits for at most about one.
///
/// Each connection scheduling its own return a millisecond later was not enough: NIO runs
/// every task that is due before it looks at I/O again, with no cap, and with 32 flooding
/// connections on a loop a round of their returns took longer than the millisecond, so
/// another return was always due. The loop then read no socket until the flooders' budgets
/// filled, and a quiet workstation's line on it sat unread for 120-380 ms, about once a
/// second (Benchmarks/hostile.sh, flood without `calls.list`).
final class TurnQueue {
    private let loop: any EventLoop
    private var waiting: Deque<() -> Void> = []
    /// A round is scheduled or running: appends made meanwhile wait for the next one.
    private var scheduled = false
    /// How long one round may go on taking turns.
    static let roundBudget = TimeAmount.milliseconds(2)

    private init(loop: any EventLoop) {
        self.loop = loop
    }

    /// One queue per event loop, made on first use.
    private static let queues = Mutex<[ObjectIdentifier: NIOLoopBound<TurnQueue>]>([:])

    /// The queue of `loop`; call on that loop.
    static func of(_ loop: any EventLoop) -> TurnQueue {
        loop.preconditionInEventLoop()
        let key = ObjectIdentifier(loop as AnyObject)
        if let queue = queues.withLock({ $0[key] }) { return queue.value }
        let queue = TurnQueue(loop: loop)
        queues.withLock { $0[key] = NIOLoopBound(queue, eventLoop: loop) }
        return queue
    }

    /// Whether connections are waiting for a turn (or a round is under way).
    var isBusy: Bool { scheduled || !waiting.isEmpty }

    /// Runs `resume` in the next round. Call on the queue's loop.
    func append(_ resume: @escaping () -> Void) {
        waiting.append(resume)
        scheduleRound()
    }

    private func scheduleRound() {
        guard !scheduled, !waiting.isEmpty else { return }
        scheduled = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .milliseconds(1)) {
            let queue = bound.value
            // Those that yield again during this round wait for the next one, which is
            // scheduled only once this one has ended.
            var round = queue.waiting
            queue.waiting.removeAll()
            let end = NIODeadline.now() + Self.roundBudget
            while let resume = round.popFirst() {
                resume()
                if NIODeadline.now() >= end { break }
            }
            queue.waiting.prepend(contentsOf: round)
            queue.scheduled = false
            queue.scheduleRound()
        }
    }
}
