import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import HotlineServer

/// The Dispatcher in process, on a temporary store and the shipped configuration: which
/// role may read what, the reasons `reasons_required` asks for, and the audit entry each
/// read leaves (issue 14, item 6). No daemon is spawned and no root is needed: peers are
/// made with the roles the kernel and the configuration would give them.
@Suite struct DispatcherTests {
    /// A store, a started writer, the thread pools and a Dispatcher over them; all stopped and
    /// removed when it goes.
    final class Harness {
        let directory: URL
        let store: CallStore
        let writer: EventWriter
        let pools: [NIOThreadPool]
        let dispatcher: Dispatcher
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let configuration: Configuration

        init(clock: (@Sendable () -> Timestamp)? = nil) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-dispatcher-\(UUIDText.random())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            configuration = try ConfigurationLoader.load(path: ConfigurationLoaderTests.shippedPath)
            let logger = Logger(label: "hotlined.test.dispatcher")
            store = try CallStore(
                path: directory.appendingPathComponent("calls.sqlite").path,
                keys: try KeyRing(hexKeys: [String(repeating: "4d", count: 32)]), logger: logger)
            writer = EventWriter(
                store: store, policy: CallPolicy(routes: RouteTable(configuration)), maxBatch: configuration.limits.maxBatchEvents)
            writer.start()
            pools = (0..<3).map { _ in NIOThreadPool(numberOfThreads: 1) }
            pools.forEach { $0.start() }
            dispatcher = Dispatcher(
                store: store, writer: writer, configuration: configuration, readers: pools[0], bulkReaders: pools[1],
                auditWriters: pools[2], logger: logger,
                clock: clock ?? { Timestamp(secondsSince1970: Date().timeIntervalSince1970) })
        }

        deinit {
            for pool in pools { try? pool.syncShutdownGracefully() }
            writer.stop()
            try? store.close()
            try? FileManager.default.removeItem(at: directory)
        }

        /// The answer to `request` from `peer`, or the error it was refused with.
        func ask(_ request: JSONValue, as peer: Peer) throws -> Result<JSONValue, HotlineError> {
            let decoded = RequestDecoder(outcomes: Set(configuration.outcomes)).decode(request)
            let parsed = try decoded.result.get()
            do {
                return .success(try dispatcher.handle(parsed, peer: peer, on: loop).wait())
            } catch let error as HotlineError {
                return .failure(error)
            }
        }

