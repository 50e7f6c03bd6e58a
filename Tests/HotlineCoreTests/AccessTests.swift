import HotlineCore
import Testing

/// Who may make each request: PROTOCOL.md sections 4 and 8, read from the one table every
/// entry point uses.
@Suite struct AccessTests {
    static let handler: Set<Role> = [.handler]
    static let supervisor: Set<Role> = [.supervisor]
    static let auditor: Set<Role> = [.auditor]
    static let none: Set<Role> = []

    static func allowed(_ op: String, _ roles: Set<Role>) -> Access.Decision? {
        Access.of(op)?.decide(roles)
    }

    @Test func theTableOfSectionFour() {
        for op in ["hello", "ping"] {
            for roles in [Self.none, Self.handler, Self.supervisor, Self.auditor] { #expect(Self.allowed(op, roles) == .everyCall) }
        }
        for op in ["call.start", "call.update", "call.end"] {
            #expect(Self.allowed(op, Self.handler) == .everyCall)
            #expect(Self.allowed(op, Self.supervisor) == .everyCall)
            #expect(
                Self.allowed(op, Self.auditor) == .refused(HotlineError(.forbidden, "Only handlers and supervisors may write call events."))
            )
        }
        for op in ["call.get", "calls.list"] {
            #expect(Self.allowed(op, Self.handler) == .ownCalls)
            #expect(Self.allowed(op, Self.supervisor) == .everyCall)
            #expect(Self.allowed(op, Self.auditor) == .everyCall)
            #expect(Self.allowed(op, [.handler, .auditor]) == .everyCall)
        }
        for op in ["alerts.subscribe", "alert.ack"] {
            #expect(Self.allowed(op, Self.supervisor) == .everyCall)
            #expect(Self.allowed(op, Self.handler) != .everyCall)
            #expect(Self.allowed(op, Self.auditor) != .everyCall)
        }
        for op in ["audit.list", "verify"] {
            #expect(Self.allowed(op, Self.auditor) == .everyCall)
            #expect(Self.allowed(op, Self.supervisor) != .everyCall)
            #expect(Self.allowed(op, Self.handler) != .everyCall)
        }
        #expect(Self.allowed("export", Self.supervisor) == .everyCall)
        #expect(Self.allowed("export", Self.auditor) == .everyCall)
        #expect(Self.allowed("export", Self.handler) == .refused(HotlineError(.forbidden, "Only supervisors and auditors may export.")))
        for roles in [Self.handler, Self.supervisor, Self.auditor] { #expect(Self.allowed("stats", roles) == .everyCall) }
        #expect(Access.of("call.delete") == nil)
    }

    @Test func aPeerWithNoRoleMayOnlySayHelloAndPing() {
        for op in ["call.start", "call.get", "calls.list", "stats", "alerts.subscribe", "alert.ack", "audit.list", "verify", "export"] {
            #expect(Self.allowed(op, Self.none) == .refused(Access.noRole), "\(op)")
        }
    }

    @Test func everyRequestHasTheRuleOfItsOp() {
        for request in WireTests.requests {
            #expect(Access.of(request.op) == request.access, "\(request.op)")
        }
    }

    /// The roles a read is allowed by decide whether it needs a reason: whoever took a call
    /// reads it as its handler, whatever else it is.
    @Test func theRolesAReadIsAllowedBy() {
        #expect(Access.callReads.allowing(Self.handler, ownCall: true) == [.handler])
        #expect(Access.callReads.allowing(Self.handler, ownCall: false) == [])
        #expect(Access.callReads.allowing(Self.supervisor, ownCall: true) == [.supervisor, .handler])
        #expect(Access.callReads.allowing([.supervisor, .auditor]) == [.supervisor, .auditor])
        #expect(Access.export.allowing([.handler, .auditor]) == [.auditor])
        #expect(Access.auditList.allowing([.auditor, .supervisor]) == [.auditor])
    }

    @Test func onlyASupervisorLowersAMarking() {
        #expect(Access.lowerMarking == [.supervisor])
    }
}
