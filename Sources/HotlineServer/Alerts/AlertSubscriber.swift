import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix

/// One subscribed connection: its backlog, read and written a page at a time as the
/// console reads, then every alert as it is published. Its state lives on the
/// connection's event loop.
///
/// Every push, backlog or live, counts against one bounded queue (`alerts.subscriber_queue`):
/// pushes written and not yet taken by the socket, plus live alerts held back until the
/// backlog is out; a console that lets it overflow is disconnected. The backlog takes at
/// most half of it: a page is read only when the backlog pushes written have drained to a
/// quarter of the queue (the console is reading), and tops them up to half.
///
/// `@unchecked Sendable`: the hub publishes from the writer's thread, so the type must be
/// Sendable, but every mutable field is touched only on `channel.eventLoop`: each entry
/// point that can be called from elsewhere (``push(_:)``, the backlog's futures) hops
/// there first (`eventLoop.execute` / futures completed on it) before reading or writing
/// state. NIOLoopBound would check that at run time on every push.
final class AlertSubscriber: @unchecked Sendable {
    private let channel: any Channel
    private let limit: Int
    private let logger: Logger
    private let source: AlertBacklogSource

    private enum Phase {
        /// Subscribed; the backlog is being counted.
        case counting
        /// The backlog is being written, page by page.
        case paging(AlertBacklog)
        case live
    }
    private var phase = Phase.counting
    /// Until the backlog is written, live alerts wait here so nothing comes out of order.
    private var held: [Alert] = []
    /// The backlog counted, before `sendBacklog()` starts writing it.
    private var counted: AlertBacklog?
    /// The last backlog alert written: the next page starts after it.
    private var last: Alert?
    private var sent = 0
    private var reading = false
    private var unwritten = 0
    private var closed = false

    init(channel: any Channel, limit: Int, logger: Logger, backlog source: AlertBacklogSource) {
        self.channel = channel
        self.limit = limit
        self.logger = logger
        self.source = source
    }

    func push(_ alerts: [Alert]) {
        channel.eventLoop.execute { self.deliver(alerts) }
    }

    /// Counts the backlog, off the event loop; `sendBacklog()` then writes it.
    func countBacklog() -> EventLoopFuture<Int> {
        source.count(on: channel.eventLoop).map { backlog in
            self.counted = backlog
            return backlog.count
        }
    }

    /// Writes the backlog just counted (oldest first), then whatever was published
    /// meanwhile, and goes live. Call once the answer with the count is written.
    func sendBacklog() {
        channel.eventLoop.preconditionInEventLoop()
        guard let backlog = counted, case .counting = phase else { return }
        phase = .paging(backlog)
        // What was published before the first page is read and belongs to the backlog
        // (raised before it was counted) is in that page or a later one, at its level or
        // higher: only what was raised after the count is still owed.
        held.removeAll { $0.seq <= backlog.lastSeq }
        if backlog.count == 0 { finishBacklog() } else { readNextPage() }
        channel.flush()
    }

    /// Goes live without a backlog (it could not be read).
    func goLive() {
        channel.eventLoop.preconditionInEventLoop()
        guard case .counting = phase else { return }
        finishBacklog()
        channel.flush()
    }

    private func deliver(_ alerts: [Alert]) {
        switch phase {
        case .live:
            for alert in alerts { write(alert) }
            channel.flush()
        case .counting:
            held += alerts
            checkHeld()
        case .paging(let backlog):
            held += alerts.filter { isOwed($0, beside: backlog) }
            checkHeld()
        }
    }

    /// Whether a push published while the backlog is being written must still be sent
    /// after it; a push of a level that a page shows (or will) would be a repeat.
    private func isOwed(_ alert: Alert, beside backlog: AlertBacklog) -> Bool {
        // Raised after the count: never in the backlog.
        guard alert.seq <= backlog.lastSeq else { return true }
        // A new alert's first push, late: it is in the backlog at level 1 or higher.
        if alert.level == 1 { return false }
        // An escalation of an alert already written: the page held it at a lower level,
        // or this push would have reached us before the page (AlertHub.escalationOrder).
        if let last, !AlertBacklog.order(last, alert) { return true }
        // Not yet written: a page read from now on shows it at this level or higher; one
        // under way may not, and is checked against when it arrives.
        return reading
    }

