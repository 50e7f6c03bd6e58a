/// How the daemon schedules a request: the one place that says which requests are urgent
/// and which are bulk (issue 12: a hostile workstation's bulk reads must never delay a
/// 999 call, an alert acknowledgement or a console's subscription).
public enum RequestClass: Sendable, Equatable {
    /// Answered on the event loop with no I/O (`hello`, `ping`).
    case immediate
    /// A call event: queued for the writer, fairly with other connections' writes.
    case write
    /// Small reads a control room waits on (`alert.ack`, `stats`, `alerts.subscribe`): run
    /// on the urgent reader threads, never behind bulk reads.
    case urgentRead
    /// Reads whose cost grows with the log (`calls.list`, `call.get`, `export`, `verify`,
    /// `audit.list`): at most `limits.max_bulk_reads_per_connection` at a time per
    /// connection, on their own `limits.bulk_read_threads` threads.
    case bulkRead
}

extension Request {
    public var requestClass: RequestClass {
        switch self {
        case .hello, .ping: .immediate
        case .write: .write
        case .stats, .alertsSubscribe, .alertAck, .callHold, .callRelease: .urgentRead
        case .callGet, .callsList, .auditList, .verify, .export, .holdsList: .bulkRead
        }
    }
}
