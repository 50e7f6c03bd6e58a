import DequeModule
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One workstation connection: cuts lines from what it reads, runs each request, and
/// writes the answers back in the order the requests came, however the work behind them
/// finishes.
///
/// Everything the connection holds counts against one budget (issue 12): requests read
/// and not yet answered, and answers ready but not yet written, at most
/// `limits.max_pending_per_connection` of them and `limits.max_pending_bytes_per_connection`
/// bytes. At the budget no further line is taken from the bytes read, and reading stops
/// (backpressure): a client that pipelines faster than it reads its answers only slows
/// itself. Bulk reads start only while the client is reading its answers, at most
/// `limits.max_bulk_reads_per_connection` at a time; writes the writer has no room for
/// wait here, in order, and are offered again when it has.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// One request's place in the order of answers.
    private struct Slot {
        var response: ByteBuffer?
        /// What it holds of the byte budget: its request line until answered, then its answer.
        var cost: Int
        var closeAfter: Bool
        var bulk: Bool
        /// Run once the answer has been handed to the channel.
        var afterWrite: (() -> Void)? = nil
    }

    /// A write the writer had no room for, to offer again.
    private struct WaitingWrite {
        var event: WriteEvent
        var peer: Peer
        var promise: EventLoopPromise<JSONValue>
        var readAt: ContinuousClock.Instant
    }

    private let dispatcher: Dispatcher
    private let limits: Configuration.Limits
    private let credentials: PeerIdentity.Credentials
    /// This connection's queue at the writer.
    private let source: Int
    private var decoder: RequestDecoder
    private var framer: LineFramer
    /// Bytes read and not yet cut into lines.
    private var input: ByteBuffer?
    private var peer: Peer?
    /// The configuration generation `peer`'s roles were worked out under.
    private var peerGeneration = -1
    private var resolving = false
    private var slots: Deque<Slot> = []
    private var slotBase = 0
    private var heldBytes = 0
    /// Completes when every write and urgent read so far has been answered: reads wait on
    /// it, so a read after a write on the same connection sees that write.
    private var tail: EventLoopFuture<Void>?
    /// Completes when every bulk read so far has been answered: urgent reads wait on it too,
    /// so a connection's reads run, and are audited, in the order it sent them.
    private var bulkTail: EventLoopFuture<Void>?
    private var waitingWrites: Deque<WaitingWrite> = []
    private var waitingForRoom = false
    /// Bulk reads read and not yet started, oldest first.
    /// Bulk reads waiting to start: called with true to start, false to answer `unavailable`
    /// (the connection closed first).
    private var waitingBulk: Deque<(Bool) -> Void> = []
    /// Bulk reads started whose answers are not yet written to the socket.
    private var bulkOutstanding = 0
    private var progressing = false
    /// A turn was given up and its return is scheduled.
    private var turnYielded = false
    /// What autoRead was last set to, so it is set only when it changes.
    private var reading: Bool?
    private var progressAgain = false
    private var closing = false
    /// The client shut its side: answer what was read, then close.
    private var inputClosed = false
    private var subscriber: AlertSubscriber?
    private let subscriberQueue: Int

    private static let sources = Atomic<Int>(0)
    /// Lines one connection handles before the event loop serves the others.
    static let linesPerTurn = 32
    /// What a request under way costs besides its line, as counted against the byte budget.
    static let requestOverheadBytes = 2048

    init(dispatcher: Dispatcher, configuration: Configuration, credentials: PeerIdentity.Credentials) {
        self.dispatcher = dispatcher
        self.limits = configuration.limits
        self.credentials = credentials
        self.source = Self.sources.wrappingAdd(1, ordering: .relaxed).newValue
        self.decoder = RequestDecoder(outcomes: Set(configuration.outcomes))
        self.framer = LineFramer(maxLineBytes: configuration.limits.maxLineBytes)
        self.subscriberQueue = configuration.alerts.subscriberQueue
    }

    /// Answers owed, and lines read but not yet taken (a connection waiting for its turn):
    /// at shutdown those are answered too, `unavailable`.
    var pendingCount: Int { slots.count + (hasCompleteLine && !closing ? 1 : 0) }

    /// Answers are owed, roles are being looked up, or alerts are pushed here: not idle.
    var isBusy: Bool { !slots.isEmpty || resolving || subscriber != nil }

    /// Whether the budget has room for one more request.
    private var hasRoom: Bool {
        slots.count < limits.maxPendingPerConnection && heldBytes < limits.maxPendingBytesPerConnection
    }

    func channelActive(context: ChannelHandlerContext) {
        resolvePeer(context: context)
        context.fireChannelActive()
    }

    /// Works out the peer's roles off the event loop, on the urgent reader threads; no line
    /// is taken meanwhile, so each is answered in order under the roles now configured.
    private func resolvePeer(context: ChannelHandlerContext) {
        guard !resolving else { return }
        resolving = true
        updateAutoRead(context: context)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        dispatcher.resolvePeer(credentials, on: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            handler.resolving = false
            switch result {
            case .success(let (peer, generation)):
                handler.peer = peer
                handler.peerGeneration = generation
            case .failure:
                // Only when the daemon is stopping; what was read is answered so.
                let credentials = handler.credentials
                handler.peer = handler.peer ?? Peer(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid, roles: [])
                handler.peerGeneration = -1
            }
            handler.progress(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let subscriber { dispatcher.hub.remove(subscriber) }
        // Writes still waiting for room were never offered: nothing was stored for them.
        for waiting in waitingWrites { waiting.promise.fail(HotlineError(.unavailable, "The connection closed.")) }
        waitingWrites.removeAll()
        for start in waitingBulk { start(false) }
        waitingBulk.removeAll()
        // Lines not yet handled are not (a queued turn, or an answer coming, would go on
        // handling them: storing writes nobody can be told of).
        closing = true
        input = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        // While others wait for a turn on this loop, a connection that brings more than a
        // few lines waits for one too, rather than taking a turn as soon as its bytes come
        // (a read event for each of 32 flooding connections came in one pass, once a second,
        // and held a quiet workstation's line for 10-30 ms). A few lines go on at once.
        if !turnYielded, input!.readableBytes > Self.inlineBytes, TurnQueue.of(context.eventLoop).isBusy {
            yieldTurn(context: context)
            updateAutoRead(context: context)
            return
        }
        progress(context: context)
    }

    /// What a connection may bring and have handled at once when others wait for a turn.
    static let inlineBytes = 4096

    /// Writes what answers are ready, starts what bulk reads may start, takes what lines the
    /// budget allows, and then decides whether to read on. Called after anything changes;
    /// re-entry (an answer ready at once) just asks for another round.
    private func progress(context: ChannelHandlerContext) {
        if progressing {
            progressAgain = true
            return
        }
        progressing = true
        repeat {
            progressAgain = false
            takeLines(context: context)
            startBulkReads(context: context)
            // Answers written leave room for more lines and bulk reads: go round again.
            if flushReady(context: context) { progressAgain = true }
        } while progressAgain
        progressing = false
        updateAutoRead(context: context)
        if inputClosed && slots.isEmpty && !resolving && !hasCompleteLine { context.close(promise: nil) }
    }

    /// Whether the bytes read still hold a line not yet taken (waiting for room or roles).
    private var hasCompleteLine: Bool {
        input?.readableBytesView.contains(0x0A) ?? false
    }

    private func takeLines(context: ChannelHandlerContext) {
        var taken = 0
        while !closing, !resolving, !turnYielded, hasRoom, input != nil {
            // The event loop is shared with other workstations: after a turn's worth of lines,
            // give it back and come back a millisecond later. (Not with execute or a task due
            // now: NIO runs those, up to 1,000 rounds, before it looks at I/O again.)
            if taken == Self.linesPerTurn {
                yieldTurn(context: context)
                break
            }
            taken += 1
            if peer == nil
                || peerGeneration != dispatcher.rolesGeneration.load(ordering: .sequentiallyConsistent)
                    && !dispatcher.isShuttingDown
            {
                resolvePeer(context: context)
                return
            }
            guard let frame = framer.next(&input!) else { break }
            handle(context: context, frame)
        }
        if let buffer = input, buffer.readableBytes == 0 {
            input = nil
        } else if input != nil, input!.readerIndex > 65536 {
            input!.discardReadBytes()
        }
    }

    /// Comes back to this connection's lines once the event loop has served the others.
    private func yieldTurn(context: ChannelHandlerContext) {
        guard !turnYielded else { return }
        turnYielded = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        TurnQueue.of(context.eventLoop).append {
            let (handler, context) = loopBound.value
            handler.turnYielded = false
            handler.progress(context: context)
        }
    }

    private func handle(context: ChannelHandlerContext, _ frame: Frame) {
        switch frame {
        case .tooLong:
            closing = true
            let error = HotlineError(
                .lineTooLong,
                "The line is longer than \(limits.maxLineBytes) bytes (limits.max_line_bytes); the connection will be closed.")
            enqueue(context: context, req: nil, immediate: .failure(error), closeAfter: true)
        case .line(let line):
            let isBlank = line.readableBytesView.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if isBlank { return }
            handleLine(context: context, line)
        }
    }

    private func handleLine(context: ChannelHandlerContext, _ line: ByteBuffer) {
        let decoded = decoder.decode(line: line.readableBytesView)
        if dispatcher.isShuttingDown {
            enqueue(context: context, req: decoded.req, immediate: .failure(HotlineError.shuttingDown))
            return
        }
        let request: Request
        switch decoded.result {
        case .failure(let error):
            enqueue(context: context, req: decoded.req, immediate: .failure(error))
            return
        case .success(let r):
            request = r
        }
        guard let peer else {
            enqueue(context: context, req: decoded.req, immediate: .failure(HotlineError(.unavailable, "The connection is not ready yet.")))
            return
        }
        // What a request holds is more than its line: the decoded request, its promise and
        // the closures waiting on it. Measured: 16 connections pipelining 250-byte writes
        // grew the daemon by 41 MiB when only the line counted.
        let cost = line.readableBytes + Self.requestOverheadBytes
        let loop = context.eventLoop
        let dispatcher = self.dispatcher
        switch (request, request.requestClass) {
        case (.hello(let hello), _):
            decoder.workstation = hello.workstation ?? decoder.workstation
            decoder.handler = hello.handler ?? decoder.handler
            let answer = HelloAnswer(
                server: "hotlined \(HotlineVersion.current)", protocolVersion: RequestDecoder.supportedProtocol,
                role: peer.primaryRole?.rawValue, roles: peer.roles.sorted().map(\.rawValue)
            ).json
            enqueue(context: context, req: decoded.req, immediate: .success(answer))
        case (.alertsSubscribe, _):
            subscribe(context: context, req: decoded.req, peer: peer)
        case (.write(let event), _):
            // Writes go to the writer at once, in order: it keeps their order, and batching
            // them with other connections' is what makes group commit pay.
            let promise = loop.makePromise(of: JSONValue.self)
            enqueue(context: context, req: decoded.req, future: promise.futureResult, cost: cost)
            waitingWrites.append(WaitingWrite(event: event, peer: peer, promise: promise, readAt: .now))
            offerWaitingWrites(context: context)
        case (_, .bulkRead):
            enqueueBulk(context: context, req: decoded.req, cost: cost) { dispatcher.handle(request, peer: peer, on: loop) }
        case (_, _):
            let after = everythingBefore(loop)
            enqueue(
                context: context, req: decoded.req,
                future: after.flatMap { dispatcher.handle(request, peer: peer, on: loop) }, cost: cost)
        }
    }

    /// Completes when every request read so far has been answered.
    private func everythingBefore(_ loop: any EventLoop) -> EventLoopFuture<Void> {
        switch (tail, bulkTail) {
        case (nil, nil): loop.makeSucceededVoidFuture()
        case (let one?, nil), (nil, let one?): one
        case (let writes?, let bulk?): writes.and(bulk).map { _ in () }
        }
    }

    /// Offers the waiting writes to the writer, oldest first; when it is full, waits for
    /// room (the global `limits.max_queued_writes`), and the rest wait behind.
    private func offerWaitingWrites(context: ChannelHandlerContext) {
        while let first = waitingWrites.first {
            guard
                dispatcher.offerWrite(first.event, peer: first.peer, source: source, readAt: first.readAt, promise: first.promise)
            else {
                guard !waitingForRoom else { return }
                waitingForRoom = true
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let loop = context.eventLoop
                dispatcher.writer.whenRoom {
                    loop.execute {
                        let (handler, context) = loopBound.value
                        handler.waitingForRoom = false
                        handler.offerWaitingWrites(context: context)
                    }
                }
                return
            }
            waitingWrites.removeFirst()
        }
    }

    /// Starts waiting bulk reads while this connection may run more and its client is
    /// reading its answers: a bulk answer is built only when it can be written, and the
    /// next only once the client has taken the last from the socket.
    private func startBulkReads(context: ChannelHandlerContext) {
        while bulkOutstanding < limits.maxBulkReadsPerConnection, context.channel.isWritable,
            let start = waitingBulk.popFirst()
        {
            bulkOutstanding += 1
            start(true)
        }
    }

    /// `alerts.subscribe`: answers `{"backlog": N}`, then pushes the N unacknowledged alerts
    /// oldest first, a page at a time as the console reads them, then every new alert as it
    /// is raised (PROTOCOL.md section 7).
    private func subscribe(context: ChannelHandlerContext, req: JSONValue?, peer: Peer) {
        if case .refused(let error) = Access.alertsSubscribe.decide(peer.roles) {
            enqueue(context: context, req: req, immediate: .failure(error))
            return
        }
        guard subscriber == nil else {
            enqueue(context: context, req: req, immediate: .success(SubscribeAnswer(backlog: 0).json))
            return
        }
        let subscriber = AlertSubscriber(
            channel: context.channel, limit: subscriberQueue, logger: dispatcher.logger, backlog: dispatcher.alertBacklog)
        self.subscriber = subscriber
        // From here, new alerts wait in the subscriber until the backlog has been written.
        dispatcher.hub.add(subscriber)
        let answer = everythingBefore(context.eventLoop).flatMap { subscriber.countBacklog() }
            .map { count -> JSONValue in SubscribeAnswer(backlog: count).json }
            .flatMapErrorThrowing { _ in
                throw HotlineError(.storage, "The unacknowledged alerts could not be read; subscribe again.")
            }
        // The pushes follow the answer on the wire: they start once it has been written.
        enqueue(context: context, req: req, future: answer) { result in
            switch result {
            case .success: subscriber.sendBacklog()
            case .failure: subscriber.goLive()
            }
        }
    }

    private func enqueue(
        context: ChannelHandlerContext, req: JSONValue?, immediate: Result<JSONValue, HotlineError>,
        closeAfter: Bool = false
    ) {
        let index = slotBase + slots.count
        slots.append(Slot(response: nil, cost: 0, closeAfter: closeAfter, bulk: false))
        fill(context: context, index: index, req: req, result: immediate)
    }

    /// Takes a place in the order of answers for a request under way; `cost` is the bytes
    /// it holds until answered. Every later read waits for it (``tail``).
    private func enqueue(
        context: ChannelHandlerContext, req: JSONValue?, future: EventLoopFuture<JSONValue>, cost: Int = 0,
        afterWrite: ((Result<JSONValue, HotlineError>) -> Void)? = nil
    ) {
        let index = slotBase + slots.count
        slots.append(Slot(response: nil, cost: cost, closeAfter: false, bulk: false))
        heldBytes += cost
        let loopBound = NIOLoopBound((self, context, afterWrite), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context, afterWrite) = loopBound.value
            let mapped = result.mapError(Self.hotlineError)
            if let afterWrite {
                let position = index - handler.slotBase
                if position >= 0, position < handler.slots.count {
                    handler.slots[position].afterWrite = { afterWrite(mapped) }
                }
            }
            handler.fill(context: context, index: index, req: req, result: mapped)
        }
        // The tail completes when this request *and every one before it* is answered: a write
        // does not wait for earlier reads, so its own completion says nothing of theirs.
        let done = future.map { _ in () }.recover { _ in () }
        tail = tail.map { $0.and(done).map { _ in () } } ?? done
    }

    /// Takes a place in the order of answers for a bulk read, to run when
    /// ``startBulkReads(context:)`` lets it, after the writes and urgent reads before it;
    /// only urgent reads wait for it (``bulkTail``). Its answer, which can be a MiB, is
    /// encoded on the bulk threads too, not on the event loop other workstations share.
    private func enqueueBulk(
        context: ChannelHandlerContext, req: JSONValue?, cost: Int,
        _ run: @escaping @Sendable () -> EventLoopFuture<JSONValue>
    ) {
        let loop = context.eventLoop
        let index = slotBase + slots.count
        slots.append(Slot(response: nil, cost: cost, closeAfter: false, bulk: true))
        heldBytes += cost
        let encoded = loop.makePromise(of: ByteBuffer.self)
        let loopBound = NIOLoopBound((self, context), eventLoop: loop)
        encoded.futureResult.whenSuccess { response in
            let (handler, context) = loopBound.value
            handler.fill(context: context, index: index, response: response)
        }
        let done = encoded.futureResult.map { _ in () }
        bulkTail = bulkTail.map { $0.and(done).map { _ in () } } ?? done
        let after = tail ?? loop.makeSucceededVoidFuture()
        let pool = dispatcher.bulkEncoders
        waitingBulk.append { go in
            guard go else {
                encoded.succeed(
                    Self.encode(
                        req: req, result: .failure(HotlineError(.unavailable, "The connection closed.")), allocator: ByteBufferAllocator()))
                return
            }
            after.flatMap(run)
                .map { Result<JSONValue, any Error>.success($0) }
                .recover { .failure($0) }
                .flatMap { result in
                    let answer = result.mapError(Self.hotlineError)
                    return pool.runIfActive(eventLoop: loop) {
                        Self.encode(req: req, result: answer, allocator: ByteBufferAllocator())
                    }.recover { _ in
                        Self.encode(req: req, result: .failure(HotlineError.shuttingDown), allocator: ByteBufferAllocator())
                    }
                }
                .cascade(to: encoded)
        }
    }

    /// A failure as the wire shows it.
    private static func hotlineError(_ error: any Error) -> HotlineError {
        (error as? HotlineError) ?? HotlineError(.storage, "Internal error: \(error).")
    }

    private func fill(context: ChannelHandlerContext, index: Int, req: JSONValue?, result: Result<JSONValue, HotlineError>) {
        fill(context: context, index: index, response: Self.encode(req: req, result: result, allocator: context.channel.allocator))
    }

    private func fill(context: ChannelHandlerContext, index: Int, response: ByteBuffer) {
        let position = index - slotBase
        guard position >= 0, position < slots.count else { return }
        heldBytes += response.readableBytes - slots[position].cost
        slots[position].cost = response.readableBytes
        slots[position].response = response
        progress(context: context)
    }

    /// Writes the answers that are ready, in order, while the client is reading: what it
    /// does not read stays here, counted against its budget, not in the socket's buffer.
    /// Returns whether it wrote any.
    @discardableResult
    private func flushReady(context: ChannelHandlerContext) -> Bool {
        var wrote = false
        var close = false
        while let first = slots.first, let response = first.response, context.channel.isWritable || first.closeAfter {
            // A bulk answer counts against the connection's bulk reads until the client has
            // taken it from the socket: only then may its next bulk read start.
            var written: EventLoopPromise<Void>? = nil
            if first.bulk {
                let promise = context.eventLoop.makePromise(of: Void.self)
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                promise.futureResult.whenComplete { _ in
                    let (handler, context) = loopBound.value
                    handler.bulkOutstanding -= 1
                    handler.progress(context: context)
                }
                written = promise
            }
            context.write(wrapOutboundOut(response), promise: written)
            wrote = true
            slots.removeFirst()
            slotBase += 1
            heldBytes -= first.cost
            first.afterWrite?()
            if first.closeAfter {
                close = true
                break
            }
        }
        if wrote { context.flush() }
        if close { context.close(promise: nil) }
        return wrote
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // A script that pipelines and then half-closes still gets every answer.
            inputClosed = true
            progress(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    static func encode(req: JSONValue?, result: Result<JSONValue, HotlineError>, allocator: ByteBufferAllocator)
        -> ByteBuffer
    {
        var bytes = JSONWriter.bytes(Response(req: req, result: result).json)
        bytes.append(0x0A)
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// A client that sends without reading its answers fills our outbound buffer: its
    /// answers then wait in its budget, and once that is spent it is no longer read from,
    /// so its backlog stays bounded and costs nobody else. When it reads again, go on.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        progress(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func updateAutoRead(context: ChannelHandlerContext) {
        let resume =
            context.channel.isWritable && !dispatcher.isShuttingDown && !inputClosed && !resolving
            && !closing && hasRoom && !turnYielded
        guard resume != reading else { return }
        reading = resume
        context.channel.setOption(ChannelOptions.autoRead, value: resume).whenFailure { _ in }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        dispatcher.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

/// The version this build reports in `hello`.
public enum HotlineVersion {
    public static let current = "0.1.0"
}
