import HotlineCore
import NIOCore

/// Keeps a connection from holding resources for ever (issue: limits): a line started and
/// not finished within `line` seconds, a client that stops reading its answers for `write`
/// seconds, and a connection idle (nothing sent, nothing owed, no alert subscription) for
/// `idle` seconds are each told `unavailable` with the reason, and closed. Sits first in the
/// pipeline, on raw bytes.
final class ConnectionTimeouts: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var line: TimeAmount
        var write: TimeAmount
        var idle: TimeAmount
    }

    private let limits: Limits
    /// Whether the connection is waiting on the daemon (answers owed) or subscribed to alerts.
    private let isBusy: () -> Bool
    private var lastActivity = NIODeadline.now()
    private var midLineSince: NIODeadline?
    private var unwritableSince: NIODeadline?
    private var check: RepeatedTask?

    init(limits: Limits, isBusy: @escaping () -> Bool) {
        self.limits = limits
        self.isBusy = isBusy
    }

    func channelActive(context: ChannelHandlerContext) {
        let period = TimeAmount.nanoseconds(
            max(TimeAmount.milliseconds(50).nanoseconds, min(limits.line, limits.write, limits.idle).nanoseconds / 4))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let (handler, context) = loopBound.value
            handler.enforce(context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        lastActivity = .now()
        if let last = bytes.readableBytesView.last {
            if last == 0x0A {
                midLineSince = nil
            } else if midLineSince == nil || bytes.readableBytesView.contains(0x0A) {
                // A line begun now (or after the last complete one in this read).
                midLineSince = .now()
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        unwritableSince = context.channel.isWritable ? nil : (unwritableSince ?? .now())
        context.fireChannelWritabilityChanged()
    }

    private func enforce(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if let since = midLineSince, now - since > limits.line {
            close(
                context,
                "A request line was begun and not finished within \(Self.seconds(limits.line)) s (limits.line_timeout_seconds); the connection is closed. Send each request as a whole line."
            )
        } else if let since = unwritableSince, now - since > limits.write {
            // It is not reading: no answer can reach it, so none is sent.
            check?.cancel()
            context.close(promise: nil)
        } else if now - lastActivity > limits.idle, midLineSince == nil, !isBusy() {
            close(
                context,
                "The connection was idle for \(Self.seconds(limits.idle)) s (limits.idle_timeout_seconds) and is closed; reconnect when needed."
            )
        }
    }

    private func close(_ context: ChannelHandlerContext, _ message: String) {
        check?.cancel()
        check = nil
        var bytes = JSONWriter.bytes(Response(req: nil, result: .failure(HotlineError(.unavailable, message))).json)
        bytes.append(0x0A)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes))).whenComplete { _ in
            context.close(promise: nil)
        }
    }

    static func seconds(_ t: TimeAmount) -> String {
        let s = Double(t.nanoseconds) / 1e9
        return s == s.rounded() ? String(Int(s)) : String(s)
    }
}
