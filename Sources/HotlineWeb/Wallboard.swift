import HotlineCore
import HotlineServer
import HotlineStore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The control room's live wallboard (issue 17): `GET /` is the page, `GET /events` a
/// server-sent event stream of the board (``LiveBoard``) whenever it changes, and
/// `GET /board.json` the board once. Read-only and anonymous: it shows no caller identity,
/// no note, no location and no call id, so the log's roles are not asked for.
public enum Wallboard {
    /// Event streams open at once, at most: each holds a connection and a little memory.
    /// Past it, the longest-open is ended for the newest.
    static let maxStreams = 32

    public static func service(listen: ListenAddress, source: LiveSource, hub: AlertHub, logger: Logger) -> any Service {
        let feed = Feed(source: source, logger: logger)
        hub.watch { feed.poke() }
        let router = Router<BasicRequestContext>()
        router.get("/") { _, _ -> Response in
            asset(WallboardPage.html, type: "text/html; charset=utf-8")
        }
        router.get("/wallboard.css") { _, _ -> Response in asset(WallboardPage.css, type: "text/css; charset=utf-8") }
        router.get("/wallboard.js") { _, _ -> Response in asset(WallboardPage.script, type: "text/javascript; charset=utf-8") }
        router.get("/board.json") { _, _ -> Response in
            guard let board = await feed.current() else {
                return HTTPEndpoint.plain(.serviceUnavailable, "The log cannot be read now.\n")
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: board)))
        }
        router.get("/events") { _, _ -> Response in
            guard let stream = feed.subscribe() else {
                return HTTPEndpoint.plain(.serviceUnavailable, "hotlined is stopping.\n", extra: [.retryAfter: "10"])
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: .init { writer in
                    // The browser reconnects after this long if the stream breaks.
                    try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                    for await board in stream.updates {
                        var buffer = ByteBuffer(string: "event: board\ndata: ")
                        buffer.writeBytes(board)
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                    }
                    try await writer.finish(nil)
                })
        }
        return Composite(
            feed: feed,
            endpoint: HTTPEndpoint.service(name: "wallboard", listen: listen, router: router, logger: logger) { feed.close() })
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-cache",
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The feed's loop and the endpoint, side by side.
    struct Composite: Service {
        let feed: Feed
        let endpoint: any Service

        func run() async throws {
            try await withThrowingDiscardingTaskGroup { group in
                // Ended by the endpoint's shutdown (feed.close()), and by a graceful
                // shutdown however the endpoint fared.
                group.addTask { await cancelWhenGracefulShutdown { await feed.run() } }
                group.addTask { try await endpoint.run() }
            }
        }
    }

    /// The board as last read, and the streams waiting for the next. It is read again at
    /// once when an alert is pushed or acknowledged here (``AlertHub/watch(_:)``), every
    /// few seconds otherwise (another room's acknowledgement, a call answered), and never
    /// while no wallboard is open; at most ten times a second, and never sooner after the
    /// last read than ten times as long as it took, however busy the log is.
    /// Only the alerts and open calls (read on an index, cheap) are read at once; the day's
    /// calls (a scan of every call received today) every five seconds, and no more often
    /// than ten times as long as that read took, so that a busy day's scan never takes more
    /// than a tenth of the thread it runs on.
    final class Feed: Sendable {
        let source: LiveSource
        let logger: Logger
        private let state = Mutex(State())
        private let poked = Atomic<Bool>(true)

        struct State {
            var board: [UInt8]?
            var readAt: ContinuousClock.Instant?
            var streams: [Int: AsyncStream<[UInt8]>.Continuation] = [:]
            var nextID = 0
            var closed = false
            /// The day's calls as last read (folded), and how long that read took.
            var dayCalls: DayCalls?
            /// How long the last read took, alerts and board included.
            var took: Duration = .zero
        }

        struct DayCalls {
            var figures: DayFigures
            var readAt: ContinuousClock.Instant
            var took: Duration
        }

        struct Subscription {
            let updates: AsyncStream<[UInt8]>
        }

        static let tick: Duration = .milliseconds(100)
        static let period: Duration = .seconds(5)

        init(source: LiveSource, logger: Logger) {
            self.source = source
            self.logger = logger
        }

        func poke() { poked.store(true, ordering: .relaxed) }

        /// A stream of boards, the current one first; nil once the feed is closed.
        func subscribe() -> Subscription? {
            let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1))
            // Past the cap the longest-open stream is ended (its browser reconnects within
            // two seconds, and is sent the board at once): streams that never read cannot
            // keep the control room's wallboards out, only churn them.
            let (id, ended) = state.withLock { s -> (Int?, AsyncStream<[UInt8]>.Continuation?) in
                guard !s.closed else { return (nil, nil) }
                var ended: AsyncStream<[UInt8]>.Continuation?
                if s.streams.count >= Wallboard.maxStreams, let oldest = s.streams.keys.min() {
                    ended = s.streams.removeValue(forKey: oldest)
                }
                let id = s.nextID
                s.nextID += 1
                s.streams[id] = continuation
                if let board = s.board { continuation.yield(board) }
                return (id, ended)
            }
            ended?.finish()
            guard let id else { return nil }
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.streams.removeValue(forKey: id) }
            }
            poke()
            return Subscription(updates: stream)
        }

        /// The board now, read afresh if the last is more than a second old.
        func current() async -> [UInt8]? {
            var board: [UInt8]?
            await reads.run {
                if let (last, at) = state.withLock({ s in s.board.flatMap { b in s.readAt.map { (b, $0) } } }),
                    ContinuousClock.now - at < .seconds(1)
                {
                    board = last
                } else {
                    board = await read(full: dayIsDue)
                }
            }
            return board
        }

        /// Whether the day's calls are due to be read again (see the type's comment).
        private var dayIsDue: Bool {
            state.withLock { s in
                s.dayCalls.map { ContinuousClock.now - $0.readAt >= max(Self.period, $0.took * 10) } ?? true
            }
        }

        /// One read of the log at a time, whoever asks (the loop, `board.json`).
        private let reads = TurnLock()

        /// Ends every stream (graceful shutdown): the server can then close their connections.
        func close() {
            let streams = state.withLock { s in
                s.closed = true
                defer { s.streams = [:] }
                return Array(s.streams.values)
            }
            for stream in streams { stream.finish() }
        }

        func run() async {
            while !Task.isCancelled, !state.withLock({ $0.closed }) {
                do { try await Task.sleep(for: Self.tick) } catch { break }
                let watching = state.withLock { !$0.streams.isEmpty }
                guard watching else { continue }
                let due = dayIsDue
                // A poke waits until the last read is ten times its own length old, so that
                // the reads a flood of alerts asks for take at most a tenth of their thread.
                let (last, took) = state.withLock { ($0.readAt, $0.took) }
                let rested = last.map { ContinuousClock.now - $0 >= took * 10 } ?? true
                guard (rested && poked.exchange(false, ordering: .relaxed)) || due else { continue }
                await reads.run { _ = await read(full: due) }
            }
            close()
        }

        /// Reads the log, and hands the board to every stream. `full`: the day's calls too
        /// (else those read last, unless the day has changed).
        private func read(full: Bool) async -> [UInt8]? {
            let configuration = source.configuration()
            let now = source.clock()
            let calendar = LiveSource.calendar(configuration)
            let day = calendar.day(containing: now)
            let cached = state.withLock { $0.dayCalls }
            let scan = full || cached == nil || cached?.figures.day != day
            do {
                let started = ContinuousClock.now
                // An empty window reads no call: the alerts and open calls only.
                let rows = try await source.rows(
                    scan ? day : ShiftWindow(name: nil, date: nil, from: day.from, to: day.from, timezone: day.timezone))
                let figures: DayFigures
                if scan || cached == nil {
                    figures = DayFigures(
                        calls: rows.calls, day: day, routes: configuration.routes + [configuration.unrouted], calendar: calendar)
                    let fresh = DayCalls(figures: figures, readAt: .now, took: .now - started)
                    state.withLock { $0.dayCalls = fresh }
                } else {
                    figures = cached!.figures
                }
                let board = LiveBoard(rows: rows, figures: figures, at: now)
                var json = board.json
                if case .object(var fields) = json {
                    fields["storage_fault"] = source.store.storageFault.map { .string($0) } ?? .null
                    json = .object(fields)
                }
                let bytes = JSONWriter.bytes(json)
                let streams = state.withLock { s in
                    s.board = bytes
                    s.readAt = .now
                    s.took = .now - started
                    return Array(s.streams.values)
                }
                for stream in streams { stream.yield(bytes) }
                return bytes
            } catch {
                logger.warning("the wallboard could not read the log: \(error)")
                return nil
            }
        }
    }
}
