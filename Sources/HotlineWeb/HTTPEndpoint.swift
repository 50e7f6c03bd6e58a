import Foundation
import HotlineCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What the metrics endpoint and the wallboard share: a Hummingbird application bound to
/// a loopback port or a Unix socket (``ListenAddress``), answering GET only, with headers
/// that keep a browser from framing, sniffing or caching it, and a Host check so that a web
/// page elsewhere cannot read a loopback endpoint through DNS rebinding.
enum HTTPEndpoint {
    /// A router whose every route is behind ``Guard`` (Hummingbird applies a middleware to
    /// the routes added after it).
    static func router(_ listen: ListenAddress) -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(Guard(listen: listen))
        return router
    }

    /// The application, and a function that stops whatever long requests it is serving
    /// (the wallboard's event streams) so that a graceful shutdown is not held up by them.
    static func service(
        name: String, listen: ListenAddress, router: Router<BasicRequestContext>, logger: Logger,
        onShutdown: @escaping @Sendable () -> Void = {}
    ) -> any Service {
        let address: BindAddress
        switch listen {
        case .tcp(let host, let port): address = .hostname(host == "localhost" ? "127.0.0.1" : host, port: port)
        case .unix(let path): address = .unixDomainSocket(path: path)
        }
        let app = Application(
            router: router, configuration: .init(address: address, serverName: nil),
            onServerRunning: { _ in
                if case .unix(let path) = listen {
                    // As open as the loopback port would be: anyone on this machine who can
                    // reach the directory. hotlined's umask would make it its own alone.
                    chmod(path, 0o666)
                }
                logger.notice("\(name) listening on \(listen)")
            }, logger: logger)
        return Endpoint(name: name, listen: listen, app: app, logger: logger, onShutdown: onShutdown)
    }

    /// Runs the application; a failure to bind is logged and leaves the rest of the daemon
    /// running: the call log matters more than its wallboard.
    struct Endpoint: Service {
        let name: String
        let listen: ListenAddress
        let app: Application<RouterResponder<BasicRequestContext>>
        let logger: Logger
        let onShutdown: @Sendable () -> Void

        func run() async throws {
            if case .unix(let path) = listen { removeStaleSocket(path) }
            do {
                try await withGracefulShutdownHandler {
                    try await app.run()
                } onGracefulShutdown: {
                    onShutdown()
                }
            } catch {
                logger.error("\(name) could not listen on \(listen); the rest of hotlined runs without it: \(error)")
                try? await gracefulShutdown()
            }
            if case .unix(let path) = listen { removeStaleSocket(path) }
        }

        /// A socket left by an earlier process: removed, as nothing listens there now (the
        /// bind fails on anything that is not a socket).
        private func removeStaleSocket(_ path: String) {
            var info = stat()
            if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        }
    }

    /// GET and HEAD only; on a TCP port, only requests addressed to a loopback name.
    struct Guard<Context: RequestContext>: RouterMiddleware {
        let listen: ListenAddress

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            guard request.method == .get || request.method == .head else {
                return Self.plain(.methodNotAllowed, "Only GET is served here.\n", extra: [.allow: "GET, HEAD"])
            }
            if case .tcp = listen, !Self.isLoopbackAuthority(request.head.authority) {
                return Self.plain(.misdirectedRequest, "Ask for this page by a loopback address (127.0.0.1 or localhost).\n")
            }
            var response = try await next(request, context)
            response.headers[.xContentTypeOptions] = "nosniff"
            response.headers[.init("Referrer-Policy")!] = "no-referrer"
            response.headers[.init("X-Frame-Options")!] = "DENY"
            if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
            return response
        }

        /// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
        static func isLoopbackAuthority(_ authority: String?) -> Bool {
            guard let authority, !authority.isEmpty else { return false }
            var host = Substring(authority)
            if host.hasPrefix("[") {
                guard let close = host.firstIndex(of: "]") else { return false }
                host = host[host.index(after: host.startIndex)..<close]
            } else if let colon = host.lastIndex(of: ":") {
                host = host[..<colon]
            }
            return ListenAddress.isLoopbackHost(host.lowercased())
        }

        static func plain(_ status: HTTPResponse.Status, _ text: String, extra: HTTPFields = [:]) -> Response {
            var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
            headers.append(contentsOf: extra)
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
