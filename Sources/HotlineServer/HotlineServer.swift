import Foundation
import HotlineCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The workstation socket: accepts connections and gives each a ``ConnectionHandler``.
public final class HotlineServer: Sendable {
    let dispatcher: Dispatcher
    let group: any EventLoopGroup
    let logger: Logger
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let serverChannel = Mutex<(any Channel)?>(nil)
    /// Open connections by the uid on the other end (`limits.max_connections_per_uid`).
    private let perUID = Mutex<[UInt32: Int]>([:])

    public init(dispatcher: Dispatcher, group: any EventLoopGroup, logger: Logger) {
        self.dispatcher = dispatcher
        self.group = group
        self.logger = logger
    }

    private func bootstrap() -> ServerBootstrap {
        let dispatcher = self.dispatcher
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(
                .writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: 64 * 1024, high: 256 * 1024)
            )
            .childChannelInitializer { [self] channel in
                let configuration = dispatcher.configuration
                let limits = configuration.limits
                // Counted here, atomically, so simultaneous connects cannot pass the cap together.
                let count = dispatcher.connections.wrappingAdd(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in dispatcher.connections.subtract(1, ordering: .relaxed) }
                if count > limits.maxConnections || dispatcher.isShuttingDown {
                    let error =
                        dispatcher.isShuttingDown
                        ? HotlineError.shuttingDown
                        : HotlineError(
                            .unavailable,
                            "Too many connections: the daemon takes \(limits.maxConnections) at once (limits.max_connections); retry shortly."
                        )
                    return Self.refuse(channel, error)
                }
                // Who is connecting comes from the kernel; each uid has its own share of the slots.
                return PeerIdentity.credentials(of: channel).flatMap { credentials in
                    let held = self.perUID.withLock { counts -> Int in
                        counts[credentials.uid, default: 0] += 1
                        return counts[credentials.uid]!
                    }
                    channel.closeFuture.whenComplete { _ in
                        self.perUID.withLock { counts in
                            counts[credentials.uid]! -= 1
                            if counts[credentials.uid] == 0 { counts[credentials.uid] = nil }
                        }
                    }
                    if held > limits.maxConnectionsPerUID {
                        return Self.refuse(
                            channel,
                            HotlineError(
                                .unavailable,
                                "Too many connections from uid \(credentials.uid): one user may hold \(limits.maxConnectionsPerUID) at once (limits.max_connections_per_uid); close some or retry shortly."
                            ))
                    }
                    self.track(channel)
                    return channel.eventLoop.makeCompletedFuture {
                        let connection = ConnectionHandler(
                            dispatcher: dispatcher, configuration: configuration, credentials: credentials)
                        func amount(_ seconds: Double) -> TimeAmount { .nanoseconds(Int64(seconds * 1e9)) }
                        try channel.pipeline.syncOperations.addHandler(
                            ConnectionTimeouts(
                                limits: .init(
                                    line: amount(limits.lineTimeoutSeconds), write: amount(limits.writeTimeoutSeconds),
                                    idle: amount(limits.idleTimeoutSeconds)),
                                isBusy: { connection.isBusy }))
                        try channel.pipeline.syncOperations.addHandler(connection)
                    }
                }.flatMapError { error in
                    self.logger.warning("cannot read peer credentials; closing", metadata: ["error": "\(error)"])
                    return channel.close()
                }
            }
    }

    /// Answers a connection the daemon will not take with one `unavailable` line saying which
    /// limit, then closes it.
    private static func refuse(_ channel: any Channel, _ error: HotlineError) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RefusingHandler(error: error))
        }
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = channels.withLock { $0.removeValue(forKey: id) }
        }
    }

    /// Binds `path` (replacing a stale socket file) with mode 0660.
    public func bind(path: String) async throws {
        let channel = try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o660)
        serverChannel.withLock { $0 = channel }
        logger.info("listening", metadata: ["socket": "\(path)"])
    }

    /// Serves a listening socket inherited from systemd (socket activation).
    public func adopt(descriptor: CInt) async throws {
        let channel = try await bootstrap().withBoundSocket(descriptor).get()
        serverChannel.withLock { $0 = channel }
        logger.info("listening on the socket systemd passed", metadata: ["fd": "\(descriptor)"])
    }

    /// Stops accepting, answers everything already received, then closes every connection.
    public func shutdown(timeout: Duration = .seconds(10)) async {
        dispatcher.beginShutdown()
        if let channel = serverChannel.withLock({ $0 }) {
            try? await channel.close()
        }
        // Stop reading new requests; what has been read is still answered.
        let open = channels.withLock { Array($0.values) }
        for channel in open {
            try? await channel.setOption(ChannelOptions.autoRead, value: false).get()
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var pending = 0
            for channel in channels.withLock({ Array($0.values) }) {
                pending +=
                    (try? await channel.eventLoop.submit {
                        (try? channel.pipeline.syncOperations.handler(type: ConnectionHandler.self))?.pendingCount ?? 0
                    }.get()) ?? 0
            }
            if pending == 0 { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        for channel in channels.withLock({ Array($0.values) }) {
            try? await channel.close()
        }
    }
}

/// Answers a connection the daemon cannot take with one `unavailable` line, then closes it.
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let error: HotlineError
    private var sent = false

    init(error: HotlineError) { self.error = error }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context: context)
        context.fireChannelActive()
    }

    private func refuse(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let buffer = ConnectionHandler.encode(req: nil, result: .failure(error), allocator: context.channel.allocator)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
