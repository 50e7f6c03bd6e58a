import HotlineCore
import HotlineStore
import HotlineTime
import NIOCore

/// `export`: the shift-end summary's pages (PROTOCOL.md section 11).
extension Dispatcher {
    func export(_ query: ExportQuery, reason: String?, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        if let missing = missingReason("export", reason, allowedBy: Access.export.allowing(peer.roles)) {
            return loop.makeFailedFuture(missing)
        }
        let settings = configuration.shifts
        let routes = (configuration.routes + [configuration.unrouted]).map(RouteReporting.init)
        let now = clock()
        return audited(peer, "export", subject: ["filter": Self.exportFilter(query)], reason: reason, on: loop) {
            store throws(HotlineError) in
            let window = try Self.window(of: query, settings: settings, now: now)
            let page = try Self.storage(store) {
                try store.exportPage(from: window.from, to: window.to, afterSeq: query.afterSeq, limit: query.limit)
            }
            var answer = ExportAnswer(shift: window, calls: page.calls, nextAfterSeq: page.nextAfterSeq)
            var disclosed: [String: JSONValue] = [
                "from": .string(window.from.rfc3339), "to": .string(window.to.rfc3339), "calls": .int(Int64(page.calls.count)),
            ]
            // What the whole export needs once, beside its calls: on the first page. A month,
            // or a report that asks for none, has no handover (it is a shift's).
            if query.afterSeq == nil {
                answer.routes = routes
                if case .month = query.window {
                } else if query.handover {
                    let asOf = min(window.to, now)
                    let handover = try Self.storage(store) {
                        try store.handover(from: window.from, to: window.to, asOf: asOf, limit: Self.handoverListLimit)
                    }
                    answer.handover = handover
                    // The handover's calls are disclosed too, from outside the window: named.
                    disclosed["handover_call_ids"] = .array((handover.open + handover.withoutOutcome).map { .string($0.callID) })
                }
            }
            return (answer.json, disclosed)
        }
    }

    /// How many calls each handover list carries (the counts are exact).
    static let handoverListLimit = 500

    /// The export's request as its audit entry records it.
    static func exportFilter(_ query: ExportQuery) -> JSONValue {
        var m: [String: JSONValue] = ["limit": .int(Int64(query.limit))]
        switch query.window {
        case .shift(let spec): m["shift"] = .string(spec)
        case .month(let month): m["month"] = .string(month)
        case .range(let from, let to):
            m["from"] = .string(from.rfc3339)
            m["to"] = .string(to.rfc3339)
        }
        if let after = query.afterSeq { m["after_seq"] = .int(after) }
        if !query.handover { m["handover"] = false }
        return .object(m)
    }

    /// The instants an export covers: the named shift on the configured calendar, or the range.
    static func window(of query: ExportQuery, settings: ShiftSettings, now: Timestamp) throws(HotlineError) -> ShiftWindow {
        switch query.window {
        case .range(let from, let to):
            return ShiftWindow(name: nil, date: nil, from: from, to: to, timezone: settings.timezone)
        case .month(let month):
            guard let calendar = settings.calendar else {
                throw HotlineError(.storage, "The configured timezone \(settings.timezone) is not in the system's timezone database.")
            }
            do {
                return try calendar.window(month: month)
            } catch {
                throw HotlineError(.invalid, "Cannot report that month: \(error.description).", field: "month")
            }
        case .shift(let spec):
            guard let calendar = settings.calendar else {
                throw HotlineError(.storage, "The configured timezone \(settings.timezone) is not in the system's timezone database.")
            }
            do {
                return try calendar.resolve(spec, now: now)
            } catch {
                throw HotlineError(.invalid, "Cannot export that shift: \(error.description).", field: "shift")
            }
        }
    }
}
