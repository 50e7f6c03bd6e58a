import Foundation
import HotlineCore
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import HotlineServer

/// `ConnectionHandler` in process, alone on a testing channel over the Dispatcher of
/// ``DispatcherTests/Harness`` (a temporary store, a started writer, the thread pools): how
/// a connection cuts, answers and orders lines, what it does with bad input, a peer with no
/// role, a half-close and a client that does not read its answers. No daemon is spawned and
/// no root is needed: the peer's credentials are made, as the kernel would give them.
///
/// The Dispatcher answers on its thread pools, so the channel is `NIOAsyncTestingChannel`,
/// whose loop takes work from other threads, not `EmbeddedChannel`, which is not
/// thread-safe and runs what another thread hands it only when the test turns it.
@Suite struct ConnectionHandlerTests {
    typealias Harness = DispatcherTests.Harness

    /// uid 0 holds every role (`PeerIdentity.roles`).
    static let root = PeerIdentity.Credentials(pid: 21, uid: 0, gid: 0)
    /// A uid no user, group or role of the shipped configuration names: no role.
    static let nobody = PeerIdentity.Credentials(pid: 22, uid: 3_999_999_999, gid: 3_999_999_999)

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// A connected testing channel with a ``ConnectionHandler`` alone in its pipeline, and the
    /// lines it has written back.
    final class Connection {
        let channel: NIOAsyncTestingChannel
        /// Bytes written back and not yet cut into answers.
        private var received = ByteBuffer()

        /// Connects a peer with `credentials`; `limits` adjusts the handler's configuration.
        init(
            _ h: Harness, _ credentials: PeerIdentity.Credentials,
            limits adjust: (inout Configuration.Limits) -> Void = { _ in }
        ) async throws {
            var adjusted = h.configuration
            adjust(&adjusted.limits)
            let configuration = adjusted
            let dispatcher = h.dispatcher
            channel = try await NIOAsyncTestingChannel { channel in
                try channel.pipeline.syncOperations.addHandler(
                    ConnectionHandler(dispatcher: dispatcher, configuration: configuration, credentials: credentials))
            }
            try await channel.connect(to: SocketAddress(unixDomainSocketPath: "/run/hotlined/test.sock")).get()
        }

        /// `text` as one read.
        func send(_ text: String) async throws {
            try await channel.writeInbound(ByteBuffer(string: text))
        }

        /// The next answer line written back (without its LF), if one has been written.
        func poll() async throws -> String? {
            // Runs what the handler gave its own loop to do later (`execute` from on the loop
            // waits, on this loop, for someone to run it).
            await channel.testingEventLoop.run()
            while let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                received.writeImmutableBuffer(buffer)
            }
            guard let newline = received.readableBytesView.firstIndex(of: 0x0A) else { return nil }
            let line = received.readString(length: newline - received.readerIndex)!
            received.moveReaderIndex(forwardBy: 1)
            return line
        }

