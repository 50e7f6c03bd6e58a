import Foundation
import HotlineCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import ServiceLifecycle
import Synchronization

/// What the metrics endpoint and the wallboard share: a Hummingbird application bound to
/// a loopback port or a Unix socket (``ListenAddress``), answering GET and HEAD only, with
/// headers that keep a browser from framing, sniffing or caching it, and a Host check so
/// that a web page elsewhere cannot read a loopback endpoint through DNS rebinding. Each is
/// held apart from the workstations: event loops of its own, at most ``maxConnections``
/// connections, and a connection idle (or a request begun and not finished) for
/// ``idleTimeout`` is closed.
enum HTTPEndpoint {
    static let maxConnections = 64
    static let idleTimeout: TimeAmount = .seconds(10)
    /// Not the workstations' event loops (MultiThreadedEventLoopGroup.singleton): a flood
    /// of HTTP requests waits here, not in front of a 999 call's acknowledgement.
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// A service serving `router` at `listen`; `onShutdown` stops whatever long requests it
    /// serves (the wallboard's event streams) so that a graceful shutdown is not held up.
    static func service(
        name: String, listen: ListenAddress, router: Router<BasicRequestContext>, logger: Logger,
        onShutdown: @escaping @Sendable () -> Void = {}
    ) -> any Service {
        let address: BindAddress
        switch listen {
        case .tcp(let host, let port): address = .hostname(host == "localhost" ? "127.0.0.1" : host, port: port)
        case .unix(let path): address = .unixDomainSocket(path: path)
        }
        let counter = ConnectionCounter()
        let app = Application(
            responder: Guarded(inner: router.buildResponder(), listen: listen),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ConnectionCap(counter: counter, logger: logger, name: name)],
                    idleTimeout: idleTimeout)),
            configuration: .init(address: address, serverName: nil),
            onServerRunning: { _ in
                if case .unix(let path) = listen {
                    // As open as the loopback port would be: anyone on this machine who can
                    // reach the directory. hotlined's umask would make it its own alone.
                    chmod(path, 0o666)
                }
                logger.notice("\(name) listening on \(listen)")
            }, eventLoopGroupProvider: .shared(group), logger: logger)
        return Endpoint(name: name, listen: listen, app: app, logger: logger, onShutdown: onShutdown)
    }

    /// Runs the application; a failure to bind is logged and leaves the rest of the daemon
    /// running: the call log matters more than its wallboard.
    struct Endpoint<App: ApplicationProtocol>: Service {
        let name: String
        let listen: ListenAddress
        let app: App
        let logger: Logger
        let onShutdown: @Sendable () -> Void

        func run() async throws {
            if case .unix(let path) = listen, !removeStaleSocket(path) {
                logger.error(
                    "\(name) could not listen on \(listen): something is listening there already; the rest of hotlined runs without it")
                onShutdown()
                // A service that returns shuts the daemon down: wait for the daemon's own end.
                try? await gracefulShutdown()
                return
            }
            do {
                try await withGracefulShutdownHandler {
                    try await app.run()
                } onGracefulShutdown: {
                    onShutdown()
                }
            } catch {
                logger.error("\(name) could not listen on \(listen); the rest of hotlined runs without it: \(error)")
                onShutdown()
                try? await gracefulShutdown()
            }
            if case .unix(let path) = listen { _ = removeStaleSocket(path) }
        }

        /// A socket an earlier process left, removed so that the bind can take its place;
        /// false when something answers there (the workstations' socket, another daemon's),
        /// which is never removed. Anything that is not a socket is left for the bind to fail on.
        private func removeStaleSocket(_ path: String) -> Bool {
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return true }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let fits = withUnsafeMutableBytes(of: &address.sun_path) { raw -> Bool in
                let bytes = Array(path.utf8)
                guard bytes.count < raw.count else { return false }
                for (i, b) in bytes.enumerated() { raw[i] = b }
                return true
            }
            guard fits else { return false }
            let answered = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if answered == 0 { return false }
            unlink(path)
            return true
        }
    }

    /// Connections open on one endpoint; past ``maxConnections`` a new one is closed at once.
    final class ConnectionCounter: Sendable {
        let open = Atomic<Int>(0)
    }

    final class ConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        let counter: ConnectionCounter
        let logger: Logger
        let name: String
        private var counted = false

        init(counter: ConnectionCounter, logger: Logger, name: String) {
            self.counter = counter
            self.logger = logger
            self.name = name
        }

        func handlerAdded(context: ChannelHandlerContext) {
            counted = true
            if counter.open.wrappingAdd(1, ordering: .relaxed).newValue > HTTPEndpoint.maxConnections {
                logger.warning("\(name): \(HTTPEndpoint.maxConnections) connections open already; closing a new one")
                context.close(promise: nil)
            }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if counted { counter.open.wrappingSubtract(1, ordering: .relaxed) }
            counted = false
        }
    }

    /// Every request, whatever its path: GET and HEAD only (HEAD answered as GET without
    /// the body); on a TCP port, only requests addressed to a loopback name; and the
    /// headers every answer carries.
    struct Guarded<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
        typealias Context = BasicRequestContext
        let inner: Inner
        let listen: ListenAddress

        func respond(to request: Request, context: Context) async throws -> Response {
            var response: Response
            if request.method != .get && request.method != .head {
                response = HTTPEndpoint.plain(.methodNotAllowed, "Only GET is served here.\n", extra: [.allow: "GET, HEAD"])
            } else if case .tcp = listen, !HTTPEndpoint.isLoopbackAuthority(request.head.authority) {
                response = HTTPEndpoint.plain(.misdirectedRequest, "Ask for this page by a loopback address (127.0.0.1 or localhost).\n")
            } else {
                var head = request.head
                head.method = .get
                let asked = Request(head: head, body: request.body)
                do {
                    response = try await inner.respond(to: asked, context: context)
                } catch let error as any HTTPResponseError {
                    response = HTTPEndpoint.plain(error.status, "\(error.status.reasonPhrase).\n")
                }
                if request.method == .head { response.body = .init() }
            }
            response.headers[.xContentTypeOptions] = "nosniff"
            response.headers[.init("Referrer-Policy")!] = "no-referrer"
            response.headers[.init("X-Frame-Options")!] = "DENY"
            if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
            return response
        }
    }

    /// `localhost`, `127.x.x.x` or `[::1]`, with or without a port (of digits only).
    static func isLoopbackAuthority(_ authority: String?) -> Bool {
        guard let authority, !authority.isEmpty else { return false }
        var host = Substring(authority)
        var port: Substring = ""
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            port = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            port = host[colon...]
            host = host[..<colon]
        }
        if !port.isEmpty {
            guard port.first == ":", port.count > 1, port.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        return ListenAddress.isLoopbackHost(host.lowercased())
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
