import HotlineCore
import HotlineStore
import Logging
import NIOCore

/// `audit.list` and `verify`: the auditors' reads.
extension Dispatcher {
    func auditList(
        from: Timestamp, to: Timestamp, reason: String?, peer: Peer, on loop: any EventLoop
    ) -> EventLoopFuture<JSONValue> {
        if let missing = missingReason("audit.list", reason, allowedBy: Access.auditList.allowing(peer.roles)) {
            return loop.makeFailedFuture(missing)
        }
        let maxBytes = configuration.limits.maxPageBytes
        let subject = Self.refusalSubject(.auditList(from: from, to: to))
        return audited(peer, "audit.list", subject: subject, reason: reason, on: loop) { store throws(HotlineError) in
            let page = try Self.storage(store) { try store.auditEntries(from: from, to: to, maxBytes: maxBytes) }
            let answer = AuditListAnswer(entries: page.entries, nextFrom: page.nextFrom)
            return (answer.json, ["entries": .int(Int64(page.entries.count))])
        }
    }

    func verify(reason: String?, peer: Peer, on loop: any EventLoop) -> EventLoopFuture<JSONValue> {
        if let missing = missingReason("verify", reason, allowedBy: Access.verify.allowing(peer.roles)) {
            return loop.makeFailedFuture(missing)
        }
        let logger = self.logger
        return audited(peer, "verify", subject: [:], reason: reason, on: loop) { store throws(HotlineError) in
            let report = try Self.storage(store) { try store.verify() }
            if report.ok {
                logger.notice(
                    "verify: the log is intact; \(report.events) events, \(report.auditEntries) audit entries",
                    metadata: ["head": "\(report.eventHead)", "audit_head": "\(report.auditHead)"])
            } else {
                logger.critical(
                    "verify: the log was tampered with: \(report.problems.joined(separator: "; "))",
                    metadata: ["message_id": "\(MessageID.tamperDetected.rawValue)"])
            }
            var detail: [String: JSONValue] = ["ok": .bool(report.ok), "events": .int(report.events)]
            if let seq = report.firstBadSeq { detail["first_bad_seq"] = .int(seq) }
            if let seq = report.firstBadAuditSeq { detail["first_bad_audit_seq"] = .int(seq) }
            if !report.badCalls.isEmpty { detail["bad_calls"] = .int(Int64(report.badCalls.count)) }
            return (VerifyAnswer(report).json, detail)
        }
    }
}
