import HotlineCore
import HotlineStore
import NIOCore

/// `alert.ack`, and where a new subscriber reads its backlog (the subscription itself
/// belongs to its connection: ``ConnectionHandler``).
extension Dispatcher {
    func acknowledge(_ alertID: String, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        let clock = self.clock
        return read(on: loop) { store throws(HotlineError) in
            let now = clock()
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

    /// Where a new subscriber reads its backlog: on the reader threads, which run short
    /// reads only.
    var alertBacklog: AlertBacklogSource { AlertBacklogSource(store: store, readers: readers, hub: hub) }
}
