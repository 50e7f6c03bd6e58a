import ArgumentParser
import Foundation
import HotlineCore
import HotlineServer
import HotlineStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

@main
struct Hotlined: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotlined",
        abstract: "The call-logging daemon for police telephone hotlines.",
        discussion: "Serves the workstation protocol on a Unix socket and keeps the call log in SQLite.",
        version: HotlineVersion.current
    )

    @Option(help: "The configuration file.")
    var config: String = "/etc/hotlined/hotlined.yaml"

    @Option(help: "Bind this Unix socket path (overrides paths.socket).")
    var socket: String?

    @Option(help: "The SQLite database file (overrides paths.database).")
    var database: String?

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and exit (0 when valid).")
    var checkConfig = false

    func run() async throws {
        var configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("hotlined: configuration rejected: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        if let socket { configuration.paths.socket = socket }
        if let database { configuration.paths.database = database }
        if checkConfig {
            print(
                "\(config): valid (\(configuration.routes.count) routes, \(configuration.outcomes.count) outcomes)")
            return
        }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["HOTLINED_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
            return handler
        }
        let logger = Logger(label: "hotlined")

        // Files we create (the database, its WAL) are for our user alone.
        umask(0o077)

        let keys: KeyRing
        do {
            let path = try KeyLoader.keyPath(
                configured: configuration.paths.keyFile, environment: ProcessInfo.processInfo.environment)
            keys = try KeyRing(hexKeys: try KeyLoader.load(path: path))
        } catch {
            logger.critical("refusing to start without an encryption key: \(error)")
            throw ExitCode(1)
        }

        let store: CallStore
        do {
            store = try CallStore(
                path: configuration.paths.database, keys: keys, logger: logger,
                maxBytes: configuration.limits.maxDatabaseBytes)
        } catch {
            logger.critical("cannot open the database \(configuration.paths.database): \(error)")
            throw ExitCode(1)
        }
        let writer = EventWriter(
            store: store, policy: CallPolicy(routes: RouteTable(configuration)),
            maxBatch: configuration.limits.maxBatchEvents)
        writer.start()
        let readers = NIOThreadPool(numberOfThreads: 2)
        readers.start()
        let dispatcher = Dispatcher(
            store: store, writer: writer, configuration: configuration, readers: readers, logger: logger)
        let server = HotlineServer(dispatcher: dispatcher, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let service = HotlineService(
            server: server, writer: writer, store: store, readers: readers,
            listen: .path(configuration.paths.socket), logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
