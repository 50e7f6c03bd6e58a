import Foundation
import HotlineCore
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The daemon as a swift-service-lifecycle ``Service``: serves until a graceful shutdown
/// (SIGTERM, SIGINT), then stops accepting, answers what is in flight, commits what is
/// queued and closes the database.
public final class HotlineService: Service, Sendable {
    public enum Listen: Sendable {
        case path(String)
        case descriptor(CInt)
    }

    let server: HotlineServer
    let writer: EventWriter
    let store: CallStore
    let readers: NIOThreadPool
    let listen: Listen
    let logger: Logger

    public init(
        server: HotlineServer, writer: EventWriter, store: CallStore, readers: NIOThreadPool, listen: Listen,
        logger: Logger
    ) {
        self.server = server
        self.writer = writer
        self.store = store
        self.readers = readers
        self.listen = listen
        self.logger = logger
    }

    public func run() async throws {
        switch listen {
        case .path(let path): try await server.bind(path: path)
        case .descriptor(let fd): try await server.adopt(descriptor: fd)
        }
        logger.info("hotlined \(HotlineVersion.current) ready", metadata: ["database": "\(store.path)"])
        try? await gracefulShutdown()
        logger.info("shutting down: no new connections; answering what is in flight")
        await server.shutdown()
        writer.stop()
        do {
            try store.close()
        } catch {
            logger.error("closing the database failed", metadata: ["error": "\(error)"])
        }
        try? await readers.shutdownGracefully()
        logger.info("stopped")
    }
}
