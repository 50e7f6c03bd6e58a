/// The rules of PROTOCOL.md sections 5 and 6 as one pure function: given a call's state and
/// an event, what the new state is, what is stored, what is stripped, and what alerts rise.
public struct CallPolicy: Sendable {
    public let routes: RouteTable

    public init(routes: RouteTable) { self.routes = routes }

    /// What applying one event decided.
    public struct Decision: Sendable, Equatable {
        public var state: CallState
        /// Identifying fields dropped before anything was written (`stripped`).
        public var stripped: [String] = []
        /// Sentences the answer carries as `notice`.
        public var notices: [String] = []
        /// Alerts this event raises, stored in the same transaction.
        public var alerts: [AlertReason] = []
        /// The identifying fields this event stores (after stripping).
        public var storedIdentity = CallerIdentity()
        /// True when earlier identifying fields of the call must be erased now.
        public var eraseEarlierIdentity = false
        public var note: Note?
    }

    /// How far a note's declared time may lie past the daemon's clock, or before the call's
    /// `received_at` (workstations' clocks drift a little, and a call may be handed between
    /// two of them; a note dated hours out is refused).
    public static let clockTolerance: Double = 60

    /// Applies `event` (already validated) by `peer` as the log's event number `seq`.
    /// `state` is nil for a call never started.
    /// - Parameter now: the daemon's clock; a note declared later than it (by more than
    ///   ``clockTolerance``) is refused. Nil skips that check, not the one against the
    ///   call's `received_at`.
    public func apply(
        _ event: WriteEvent, to state: CallState?, by peer: Peer, seq: Int64, now: Timestamp? = nil
    ) throws(HotlineError) -> Decision {
        switch event {
        case .start(let start):
            if let state {
                throw HotlineError(
                    .conflict,
                    "Call \(start.callID) was already started (event \(state.firstSeq)); send call.update to change it.",
                    field: "call.id"
                )
            }
            return startCall(start, by: peer, seq: seq)
        case .update(let update):
            guard let state else { throw neverStarted(update.callID) }
            // What a handler wrote, and when they say they wrote it, is what an investigation
            // reads later: a note back-dated before the call, or dated ahead, is refused. Not
            // an update that raises a threat to life or asks for anonymity: a workstation's
            // clock must never hold up an alert or an erasure (its declared time is kept, and
            // call.get shows the daemon's own beside it).
            let urgent = update.changes.flags["threat_to_life"] == true || update.changes.anonymousRequested == true
            if update.note != nil, !urgent {
                guard update.at.seconds(since: state.receivedAt) >= -Self.clockTolerance else {
                    throw .invalid(
                        "at", "\"at\" (\(update.at.rfc3339)) is before the call was received (\(state.receivedAt.rfc3339)).")
                }
                if let now, update.at.seconds(since: now) > Self.clockTolerance {
                    throw .invalid(
                        "at",
                        "\"at\" (\(update.at.rfc3339)) lies in the future: the daemon's clock says \(now.rfc3339). Check the workstation's clock."
                    )
                }
            }
            // Issue 16's refusals yield only to an update that raises an alert or erases an
            // identity now: a flag already raised, or a wish on a call already anonymous (or
            // on a route that keeps identities), changes nothing and excuses nothing.
            let raisesAlert = update.changes.flags["threat_to_life"] == true && !state.threatAlertRaised
            let erases = update.changes.anonymousRequested == true && state.routeAnonymity == .allowed && !state.anonymous
            return try self.update(update, state, by: peer, seq: seq, now: now, urgent: raisesAlert || erases)
        case .end(let end):
            guard let state else { throw neverStarted(end.callID) }
            return try self.end(end, state, seq: seq)
        }
    }

    private func neverStarted(_ callID: String) -> HotlineError {
        HotlineError(.conflict, "Call \(callID) was never started; send call.start first.", field: "call_id")
    }

