import HotlineCore
import HotlineStore
import NIOCore

/// `call.start`, `call.update` and `call.end`: handed to the writer, which answers each
/// once it is durable.
extension Dispatcher {
    /// Offers a call event to the writer for `source` (a connection), answering `promise`
    /// when it is durable or refused. False: the writer's queues are full
    /// (`limits.max_queued_writes`) and nothing was done; offer again after
    /// ``EventWriter/whenRoom(_:)``.
    /// `readAt` is when its line was read: the metrics' acknowledgement latency starts there.
    func offerWrite(
        _ event: WriteEvent, peer: Peer, source: Int, readAt: ContinuousClock.Instant = .now, promise: EventLoopPromise<JSONValue>
    ) -> Bool {
        let metrics = self.metrics
        if case .refused(let error) = Access.writes.decide(peer.roles) {
            metrics?.acknowledged(op: event.op, result: error.code.rawValue, after: .now - readAt)
            promise.fail(error)
            return true
        }
        return writer.offer(
            WriteSubmission(event: event, peer: peer) { result in
                switch result {
                case .success(let ack):
                    metrics?.acknowledged(op: event.op, result: "ok", after: .now - readAt)
                    promise.succeed(ack.json)
                case .failure(let error):
                    metrics?.acknowledged(op: event.op, result: error.code.rawValue, after: .now - readAt)
                    promise.fail(error)
                }
            }, source: source)
    }
}