    /// Held pushes count against the queue like written ones.
    private func checkHeld() {
        if unwritten + held.count > limit { tooFarBehind() }
    }

    private func readNextPage() {
        guard case .paging(let backlog) = phase, !reading, !closed, channel.isActive, sent < backlog.count else { return }
        // The backlog fills at most half the queue: the other half is room for alerts
        // raised meanwhile, which wait behind it, so a console that pauses is not cut off
        // by the first of them. The next page waits until the console has read half of
        // what was written, so pages are not of one push at a time.
        let share = max(1, limit / 2)
        guard unwritten <= share / 2 else { return }
        let size = min(share - unwritten, backlog.count - sent)
        reading = true
        source.page(backlog, after: last, limit: size, on: channel.eventLoop).whenComplete { result in
            self.reading = false
            switch result {
            case .success(let page): self.write(page: page, asked: size, of: backlog)
            case .failure(let error):
                self.logger.error("cannot read an alert subscriber's backlog: \(error)")
                self.close(reason: "The unacknowledged alerts could not be read; reconnect and subscribe again.")
            }
        }
    }

    private func write(page: [Alert], asked: Int, of backlog: AlertBacklog) {
        guard !closed else { return }
        // Escalations held while this page was read: those it shows at their level or
        // higher are repeats; those past its end are in a later page, read from now on.
        let levels = Dictionary(page.map { ($0.id, $0.level) }, uniquingKeysWith: max)
        let from = last
        held.removeAll { alert in
            guard alert.seq <= backlog.lastSeq, from.map({ AlertBacklog.order($0, alert) }) ?? true else { return false }
            if let end = page.last, !AlertBacklog.order(end, alert) { return levels[alert.id].map { $0 >= alert.level } ?? false }
            return true
        }
        for alert in page { write(alert) }
        last = page.last ?? last
        sent += page.count
        if sent >= backlog.count || page.count < asked {
            if sent < backlog.count {
                // Only a retention purge removes unacknowledged alerts.
                logger.notice("an alert subscriber's backlog of \(backlog.count) held only \(sent) (alerts were purged)")
            }
            finishBacklog()
        }
        channel.flush()
        readNextPage()
    }

    private func finishBacklog() {
        phase = .live
        let waiting = held
        held = []
        for alert in waiting { write(alert) }
    }

    private func tooFarBehind() {
        // Too far behind: it gets everything unacknowledged again when it reconnects.
        logger.warning("disconnecting an alert subscriber that fell \(unwritten + held.count) alerts behind")
        close(
            reason:
                "You fell more than \(limit) alerts behind (alerts.subscriber_queue); reconnect and subscribe to get every unacknowledged alert."
        )
    }

    func disconnect(reason: String) {
        channel.eventLoop.execute { self.close(reason: reason) }
    }

    /// Sends `{"push": "disconnect", "reason": …}` and closes the connection.
    private func close(reason: String) {
        guard !closed else { return }
        closed = true
        held = []
        var bytes = JSONWriter.bytes(Push.disconnect(reason: reason).json)
        bytes.append(0x0A)
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
        channel.close(promise: nil)
    }

    private func write(_ alert: Alert) {
        guard !closed else { return }
        if unwritten + held.count >= limit {
            tooFarBehind()
            return
        }
        var bytes = JSONWriter.bytes(alert.pushFrame)
        bytes.append(0x0A)
        unwritten += 1
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in
            self.unwritten -= 1
            self.readNextPage()
        }
        channel.write(channel.allocator.buffer(bytes: bytes), promise: promise)
    }
}

/// Where a subscriber reads its backlog: the store, on the reader threads (the pool of
/// short reads, never an event loop).
struct AlertBacklogSource: Sendable {
    let store: any CallLog
    let readers: NIOThreadPool
    let hub: AlertHub

    func count(on loop: any EventLoop) -> EventLoopFuture<AlertBacklog> {
        let store = self.store
        return readers.runIfActive(eventLoop: loop) { try store.alertBacklog() }
    }

    func page(
        _ backlog: AlertBacklog, after last: Alert?, limit: Int, on loop: any EventLoop
    ) -> EventLoopFuture<[Alert]> {
        let (store, hub) = (self.store, self.hub)
        return readers.runIfActive(eventLoop: loop) {
            try hub.readBacklogPage { try store.alertBacklogPage(backlog, after: last, limit: limit) }
        }
    }
}