        /// Starts a call as `peer` (written straight through the writer, as a connection would).
        func start(as peer: Peer, receivedAt: String = "2026-11-24T19:02:11Z") throws -> String {
            let id = UUIDText.random()
            let request: JSONValue = [
                "op": "call.start", "event_id": .string(UUIDText.random()),
                "call": ["id": .string(id), "dialled": "0800 789 321", "received_at": .string(receivedAt)],
            ]
            guard case .write(let event) = try RequestDecoder(outcomes: []).decode(request).result.get() else {
                throw HotlineError(.invalid, "not a write")
            }
            let done = DispatchSemaphore(value: 0)
            let ok = WriteOutcome()
            #expect(
                writer.offer(
                    WriteSubmission(event: event, peer: peer) { result in
                        ok.succeeded = (try? result.get()) != nil
                        done.signal()
                    }, source: Int(peer.uid)))
            done.wait()
            #expect(ok.succeeded)
            return id
        }

        /// Every audit entry so far.
        func audit() throws -> [AuditEntry] {
            try store.auditEntries(from: Timestamp(microseconds: 0), to: Timestamp(secondsSince1970: 4_102_444_800)).entries
        }
    }

    final class WriteOutcome: @unchecked Sendable {
        // Written once by the writer thread before the semaphore is signalled, read after.
        var succeeded = false
    }

    static let handler = Peer(uid: 61001, gid: 61001, pid: 11, roles: [.handler])
    static let otherHandler = Peer(uid: 61004, gid: 61004, pid: 14, roles: [.handler])
    static let supervisor = Peer(uid: 61002, gid: 61002, pid: 12, roles: [.supervisor, .handler])
    static let auditor = Peer(uid: 61003, gid: 61003, pid: 13, roles: [.auditor])
    static let day: [String: JSONValue] = ["from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"]

    static func request(_ op: String, _ members: [String: JSONValue] = [:]) -> JSONValue {
        .object(members.merging(["op": .string(op)]) { _, op in op })
    }

    @Test func readsOfEveryCallNeedAReasonAndReadsOfOnesOwnDoNot() throws {
        let h = try Harness()
        let handlers = try h.start(as: Self.handler)
        let supervisors = try h.start(as: Self.supervisor)
        let list = Self.request("calls.list", Self.day)
        let why: JSONValue = "Reviewing the hotline's calls for the duty inspector"

        // A handler lists its own calls, and reads the call it took, without a reason.
        let own = try h.ask(list, as: Self.handler).get()
        #expect(own["calls"]?.arrayValue?.compactMap { $0["call_id"] } == [.string(handlers)])
        #expect((try? h.ask(Self.request("call.get", ["call_id": .string(handlers)]), as: Self.handler).get()) != nil)
        // So does a supervisor reading a call it took: it read it as its handler.
        #expect((try? h.ask(Self.request("call.get", ["call_id": .string(supervisors)]), as: Self.supervisor).get()) != nil)

        // Every call, or another's: a reason, or invalid naming it, and no entry.
        let entriesBefore = try h.audit().count
        for refused in [list, Self.request("call.get", ["call_id": .string(handlers)])] {
            guard case .failure(let error) = try h.ask(refused, as: Self.supervisor) else {
                Issue.record("answered without a reason: \(refused)")
                continue
            }
            #expect(error.code == .invalid)
            #expect(error.field == "reason")
        }
        #expect(try h.audit().count == entriesBefore)

        let all = try h.ask(Self.request("calls.list", Self.day.merging(["reason": why]) { a, _ in a }), as: Self.supervisor).get()
        #expect(Set(all["calls"]?.arrayValue?.compactMap { $0["call_id"]?.stringValue } ?? []) == [handlers, supervisors])
        let entry = try #require(try h.audit().last)
        #expect(entry.op == "calls.list")
        #expect(entry.uid == Self.supervisor.uid)
        #expect(entry.reason == why.stringValue)
        #expect(entry.detail["result"] == "ok")
    }

    @Test func aHandlerReadingAnothersCallIsRefusedAndAudited() throws {
        let h = try Harness()
        let call = try h.start(as: Self.handler)
        guard case .failure(let error) = try h.ask(Self.request("call.get", ["call_id": .string(call)]), as: Self.otherHandler) else {
            Issue.record("another handler read the call")
            return
        }
        #expect(error.code == .forbidden)
        let entry = try #require(try h.audit().last)
        #expect(entry.op == "call.get")
        #expect(entry.uid == Self.otherHandler.uid)
        #expect(entry.detail["result"] == "forbidden")
        #expect(entry.detail["call_ids"] == [.string(call)])
    }

    @Test func onlyAuditorsVerifyAndReadTheAuditLogAndTheShippedConfigurationAsksThemNoReasonForIt() throws {
        let h = try Harness()
        _ = try h.start(as: Self.handler)
        let verify = try h.ask(Self.request("verify"), as: Self.auditor).get()
        #expect(verify["intact"] == true)
        #expect(verify["keyed_chain"] == "checked")
        let log = try h.ask(Self.request("audit.list", ["from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"]), as: Self.auditor)
            .get()
        #expect(log["entries"]?.arrayValue?.compactMap { $0["op"] } == ["verify"])
        for peer in [Self.handler, Self.supervisor] {
            guard case .failure(let error) = try h.ask(Self.request("verify"), as: peer) else {
                Issue.record("uid \(peer.uid) verified the log")
                continue
            }
            #expect(error.code == .forbidden)
        }
    }

    /// The Dispatcher's clock (issue 14, item 2): reads are audited at its time, and a named
    /// shift ("previous") is resolved against it.
    @Test func theInjectedClockDecidesTheShiftAnExportCoversAndWhenItIsAudited() throws {
        let now = try Timestamp(rfc3339: "2026-11-24T07:00:30Z")  // 30 s after the night shift ended
        let h = try Harness(clock: { now })
        let night = try h.start(as: Self.handler, receivedAt: "2026-11-24T02:00:00Z")
        _ = try h.start(as: Self.handler, receivedAt: "2026-11-24T07:10:00Z")  // the early shift: not in it
        let export = try h.ask(Self.request("export", ["shift": "previous", "reason": "Shift handover"]), as: Self.supervisor).get()
        #expect(export["shift"]?["name"] == "night")
        #expect(export["shift"]?["date"] == "2026-11-23")
        #expect(export["shift"]?["from"] == "2026-11-23T23:00:00Z")
        #expect(export["shift"]?["to"] == "2026-11-24T07:00:00Z")
        #expect(export["calls"]?.arrayValue?.compactMap { $0["call_id"] } == [.string(night)])
        let entry = try #require(try h.audit().last)
        #expect(entry.op == "export")
        #expect(entry.at == now)
        #expect(entry.reason == "Shift handover")
    }
}
