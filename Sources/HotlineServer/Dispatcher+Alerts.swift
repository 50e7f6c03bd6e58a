import HotlineCore
import HotlineStore
import NIOCore

/// `alert.ack`, and where a new subscriber reads its backlog (the subscription itself
/// belongs to its connection: ``ConnectionHandler``).
extension Dispatcher {
    func acknowledge(_ alertID: String, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        let clock = self.clock
        let hub = self.hub
        return read(on: loop) { store throws(HotlineError) in
            let now = clock()
            defer { hub.noteAcknowledged() }
            // The first acknowledgement is audited with the write that records it.
            let acked = try Self.storage(store) { try store.acknowledgeAlert(id: alertID, by: peer, at: now) }
            guard let alert = acked, let at = alert.ackedAt else {
                _ = try Self.storage(store) {
                    try store.audit(
                        AuditEntry(peer: peer, op: "alert.ack", at: now, detail: ["alert_id": .string(alertID), "result": "not_found"]))
                }
                throw HotlineError(.notFound, "There is no alert \(alertID).", field: "alert_id")
            }
            return AlertAckAnswer(alertID: alert.id, ackedAt: at).json
        }
    }

    /// `call.hold` and `call.release`: the hold and its audit entry are written together; a
    /// call there is not, or a hold there is not (or already is), is audited as a miss.
    func hold(_ callID: String, reason: String, release: Bool, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        let clock = self.clock
        let op = release ? AuditOp.release : AuditOp.hold
        return read(on: loop) { store throws(HotlineError) in
            let now = clock()
            do throws(HotlineError) {
                let hold = try Self.storage(store) {
                    release
                        ? try store.releaseHold(callID: callID, by: peer, reason: reason, at: now)
                        : try store.placeHold(callID: callID, by: peer, reason: reason, at: now)
                }
                return release ? ["released_at": .string(now.rfc3339), "hold": hold.json] : ["hold": hold.json]
            } catch {
                guard error.code == .notFound || error.code == .conflict else { throw error }
                _ = try Self.storage(store) {
                    try store.audit(
                        AuditEntry(
                            peer: peer, op: op, at: now, detail: ["call_ids": [.string(callID)], "result": .string(error.code.rawValue)],
                            reason: reason))
                }
                throw error
            }
        }
    }

    /// `holds.list`: every call on legal hold, audited as a read.
    func holdsList(reason: String?, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        if let missing = missingReason("holds.list", reason, allowedBy: Access.holdsList.allowing(peer.roles)) {
            return loop.makeFailedFuture(missing)
        }
        return audited(peer, "holds.list", subject: [:], reason: reason, on: loop) { store throws(HotlineError) in
            let holds = try Self.storage(store) { try store.holds() }
            return (HoldsListAnswer(holds: holds).json, ["call_ids": .array(holds.map { .string($0.callID) })])
        }
    }

    /// Where a new subscriber reads its backlog: on the reader threads, which run short
    /// reads only.
    var alertBacklog: AlertBacklogSource { AlertBacklogSource(store: store, readers: readers, hub: hub) }
}
