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
                .writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { [self] channel in
                let configuration = dispatcher.configuration
                // Counted here, atomically, so simultaneous connects cannot pass the cap together.
                let count = dispatcher.connections.wrappingAdd(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in dispatcher.connections.subtract(1, ordering: .relaxed) }
                if count > configuration.limits.maxConnections || dispatcher.isShuttingDown {
                    let error = dispatcher.isShuttingDown
                        ? HotlineError.shuttingDown
                        : HotlineError(
                            .unavailable, "Too many connections (\(configuration.limits.maxConnections)); retry shortly.")
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RefusingHandler(error: error))
                    }
                }
                self.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let limits = configuration.limits
                    let connection = ConnectionHandler(dispatcher: dispatcher, configuration: configuration)
                    func amount(_ seconds: Double) -> TimeAmount { .nanoseconds(Int64(seconds * 1e9)) }
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionTimeouts(
                            limits: .init(
                                line: amount(limits.lineTimeoutSeconds), write: amount(limits.writeTimeoutSeconds),
                                idle: amount(limits.idleTimeoutSeconds)),
                            isBusy: { connection.isBusy }))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFramer(maxLineBytes: limits.maxLineBytes)))
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
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
                pending += (try? await channel.eventLoop.submit {
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