    private func startCall(_ e: CallStart, by peer: Peer, seq: Int64) -> Decision {
        let rule = routes.route(for: e.dialled, channel: e.channel)
        var state = CallState(
            id: e.callID, dialled: e.dialled, route: rule.name, routeAnonymity: rule.anonymity, routeGrade: rule.grade,
            grade: rule.grade, marking: rule.marking, receivedAt: e.receivedAt, answeredAt: e.answeredAt,
            workstation: e.workstation, handler: e.handler, ownerUID: peer.uid, firstSeq: seq, lastSeq: seq
        )
        state.channel = e.channel
        state.relay = Relay.atStart(e.relay, channel: e.channel)
        state.formReference = e.formReference
        var decision = Decision(state: state)
        applyAnonymity(requested: e.anonymousRequested, identity: e.identity, to: &state, &decision)
        if rule.alertOnStart {
            decision.alerts.append(.emergencyLine)
            state.escalated = true
        }
        decision.state = state
        return decision
    }

    /// Anonymity (section 6): decides what of `identity` is stored and what is stripped.
    private func applyAnonymity(
        requested: Bool?, identity: CallerIdentity, to state: inout CallState, _ decision: inout Decision
    ) {
        if let requested {
            switch state.routeAnonymity {
            case .allowed:
                if requested, !state.anonymous {
                    state.anonymous = true
                    decision.eraseEarlierIdentity = !state.identity.isEmpty
                    state.identity = CallerIdentity()
                } else if !requested, state.anonymous {
                    decision.notices.append("This call is anonymous and stays so: a call never becomes identifiable again.")
                }
            case .forbidden:
                if requested {
                    decision.notices.append(
                        "Route \(state.route) keeps the caller's line identity: the wish to stay anonymous is recorded, and identifying fields are kept."
                    )
                }
            case .always:
                break
            }
            state.anonymousRequested = requested || state.anonymous
        }
        if state.routeAnonymity == .always { state.anonymous = true }
        if state.anonymous {
            decision.stripped = identity.fieldPaths
        } else if !identity.isEmpty {
            decision.storedIdentity = identity
            state.identity = state.identity.merging(identity)
        }
    }

