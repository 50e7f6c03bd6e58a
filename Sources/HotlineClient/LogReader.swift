import HotlineCore

/// An answer as it came: decoded, and the line it came in (what `--json` prints).
public struct Answered<T: WireValue>: Sendable {
    public var answer: T
    /// The whole response line, `ok` and `req` included.
    public var line: JSONValue

    public init(answer: T, line: JSONValue) {
        self.answer = answer
        self.line = line
    }
}

/// The daemon refused a request: its error, and the line it came in.
public struct Refusal: Error, CustomStringConvertible {
    public var error: HotlineError
    public var line: JSONValue

    public init(error: HotlineError, line: JSONValue) {
        self.error = error
        self.line = line
    }

    /// `invalid (call.dialled): …`, as a person reads it.
    public var description: String {
        if let field = error.field { return "\(error.code.rawValue) (\(field)): \(error.message)" }
        return "\(error.code.rawValue): \(error.message)"
    }
}

/// Requests on one connection, answered as typed values, with the paging of the reads that
/// come in pages (`call.get`'s notes, `calls.list`, `audit.list`, `export`) done here once.
///
/// A read's reason (PROTOCOL-NOTES.md, "Reasons for reads") is sent with every page. When
/// a read without one is answered that one is required, `askReason` is asked once (a
/// terminal prompt, say) and, if it gives one, the read is sent again with it and the
/// reason kept for the pages that follow.
public final class LogReader {
    public let connection: HotlineConnection
    public private(set) var reason: String?
    private let askReason: () -> String?

    public init(connection: HotlineConnection, reason: String? = nil, askReason: @escaping () -> String? = { nil }) {
        self.connection = connection
        self.reason = reason
        self.askReason = askReason
    }

    /// Sends `request` (with the reason, if it is a read) and decodes its answer as `T`.
    /// Throws ``Refusal`` when the daemon refuses it, ``AnswerError`` when the answer cannot
    /// be read, and ``HotlineConnection/Failure`` when the connection fails.
    public func send<T: WireValue>(_ request: Request, as _: T.Type = T.self) throws -> Answered<T> {
        var line = try connection.call(request.with(reason: reason).json)
        var response = try Response(json: line)
        if reason == nil, case .failure(let error) = response.result, error.field == "reason", request.reason == nil,
            let typed = askReason()
        {
            reason = typed
            line = try connection.call(request.with(reason: typed).json)
            response = try Response(json: line)
        }
        switch response.result {
        case .success(let members): return Answered(answer: try T(json: members), line: line)
        case .failure(let error): throw Refusal(error: error, line: line)
        }
    }

    /// The call with every note: `call.get` answers at most `limits.max_notes_per_answer`
    /// notes at once, so this follows `notes_next` until no page follows, and answers the
    /// last page with the notes of every page (and no `notes_next`).
    public func wholeCall(_ callID: String) throws -> CallGetAnswer {
        var notes: [Note] = []
        var history: [ClassificationChange]? = nil
        var after: Int64? = nil
        while true {
            var page = try send(.callGet(callID: callID, notesAfter: after), as: CallGetAnswer.self).answer
            notes += page.call.notes
            // The history comes with the first page only.
            history = history ?? page.call.history
            guard let next = page.notesNext else {
                page.call.notes = notes
                page.call.history = history ?? []
                return page
            }
            // Each page starts after the last; a cursor that does not move would loop for ever.
            guard after.map({ next > $0 }) ?? true else {
                throw AnswerError("notes_next", "as \(next) after notes_after \(after!): it does not move on")
            }
            after = next
        }
    }

    /// The pages of `calls.list` for `query`, each given to `page` as it comes; all of them
    /// when `all`, else the first. Returns where the next would start (nil at the end).
    @discardableResult
    public func listCalls(
        _ query: CallsQuery, all: Bool, _ page: (Answered<CallsListAnswer>) throws -> Void
    ) throws -> Int64? {
        var query = query
        repeat {
            let answered = try send(.callsList(query), as: CallsListAnswer.self)
            try page(answered)
            guard let next = answered.answer.nextAfterSeq else { return nil }
            if let after = query.afterSeq, next <= after {
                throw AnswerError("next_after_seq", "as \(next) after after_seq \(after): it does not move on")
            }
            query.afterSeq = next
        } while all
        return query.afterSeq
    }

    /// Every page of `audit.list` from `from` to `to`, each given to `page` as it comes.
    public func auditEntries(from: Timestamp, to: Timestamp, _ page: (Answered<AuditListAnswer>) throws -> Void) throws {
        var from = from
        while true {
            let answered = try send(.auditList(from: from, to: to), as: AuditListAnswer.self)
            try page(answered)
            guard let next = answered.answer.nextFrom else { return }
            from = next
        }
    }

    /// Every page of an export of `window`, each given to `page` as it comes. The first page
    /// says which instants the window covers; later pages ask for exactly those, so a shift
    /// boundary passing mid-export changes nothing. Returns the window.
    @discardableResult
    public func export(
        _ window: ExportQuery.Window, pageSize: Int, handover: Bool = true, _ page: (ExportAnswer) throws -> Void
    ) throws -> ShiftWindow {
        var answer = try send(.export(ExportQuery(window: window, limit: pageSize, handover: handover)), as: ExportAnswer.self).answer
        let resolved = answer.shift
        while true {
            try page(answer)
            guard let next = answer.nextAfterSeq else { return resolved }
            let query = ExportQuery(window: .range(from: resolved.from, to: resolved.to), afterSeq: next, limit: pageSize)
            answer = try send(.export(query), as: ExportAnswer.self).answer
        }
    }
}