        /// The next answer line, waiting up to `seconds` for it.
        /// The deadline is generous: in the full run the cooperative threads are shared with
        /// tests that block them, and a task can wait many seconds for its turn (one run saw
        /// these tests take 70 s); it only stops a hang from lasting for ever.
        func answer(within seconds: Int = 120) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while true {
                if let line = try await poll() { return line }
                guard ContinuousClock.now < deadline else { throw Timeout(description: "no answer within \(seconds) s") }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        /// The next `count` answer lines, in the order written.
        func answers(_ count: Int) async throws -> [String] {
            var lines: [String] = []
            for _ in 0..<count { lines.append(try await answer()) }
            return lines
        }

        /// The next answer, parsed.
        func answerJSON() async throws -> JSONValue {
            try JSONParser.parse(try await answer())
        }

        var isActive: Bool {
            get async throws {
                let channel = self.channel
                return try await channel.testingEventLoop.executeInContext { channel.isActive }
            }
        }

        /// Waits up to `seconds` for the channel to be closed.
        func waitUntilClosed(within seconds: Int = 120) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while try await isActive {
                guard ContinuousClock.now < deadline else { throw Timeout(description: "still open after \(seconds) s") }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        /// What the handler last set `autoRead` to (the testing channel's `getOption` always
        /// says true, so it is read from the options set on it).
        var autoRead: Bool? {
            channel.options.last { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool
        }

        /// ``ConnectionHandler/pendingCount``: answers owed or unwritten, plus one if the bytes
        /// read still hold a line not yet taken.
        var pendingCount: Int {
            get async throws {
                let channel = self.channel
                return try await channel.testingEventLoop.executeInContext {
                    try channel.pipeline.syncOperations.handler(type: ConnectionHandler.self).pendingCount
                }
            }
        }

        /// Runs `body` on the channel's loop, as one step: nothing else runs there meanwhile.
        func onLoop(_ body: @escaping @Sendable (NIOAsyncTestingChannel) throws -> Void) async throws {
            let channel = self.channel
            try await channel.testingEventLoop.executeInContext { try body(channel) }
        }

        func close() async {
            try? await channel.close()
        }
    }

    /// Holds the urgent reader thread (there is one in the harness) until released, so that
    /// `stats` requests stay under way for as long as a test needs.
    final class ReaderGate: Sendable {
        private let release = DispatchSemaphore(value: 0)

        /// Returns once the readers' thread is held.
        init(_ h: Harness) async {
            let release = self.release
            await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
                h.pools[0].submit { _ in
                    started.resume()
                    release.wait()
                }
            }
        }

        func open() { release.signal() }
    }

    static func callStart(req: String, callID: String) -> String {
        #"{"op":"call.start","req":"\#(req)","event_id":"\#(UUIDText.random())","call":{"id":"\#(callID)","dialled":"0800 789 321","received_at":"2026-11-24T19:02:11Z"}}"#
    }

    /// Lines sent together in one read are each answered with one line, in the order they
    /// came, each echoing its `req` unchanged (a number as a number, a string as a string):
    /// `stats` sees the `call.start` before it, `call.get` (a bulk read) finds that call, and
    /// a `hello` at the end, answered at once, still waits for its turn.
    @Test func pipelinedRequestsAreAnsweredOneLineEachInOrder() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.root)
        let call = UUIDText.random()
        try await c.send(
            """
            {"op":"ping","req":1}
            \(Self.callStart(req: "start", callID: call))
            {"op":"stats","req":3}
            {"op":"call.get","req":"get","call_id":"\(call)"}
            {"op":"hello","protocol":1,"req":5}

            """)