    /// `urgent`: the update raises a threat to life or asks for anonymity. What issue 16
    /// refuses (a category not the route's, a lowering without a reason) is then kept
    /// with a notice instead: nothing may hold up an alert or an erasure.
    private func update(
        _ e: CallUpdate, _ current: CallState, by peer: Peer, seq: Int64, now: Timestamp?, urgent: Bool
    ) throws(HotlineError) -> Decision {
        var state = current
        state.lastSeq = seq
        var decision = Decision(state: current)
        let c = e.changes

        if let marking = c.marking, marking < state.marking, peer.roles.isDisjoint(with: Access.lowerMarking) {
            throw HotlineError(
                .forbidden,
                "Only a supervisor may lower a call's marking (from \(state.marking.rawValue) to \(marking.rawValue)).",
                field: "set.marking"
            )
        }
        if let category = c.category, let rule = routes.rule(named: state.route), !rule.accepts(category: category) {
            let problem =
                "\"\(category)\" is not a category of route \(state.route); the categories are: \(rule.categories.map(\.slug).joined(separator: ", "))."
            guard urgent else { throw .invalid("set.category", problem) }
            decision.notices.append(problem + " It is kept, so as not to hold up this update: correct it.")
        }
        if let relay = c.relay {
            if state.channel.acceptsRelay {
                state.relay = relay.applied(to: state.relay, channel: state.channel)
            } else {
                let problem =
                    "\"set.relay\" is for a call through a relay or an interpreter; this call's channel is \(state.channel.rawValue)."
                guard urgent else { throw .invalid("set.relay", problem) }
                decision.notices.append(problem + " It is left aside, so as not to hold up this update.")
            }
        }
        if let answeredAt = c.answeredAt {
            // The first answer time stands (verify replays it so): another is refused, or,
            // on an urgent update, left aside with a notice.
            var problem: (String, keep: Bool)? = nil
            if let already = state.answeredAt, already != answeredAt {
                problem = ("The call was already answered at \(already.rfc3339); the time it was answered is not changed.", false)
            } else if answeredAt < state.receivedAt {
                problem = (
                    "\"set.answered_at\" (\(answeredAt.rfc3339)) is before the call was received (\(state.receivedAt.rfc3339)).", true
                )
            } else if let endedAt = state.endedAt, answeredAt > endedAt {
                problem = ("\"set.answered_at\" (\(answeredAt.rfc3339)) is after the call ended (\(endedAt.rfc3339)).", true)
            }
            if let (message, keep) = problem {
                guard urgent else { throw .invalid("set.answered_at", message) }
                decision.notices.append(message + (keep ? " It is kept, so as not to hold up this update." : ""))
                if keep { state.answeredAt = answeredAt }
            } else {
                state.answeredAt = answeredAt
            }
        }
        applyAnonymity(requested: c.anonymousRequested, identity: c.identity, to: &state, &decision)
        if let marking = c.marking { state.marking = marking }
        if let category = c.category { state.category = category }
        if let outcome = c.outcome { state.outcome = outcome }
        if let location = c.location { state.location = location }
        for (flag, value) in c.flags { state.flags[flag] = value }
        if c.flags["threat_to_life"] == true, !state.threatAlertRaised {
            state.threatAlertRaised = true
            state.escalated = true
            decision.alerts.append(.threatToLife)
        }
        let floor = state.flags["threat_to_life"] == true ? Grade.emergency : state.routeGrade
        let wanted = c.grade ?? state.grade
        if wanted < floor {
            state.grade = floor
            if c.grade != nil {
                decision.notices.append(
                    "The grade stays \(floor.rawValue): \(state.flags["threat_to_life"] == true ? "a threat to life" : "route \(state.route)") demands at least that."
                )
            }
        } else {
            state.grade = wanted
        }
        // Every change of grade or marking is kept with who made it and when (the event);
        // lowering either must say why (PROTOCOL-NOTES.md, "History of grade and marking").
        if e.reason == nil, state.grade < current.grade || state.marking < current.marking {
            let what =
                state.grade < current.grade
                ? "grade (from \(current.grade.rawValue) to \(state.grade.rawValue))"
                : "marking (from \(current.marking.rawValue) to \(state.marking.rawValue))"
            guard urgent else { throw .invalid("reason", "Lowering a call's \(what) needs a \"reason\" saying why.") }
            decision.notices.append(
                "The call's \(what) was lowered without a reason, so as not to hold up this update: give one in a note.")
        }
        if let text = e.note {
            decision.note = Note(
                at: e.at, by: Note.author(handler: e.handler, workstation: e.workstation, uid: peer.uid), text: text,
                uid: peer.uid, recordedAt: now)
        }
        decision.state = state
        return decision
    }

    private func end(_ e: CallEnd, _ current: CallState, seq: Int64) throws(HotlineError) -> Decision {
        if let endedAt = current.endedAt {
            throw HotlineError(
                .conflict, "Call \(e.callID) already ended at \(endedAt.rfc3339); send call.update for wrap-up notes.",
                field: "call_id"
            )
        }
        guard e.endedAt >= current.receivedAt else {
            throw .invalid(
                "ended_at", "\"ended_at\" (\(e.endedAt.rfc3339)) is before the call was received (\(current.receivedAt.rfc3339)).")
        }
        if let answeredAt = current.answeredAt, e.endedAt < answeredAt {
            throw .invalid(
                "ended_at", "\"ended_at\" (\(e.endedAt.rfc3339)) is before the call was answered (\(answeredAt.rfc3339)).")
        }
        var state = current
        state.lastSeq = seq
        state.endedAt = e.endedAt
        state.outcome = e.outcome ?? current.outcome
        return Decision(state: state)
    }
}
