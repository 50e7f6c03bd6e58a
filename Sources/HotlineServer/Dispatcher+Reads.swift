import HotlineCore
import HotlineStore
import NIOCore

/// `call.get`, `calls.list` and `stats`: the reads a handler's workstation makes too.
extension Dispatcher {
    func callGet(
        _ callID: String, notesAfter: Int64?, reason: String?, peer: Peer, on loop: any EventLoop
    ) -> EventLoopFuture<JSONValue> {
        let configuration = self.configuration
        // One answer carries at most this many notes; `notes_next` says where the rest begin.
        let limits = configuration.limits
        // The audit entry says which page was disclosed: the notes after `notes_after`
        // up to and including `notes_next` (to the end when there is none).
        var subject: [String: JSONValue] = ["call_ids": [.string(callID)]]
        if let notesAfter { subject["notes_after"] = .int(notesAfter) }
        // A reason needed even by the call's own handler is refused before the call is read;
        // otherwise whose call it is decides, once read.
        let access = Access.callReads
        if let missing = missingReason("call.get", reason, allowedBy: access.allowing(peer.roles, ownCall: true)) {
            return loop.makeFailedFuture(missing)
        }
        return audited(peer, "call.get", subject: subject, reason: reason, on: loop) { store throws(HotlineError) in
            let found = try Self.storage(store) {
                try store.call(
                    id: callID, notesAfter: notesAfter, maxNotes: limits.maxNotesPerAnswer, maxNoteBytes: limits.maxPageBytes)
            }
            guard let detail = found else {
                throw HotlineError(.notFound, "There is no call \(callID).", field: "call_id")
            }
            let own = detail.state.ownerUID == peer.uid
            if access.decide(peer.roles) == .ownCalls, !own {
                throw HotlineError(.forbidden, "A handler may read only the calls it started.", field: "call_id")
            }
            let allowing = access.allowing(peer.roles, ownCall: own)
            if reason == nil, configuration.reasonsRequired.isRequired(op: "call.get", allowedBy: allowing) {
                throw ReasonsRequired.missing(op: "call.get", allowedBy: allowing)
            }
            let answer = CallGetAnswer(
                call: CallRecord(
                    detail.state, notes: detail.notes, alerts: detail.alerts, recordedAt: detail.recordedAt, history: detail.history,
                    // Who held it and why are for those who may list holds.
                    hold: peer.roles.isDisjoint(with: Access.holdsList.roles) ? nil : detail.hold, held: detail.hold != nil),
                notesNext: detail.notesNext)
            return (answer.json, detail.notesNext.map { ["notes_next": .int($0)] } ?? [:])
        }
    }

    func callsList(
        _ query: CallsQuery, reason: String?, ownCallsOnly: Bool, peer: Peer, on loop: any EventLoop
    ) -> EventLoopFuture<JSONValue> {
        if let missing = missingReason("calls.list", reason, allowedBy: Access.callReads.allowing(peer.roles, ownCall: ownCallsOnly)) {
            return loop.makeFailedFuture(missing)
        }
        var filter = query.json.objectValue?.filter { $0.value != .null } ?? [:]
        if ownCallsOnly { filter["owner_uid"] = .int(Int64(peer.uid)) }
        return audited(peer, "calls.list", subject: ["filter": .object(filter)], reason: reason, on: loop) {
            store throws(HotlineError) in
            let page = try Self.storage(store) { try store.listCalls(query, ownerUID: ownCallsOnly ? peer.uid : nil) }
            let answer = CallsListAnswer(calls: page.calls.map(CallSummary.init), nextAfterSeq: page.nextAfterSeq)
            return (answer.json, ["call_ids": .array(page.calls.map { .string($0.id) })])
        }
    }

    func stats(on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        let connections = connectionCount
        let uptime = (ContinuousClock.now - startedAt).components.seconds
        let backlog = writer.backlog
        let subscribers = hub.count
        return read(on: loop) { store throws(HotlineError) in
            let counts = try Self.storage(store) { try store.counts() }
            return StatsAnswer(
                uptimeSeconds: uptime, connections: Int64(connections), events: counts.events, calls: counts.calls,
                callsOpen: counts.callsOpen, alertsUnacked: counts.alertsUnacked, writerBacklog: Int64(backlog),
                subscribers: Int64(subscribers), storageFault: store.storageFault
            ).json
        }
    }
}
