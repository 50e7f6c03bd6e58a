import HotlineCore
import Logging
import NIOCore
import Synchronization

/// One workstation connection: decodes each line, runs it, and writes the answers back in
/// the order the requests came, however the work behind them finishes.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private let dispatcher: Dispatcher
    private let maxPending: Int
    private var decoder: RequestDecoder
    private var peer: Peer?
    private var credentials: PeerIdentity.Credentials?
    /// The configuration generation `peer`'s roles were worked out under.
    private var peerGeneration = -1
    /// What was read while the peer's roles were being worked out, handled in order after.
    private var heldFrames: [Frame] = []
    private var resolving = false
    /// Answers not yet written, oldest first; nil while the request is still running.
    private var slots: [(response: ByteBuffer?, closeAfter: Bool)] = []
    private var slotBase = 0
    /// Completes when every request so far has been answered: reads wait on it, so a read
    /// after a write on the same connection sees that write.
    private var tail: EventLoopFuture<Void>?
    private var closing = false
    /// The client shut its side: answer what was read, then close.
    private var inputClosed = false
    private var subscriber: AlertSubscriber?
    private let subscriberQueue: Int

    init(dispatcher: Dispatcher, configuration: Configuration) {
        self.dispatcher = dispatcher
        self.maxPending = configuration.limits.maxPendingPerConnection
        self.decoder = RequestDecoder(outcomes: Set(configuration.outcomes))
        self.subscriberQueue = configuration.alerts.subscriberQueue
    }

    var pendingCount: Int { slots.count }

    /// Answers are owed, lines are held, or alerts are pushed here: not idle.
    var isBusy: Bool { !slots.isEmpty || !heldFrames.isEmpty || resolving || subscriber != nil }

    func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        PeerIdentity.credentials(of: context.channel).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let cred):
                handler.credentials = cred
                handler.resolvePeer(context: context)
            case .failure(let error):
                handler.dispatcher.logger.warning("cannot read peer credentials; closing", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    /// Works out the peer's roles off the event loop; lines that arrive meanwhile are held
    /// (and reading paused) so they are answered in order, under the roles now configured.
    private func resolvePeer(context: ChannelHandlerContext) {
        guard let credentials, !resolving else { return }
        resolving = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        dispatcher.resolvePeer(credentials, on: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            handler.resolving = false
            switch result {
            case .success(let (peer, generation)):
                handler.peer = peer
                handler.peerGeneration = generation
            case .failure:
                // Only when the daemon is stopping; the held lines are answered so.
                handler.peer = handler.peer ?? Peer(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid, roles: [])
                handler.peerGeneration = -1
            }
            let held = handler.heldFrames
            handler.heldFrames = []
            for frame in held { handler.handle(context: context, frame) }
            handler.updateAutoRead(context: context)
            if handler.inputClosed && handler.slots.isEmpty && !handler.resolving && handler.heldFrames.isEmpty {
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let subscriber { dispatcher.hub.remove(subscriber) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(context: context, unwrapInboundIn(data))
    }

    private func handle(context: ChannelHandlerContext, _ frame: Frame) {
        guard !closing else { return }
        if resolving || !heldFrames.isEmpty || credentials == nil
            || peerGeneration != dispatcher.rolesGeneration.load(ordering: .sequentiallyConsistent) && !dispatcher.isShuttingDown
        {
            heldFrames.append(frame)
            resolvePeer(context: context)
            return
        }
        switch frame {
        case .tooLong:
            closing = true
            let error = HotlineError(
                .lineTooLong,
                "The line is longer than \(dispatcher.configuration.limits.maxLineBytes) bytes; the connection will be closed.")
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
        guard slots.count < maxPending else {
            let error = HotlineError(
                .unavailable,
                "More than \(maxPending) requests are waiting on this connection; wait for answers before sending more.")
            enqueue(context: context, req: decoded.req, immediate: .failure(error))
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
        switch request {
        case .hello(let hello):
            decoder.workstation = hello.workstation ?? decoder.workstation
            decoder.handler = hello.handler ?? decoder.handler
            let answer: JSONValue = [
                "server": .string("hotlined \(HotlineVersion.current)"), "protocol": .int(RequestDecoder.supportedProtocol),
                "role": .optional(peer.primaryRole?.rawValue),
                "roles": .array(peer.roles.sorted().map { .string($0.rawValue) }),
            ]
            enqueue(context: context, req: decoded.req, immediate: .success(answer))
            return
        case .alertsSubscribe:
            subscribe(context: context, req: decoded.req, peer: peer)
        case .write:
            // Writes go to the writer at once: it keeps their order, and batching them
            // with other connections' is what makes group commit pay.
            enqueue(context: context, req: decoded.req, future: dispatcher.handle(request, peer: peer, on: context.eventLoop))
        default:
            let dispatcher = self.dispatcher
            let loop = context.eventLoop
            let after = tail ?? loop.makeSucceededVoidFuture()
            enqueue(
                context: context, req: decoded.req,
                future: after.flatMap { dispatcher.handle(request, peer: peer, on: loop) })
        }
    }

    /// `alerts.subscribe`: answers `{"backlog": N}`, then pushes the N unacknowledged alerts
    /// oldest first, a page at a time as the console reads them, then every new alert as it
    /// is raised (PROTOCOL.md section 7).
    private func subscribe(context: ChannelHandlerContext, req: JSONValue?, peer: Peer) {
        guard peer.has(.supervisor) else {
            let error = peer.roles.isEmpty
                ? Dispatcher.forbiddenNoRole : HotlineError(.forbidden, "Only supervisors may subscribe to alerts.")
            enqueue(context: context, req: req, immediate: .failure(error))
            return
        }
        guard subscriber == nil else {
            enqueue(context: context, req: req, immediate: .success(["backlog": 0]))
            return
        }
        let subscriber = AlertSubscriber(
            channel: context.channel, limit: subscriberQueue, logger: dispatcher.logger, backlog: dispatcher.alertBacklog)
        self.subscriber = subscriber
        // From here, new alerts wait in the subscriber until the backlog has been written.
        dispatcher.hub.add(subscriber)
        let loop = context.eventLoop
        let after = tail ?? loop.makeSucceededVoidFuture()
        let answer = loop.makePromise(of: JSONValue.self)
        enqueue(context: context, req: req, future: answer.futureResult)
        after.flatMap { subscriber.countBacklog() }
            .whenComplete { result in
                switch result {
                case .success(let count):
                    answer.succeed(["backlog": .int(Int64(count))])  // written first: it is at the head
                    subscriber.sendBacklog()
                case .failure:
                    answer.fail(HotlineError(.storage, "The unacknowledged alerts could not be read; subscribe again."))
                    subscriber.goLive()
                }
            }
    }

    private func enqueue(
        context: ChannelHandlerContext, req: JSONValue?, immediate: Result<JSONValue, HotlineError>,
        closeAfter: Bool = false
    ) {
        let index = slotBase + slots.count
        slots.append((nil, closeAfter))
        fill(context: context, index: index, req: req, result: immediate)
    }

    private func enqueue(context: ChannelHandlerContext, req: JSONValue?, future: EventLoopFuture<JSONValue>) {
        let index = slotBase + slots.count
        slots.append((nil, false))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context) = loopBound.value
            let mapped = result.mapError { error in
                (error as? HotlineError) ?? HotlineError(.storage, "Internal error: \(error).")
            }
            handler.fill(context: context, index: index, req: req, result: mapped)
        }
        // The tail completes when this request *and every one before it* is answered: a write
        // does not wait for earlier reads, so its own completion says nothing of theirs.
        let done = future.map { _ in () }.recover { _ in () }
        tail = tail.map { $0.and(done).map { _ in () } } ?? done
    }

    private func fill(context: ChannelHandlerContext, index: Int, req: JSONValue?, result: Result<JSONValue, HotlineError>) {
        let position = index - slotBase
        guard position >= 0, position < slots.count else { return }
        slots[position].response = Self.encode(req: req, result: result, allocator: context.channel.allocator)
        flushReady(context: context)
    }

    private func flushReady(context: ChannelHandlerContext) {
        var wrote = false
        var close = false
        while let first = slots.first, let response = first.response {
            context.write(wrapOutboundOut(response), promise: nil)
            wrote = true
            slots.removeFirst()
            slotBase += 1
            if first.closeAfter {
                close = true
                break
            }
        }
        if wrote { context.flush() }
        if close || (inputClosed && slots.isEmpty && heldFrames.isEmpty && !resolving) { context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // A script that pipelines and then half-closes still gets every answer.
            inputClosed = true
            if slots.isEmpty && heldFrames.isEmpty && !resolving { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    static func encode(req: JSONValue?, result: Result<JSONValue, HotlineError>, allocator: ByteBufferAllocator)
        -> ByteBuffer
    {
        var members: [String: JSONValue]
        switch result {
        case .success(let value):
            members = value.objectValue ?? [:]
            // A success is "ok": true, except where the op's own answer says otherwise:
            // `verify` answers "ok": false for a tampered log (PROTOCOL.md section 9), with
            // no "error", since the request itself succeeded.
            if members["ok"] == nil { members["ok"] = true }
        case .failure(let error):
            members = ["ok": false, "error": error.json]
        }
        if let req { members["req"] = req }
        var bytes = JSONWriter.bytes(.object(members))
        bytes.append(0x0A)
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// A client that sends without reading its answers fills our outbound buffer; stop
    /// reading from it until it catches up, so its backlog stays bounded and costs nobody else.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        updateAutoRead(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func updateAutoRead(context: ChannelHandlerContext) {
        let resume = context.channel.isWritable && !dispatcher.isShuttingDown && !inputClosed && !resolving
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
