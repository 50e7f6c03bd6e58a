import Foundation
import GRDB
import HotlineCore
import HotlineStore
import Logging

/// A `CallStore` on a fresh file in its own temporary directory, removed when the last
/// reference goes; and the shipped routing rules, peers and events the store tests share.
final class TemporaryStore {
    static let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

    let directory: URL
    let path: String
    let keys: KeyRing
    private(set) var store: CallStore
    let policy = TemporaryStore.shippedPolicy

    let maxBytes: Int?

    init(maxBytes: Int? = nil, walTruncatePages: Int = 16_384) throws {
        self.maxBytes = maxBytes
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hotline-store-\(UUIDText.random())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("hotlined.sqlite").path
        keys = try KeyRing(hexKeys: [Self.key])
        store = try CallStore(
            path: path, keys: keys, logger: Logger(label: "hotlined.test.store"), maxBytes: maxBytes,
            walTruncatePages: walTruncatePages)
    }

    deinit {
        try? store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Closes the store and opens the same file again, as a restart would.
    func reopen() throws {
        try store.close()
        store = try CallStore(path: path, keys: keys, logger: Logger(label: "hotlined.test.store"), maxBytes: maxBytes)
    }

    /// Commits `events` as one batch, all by `peer`, at `now`.
    @discardableResult
    func commit(_ events: [WriteEvent], by peer: Peer = Fixture.handler, now: Timestamp = Fixture.now)
        -> BatchOutcome
    {
        store.commit(events.map { Fixture.submission($0, by: peer) }, policy: policy, now: now)
    }

    /// Commits one event and returns its answer.
    func commitOne(_ event: WriteEvent, by peer: Peer = Fixture.handler, now: Timestamp = Fixture.now)
        -> Result<WriteAck, HotlineError>
    {
        commit([event], by: peer, now: now).results[0]
    }

    /// A read-only connection of its own on the database file, for checks below the store.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read(body)
    }

    /// Closes the store, lets `edit` change the file below it (as an older version, or an
    /// insider, would), and opens the store again.
    func reopen(editing edit: (Database) throws -> Void) throws {
        try store.close()
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction(edit)
        try queue.close()
        store = try CallStore(path: path, keys: keys, logger: Logger(label: "hotlined.test.store"), maxBytes: maxBytes)
    }

    var walPath: String { path + "-wal" }

    /// The size of the WAL file, 0 when there is none.
    func walSize() throws -> Int {
        guard FileManager.default.fileExists(atPath: walPath) else { return 0 }
        let attributes = try FileManager.default.attributesOfItem(atPath: walPath)
        return (attributes[.size] as? NSNumber)?.intValue ?? -1
    }

    /// The bytes of the database file and of its WAL and journal when they exist.
    func fileBytes() throws -> [(String, [UInt8])] {
        try [path, walPath, path + "-journal"].compactMap { file in
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            return (file, [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))))
        }
    }

    static var shippedPolicy: CallPolicy {
        CallPolicy(routes: RouteTable(routes: [Fixture.emergency, Fixture.hotline, Fixture.nonEmergency], unrouted: Fixture.unrouted))
    }
}

/// Values shared by the store tests: the shipped routes (Config/hotlined.yaml), peers, events.
enum Fixture {
    static let emergency = RouteRule(
        name: "emergency", numbers: ["999", "112"], grade: .emergency, marking: .official, anonymity: .forbidden,
        alertOnStart: true
    )
    static let hotline = RouteRule(
        name: "anti-terrorist-hotline", numbers: ["0800 789 321"], grade: .priority, marking: .officialSensitive,
        anonymity: .allowed
    )
    static let nonEmergency = RouteRule(
        name: "non-emergency", numbers: ["101"], grade: .scheduled, marking: .official, anonymity: .allowed
    )
    static let unrouted = RouteRule(
        name: "unrouted", numbers: [], grade: .scheduled, marking: .official, anonymity: .allowed
    )

    static let handler = Peer(uid: 1001, gid: 1001, pid: 4242, roles: [.handler])
    static let otherHandler = Peer(uid: 1004, gid: 1001, pid: 4343, roles: [.handler])
    static let supervisor = Peer(uid: 1002, gid: 1002, pid: 4243, roles: [.supervisor])

    static let now = ts("2026-11-24T19:05:00Z")

    static func ts(_ text: String) -> Timestamp {
        do { return try Timestamp(rfc3339: text) } catch { fatalError("bad test time \(text)") }
    }

    static func submission(_ event: WriteEvent, by peer: Peer = handler) -> WriteSubmission {
        WriteSubmission(event: event, peer: peer) { _ in }
    }

    /// The number as the request decoder hands it on: normalised.
    static func normalised(_ dialled: String) -> String {
        do { return try DialledNumber.normalise(dialled) } catch { fatalError("bad test number \(dialled)") }
    }

    static func start(
        _ callID: String, dialled: String = "101", at receivedAt: String = "2026-11-24T19:02:11Z",
        identity: CallerIdentity = CallerIdentity(), anonymousRequested: Bool? = nil, eventID: String = UUIDText.random(),
        handler: String? = "4471"
    ) -> WriteEvent {
        .start(
            CallStart(
                eventID: eventID, callID: callID, dialled: normalised(dialled), receivedAt: ts(receivedAt),
                answeredAt: ts(receivedAt).adding(seconds: 4), workstation: "WS-07", handler: handler,
                identity: identity, anonymousRequested: anonymousRequested))
    }

    static func update(
        _ callID: String, at: String = "2026-11-24T19:03:00Z", _ changes: CallChanges = CallChanges(),
        note: String? = nil, eventID: String = UUIDText.random(), reason: String? = nil
    ) -> WriteEvent {
        .update(CallUpdate(eventID: eventID, callID: callID, at: ts(at), changes: changes, note: note, handler: "4471", reason: reason))
    }

    static func end(
        _ callID: String, at: String = "2026-11-24T19:10:00Z", outcome: String = "report-taken",
        eventID: String = UUIDText.random()
    ) -> WriteEvent {
        .end(CallEnd(eventID: eventID, callID: callID, endedAt: ts(at), outcome: outcome, handler: "4471"))
    }
}

extension Result where Success == WriteAck, Failure == HotlineError {
    /// The acknowledgement as the wire carries it, or nil for a failure.
    var ack: JSONValue? { try? get().json }
    var seq: Int64? { try? get().seq }
    var error: HotlineError? {
        if case .failure(let e) = self { return e }
        return nil
    }
}

extension JSONValue {
    /// This object with `key` set to `value`.
    func with(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var m) = self else { return self }
        m[key] = value
        return .object(m)
    }
}

extension Array where Element == UInt8 {
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        var i = 0
        while i <= count - needle.count {
            if self[i] == needle[0] && self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    func chunks(of size: Int) -> [[UInt8]] {
        stride(from: 0, to: count - size + 1, by: size).map { Array(self[$0..<($0 + size)]) }
    }
}