        #expect(try await c.answer() == #"{"ok":true,"req":1}"#)
        let started = try await c.answerJSON()
        #expect(started["ok"] == true)
        #expect(started["req"] == "start")
        #expect(started["call_id"] == .string(call))
        #expect(started["duplicate"] == nil)
        let stats = try await c.answerJSON()
        #expect(stats["ok"] == true)
        #expect(stats["req"] == 3)
        #expect(stats["calls"] == 1)
        #expect(stats["calls_open"] == 1)
        #expect(stats["events"] == 1)
        let got = try await c.answerJSON()
        #expect(got["ok"] == true)
        #expect(got["req"] == "get")
        #expect(got["call"]?["id"] == .string(call))
        #expect(got["call"]?["owner_uid"] == 0)
        #expect(
            try await c.answer()
                == #"{"ok":true,"protocol":1,"req":5,"role":"supervisor","roles":["auditor","handler","supervisor"],"server":"hotlined 0.1.0"}"#
        )
        #expect(try await c.poll() == nil)
        #expect(try await c.isActive)
        await c.close()
    }

    /// A line whose bytes come in several reads is answered once, whole, when its LF comes,
    /// and not before; a read that ends one line and begins the next answers the first only;
    /// a CR before the LF is dropped.
    @Test func aLineSplitAcrossReadsIsAnsweredOnceWhole() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.root)
        // The peer's roles are resolved first: from then on a ping is answered within the read
        // that completes it, so "no answer yet" after a read is final, not a race.
        try await c.send(#"{"op":"ping","req":0}"# + "\n")
        #expect(try await c.answer() == #"{"ok":true,"req":0}"#)

        for piece in [#"{"op":"pi"#, #"ng","r"#, #"eq":"#] {
            try await c.send(piece)
            #expect(try await c.poll() == nil)
        }
        try await c.send(#""split"}"# + "\n" + #"{"op":"ping","#)
        #expect(try await c.poll() == #"{"ok":true,"req":"split"}"#)
        #expect(try await c.poll() == nil)
        try await c.send(#""req":"next"}"#)
        #expect(try await c.poll() == nil)
        try await c.send("\r\n")
        #expect(try await c.poll() == #"{"ok":true,"req":"next"}"#)
        #expect(try await c.poll() == nil)
        await c.close()
    }

    /// A line that is not JSON is answered `bad_json` (no `req`: none could be read), and
    /// the connection goes on answering the lines after it; so does a line that is JSON but
    /// not an object.
    @Test func invalidJSONIsAnsweredBadJSONAndTheNextLineStillAnswered() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.root)
        try await c.send(
            """
            {"op":"ping","req":"before"
            [1,2]
            {"op":"ping","req":"after"}

            """)
        #expect(
            try await c.answers(3) == [
                #"{"error":{"code":"bad_json","message":"The line is not valid JSON: unexpected end of input at byte 28."},"ok":false}"#,
                #"{"error":{"code":"bad_json","message":"The line must be one JSON object, not an array."},"ok":false}"#,
                #"{"ok":true,"req":"after"}"#,
            ])
        #expect(try await c.isActive)
        await c.close()
    }

    /// `limits.max_line_bytes` counts the LF: a line of exactly that many bytes is answered;
    /// one byte more is answered `line_too_long` (no `req`), after the answers owed before it,
    /// and the connection is closed: the lines after it are never answered.
    @Test func aLineOverTheLimitIsAnsweredLineTooLongAndTheConnectionClosed() async throws {
        let h = try Harness()
        let limit = 64
        let c = try await Connection(h, Self.root) { $0.maxLineBytes = limit }
        let ping = #"{"op":"ping","req":"fits"}"#
        let fits = ping + String(repeating: " ", count: limit - 1 - ping.utf8.count) + "\n"
        let over = ping + String(repeating: " ", count: limit - ping.utf8.count) + "\n"
        #expect(fits.utf8.count == limit)
        #expect(over.utf8.count == limit + 1)

        try await c.send(#"{"op":"stats","req":"first"}"# + "\n" + fits + over + #"{"op":"ping","req":"never"}"# + "\n")
        let stats = try await c.answerJSON()
        #expect(stats["ok"] == true)
        #expect(stats["req"] == "first")
        #expect(try await c.answer() == #"{"ok":true,"req":"fits"}"#)
        #expect(
            try await c.answer()
                == #"{"error":{"code":"line_too_long","message":"The line is longer than 64 bytes (limits.max_line_bytes); the connection will be closed."},"ok":false}"#
        )
        try await c.waitUntilClosed()
        #expect(try await c.poll() == nil)
    }

    /// A peer whose uid and groups no role names is told `forbidden`, with the message that
    /// says so, for `stats` (any role may ask for it); `hello` (roles: none) and `ping` are
    /// answered, and the connection stays open.
    @Test func aPeerWithNoRoleIsRefusedStatsButAnsweredHelloAndPing() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.nobody)
        try await c.send(
            """
            {"op":"hello","protocol":1,"req":1}
            {"op":"stats","req":2}
            {"op":"ping","req":3}

            """)
        #expect(
            try await c.answers(3) == [
                #"{"ok":true,"protocol":1,"req":1,"role":null,"roles":[],"server":"hotlined 0.1.0"}"#,
                #"{"error":{"code":"forbidden","message":"Your user has no hotlined role; ask an administrator to add you to a hotline group."},"ok":false,"req":2}"#,
                #"{"ok":true,"req":3}"#,
            ])
        #expect(try await c.isActive)
        await c.close()
    }

    /// A client that pipelines and then shuts its side (input closed) still gets every answer
    /// to what it sent, in order, and only then is the connection closed. The lines and the
    /// half-close arrive in one step on the loop, so the write (stored on the writer's
    /// thread) and the requests behind it are still owed when the input closes.
    @Test func afterAHalfCloseEveryRequestReadIsAnsweredThenTheConnectionCloses() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.root)
        let call = UUIDText.random()
        let lines = """
            {"op":"ping","req":1}
            \(Self.callStart(req: "start", callID: call))
            {"op":"stats","req":3}
            {"op":"ping","req":4}

            """
        try await c.onLoop { channel in
            channel.pipeline.fireChannelRead(ByteBuffer(string: lines))
            channel.pipeline.fireChannelReadComplete()
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        try await c.waitUntilClosed()
        #expect(try await c.poll() == #"{"ok":true,"req":1}"#)
        let started = try #require(try await c.poll().map { try JSONParser.parse($0) })
        #expect(started["ok"] == true)
        #expect(started["req"] == "start")
        #expect(started["call_id"] == .string(call))
        let stats = try #require(try await c.poll().map { try JSONParser.parse($0) })
        #expect(stats["req"] == 3)
        #expect(stats["calls"] == 1)
        #expect(try await c.poll() == #"{"ok":true,"req":4}"#)
        #expect(try await c.poll() == nil)
    }

    /// A client that does not read its answers (its socket's buffer full: the channel not
    /// writable): the answers wait in the connection, at most
    /// `limits.max_pending_per_connection` of them; no line past the budget is taken from the
    /// bytes read, and reading stops. When it reads again, every answer comes, in order, and
    /// reading resumes.
    @Test func aClientNotReadingItsAnswersIsNoLongerReadFromAndItsAnswersAreBounded() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.root) { $0.maxPendingPerConnection = 2 }
        try await c.send(#"{"op":"ping","req":0}"# + "\n")
        #expect(try await c.answer() == #"{"ok":true,"req":0}"#)
        #expect(c.autoRead == true)

        try await c.onLoop { channel in
            channel.isWritable = false
            channel.pipeline.fireChannelWritabilityChanged()
        }
        #expect(c.autoRead == false)
        try await c.send((1...5).map { #"{"op":"ping","req":\#($0)}"# + "\n" }.joined())
        // Pings are answered on the loop, within the read: two answers held, the other three
        // lines still bytes (pendingCount counts them as one). Taking every line would make it 5.
        #expect(try await c.pendingCount == 3)
        #expect(try await c.poll() == nil)
        #expect(c.autoRead == false)

        try await c.onLoop { channel in
            channel.isWritable = true
            channel.pipeline.fireChannelWritabilityChanged()
        }
        #expect(try await c.answers(5) == (1...5).map { #"{"ok":true,"req":\#($0)}"# })
        #expect(try await c.pendingCount == 0)
        #expect(c.autoRead == true)
        #expect(try await c.poll() == nil)
        await c.close()
    }

    /// Requests under way count against the same budget as answers not yet written: with the
    /// reader thread held, two `stats` are taken and the rest of the lines wait as bytes, and
    /// reading stops although the client is reading. Once the readers run, all five are
    /// answered in order and reading resumes.
    @Test func requestsUnderWayFillTheBudgetAndReadingStopsUntilTheyAreAnswered() async throws {
        let h = try Harness()
        let c = try await Connection(h, Self.root) { $0.maxPendingPerConnection = 2 }
        // The roles are resolved on the reader thread: before it is held.
        try await c.send(#"{"op":"ping","req":0}"# + "\n")
        #expect(try await c.answer() == #"{"ok":true,"req":0}"#)
        #expect(c.autoRead == true)

        let gate = await ReaderGate(h)
        var opened = false
        defer { if !opened { gate.open() } }
        try await c.send((1...5).map { #"{"op":"stats","req":\#($0)}"# + "\n" }.joined())
        #expect(try await c.pendingCount == 3)
        #expect(c.autoRead == false)
        #expect(try await c.poll() == nil)

        gate.open()
        opened = true
        for req in 1...5 {
            let stats = try await c.answerJSON()
            #expect(stats["ok"] == true)
            #expect(stats["req"] == .int(Int64(req)))
        }
        #expect(try await c.pendingCount == 0)
        #expect(c.autoRead == true)
        #expect(try await c.poll() == nil)
        await c.close()
    }
}
