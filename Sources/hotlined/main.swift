import ArgumentParser
import Foundation
import HotlineCore
import HotlinePostgres
import HotlineServer
import HotlineStore
import HotlineSystemd
import HotlineWeb
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

extension SystemdNotifier: ServiceNotifier {}

@main
struct Hotlined: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotlined",
        abstract: "The call-logging daemon for police telephone hotlines.",
        discussion: """
            Serves the workstation protocol on a Unix socket (the one systemd passes, or --socket) and keeps \
            the call log in SQLite (or PostgreSQL: storage in the configuration). SIGHUP reloads the configuration; SIGTERM stops gracefully.
            """,
        version: HotlineVersion.current
    )

    @Option(help: "The configuration file.")
    var config: String = "/etc/hotlined/hotlined.yaml"

    @Option(help: "Bind this Unix socket path (overrides paths.socket; ignored under socket activation).")
    var socket: String?

    @Option(help: "The SQLite database file (overrides paths.database).")
    var database: String?

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and exit (0 when valid).")
    var checkConfig = false

    @Option(
        name: .customLong("export-units"),
        help: ArgumentHelp(
            "Write the scheduled export's systemd drop-ins (timer times from the shifts, the export directory) under this directory and exit.",
            discussion: "Run by the generator hotlined-export-generator; by hand: hotlined --export-units /run/systemd/generator."))
    var exportUnits: String?

    /// The configuration file with the command line's overrides applied.
    func loadConfiguration() throws -> Configuration {
        var configuration = try ConfigurationLoader.load(path: config)
        if let socket { configuration.paths.socket = socket }
        if let database { configuration.paths.database = database }
        return configuration
    }

    /// The call log the configuration names: a SQLite file, or a PostgreSQL cluster (which
    /// need not be reachable yet: until it is, writes and reads are answered `unavailable`
    /// and `STATUS=` says why).
    func openLog(_ configuration: Configuration, keys: KeyRing, environment: [String: String], logger: Logger) throws -> any CallLog {
        switch configuration.storage.engine {
        case .sqlite:
            do {
                return try CallStore(
                    path: configuration.paths.database, keys: keys, logger: logger, maxBytes: configuration.limits.maxDatabaseBytes)
            } catch {
                throw OpenFailure(description: "cannot open the database \(configuration.paths.database): \(error)")
            }
        case .postgresql:
            guard let settings = configuration.storage.postgresql else {
                throw PostgresSetupError("storage.engine is postgresql but storage.postgresql is missing")
            }
            let connector = try PostgresConnector(
                settings: settings, credentials: environment["CREDENTIALS_DIRECTORY"], logger: logger)
            return try PostgresLog(connector: connector, keys: keys, logger: logger, waitForDatabase: true)
        }
    }

    struct OpenFailure: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        // Before anything that could fault holds the key or an identity.
        do {
            try KeyLoader.forbidCoreDumps()
        } catch {
            FileHandle.standardError.write(Data("hotlined: refusing to start: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let configuration: Configuration
        do {
            configuration = try loadConfiguration()
        } catch {
            FileHandle.standardError.write(Data("hotlined: configuration rejected: \(error)\n".utf8))
            Systemd.notify("STATUS=configuration rejected: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        }
        if let exportUnits {
            for (unit, text) in [
                ("hotlined-export.timer", ExportSchedule.timerDropIn(configuration)),
                ("hotlined-export.service", ExportSchedule.serviceDropIn(configuration)),
            ] {
                let dir = exportUnits + "/" + unit + ".d"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try text.write(toFile: dir + "/50-hotlined-shifts.conf", atomically: true, encoding: .utf8)
            }
            return
        }
        if checkConfig {
            print("\(config): valid (\(configuration.routes.count) routes, \(configuration.outcomes.count) outcomes)")
            return
        }

        // Under systemd, log natively to the journal; by hand, to standard error.
        let environment = ProcessInfo.processInfo.environment
        let useJournal =
            environment["HOTLINED_LOG"] == "journal"
            || (environment["HOTLINED_LOG"] != "stderr" && environment["JOURNAL_STREAM"] != nil && Systemd.journalAvailable)
        let level = environment["HOTLINED_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        LoggingSystem.bootstrap { label in
            if useJournal {
                var handler = JournalLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "hotlined")

        // Files we create (the database, its WAL) are for our user alone.
        umask(0o077)

        let listen: HotlineService.Listen
        let passed = Systemd.listenedSockets()
        if !passed.isEmpty {
            guard let socket = passed.first(where: { $0.name == "workstations" }) ?? (passed.count == 1 ? passed[0] : nil)
            else {
                logger.critical("systemd passed \(passed.count) sockets and none is named 'workstations'")
                throw ExitCode(1)
            }
            guard Systemd.isListeningUnixStreamSocket(socket.descriptor) else {
                logger.critical("the socket systemd passed (fd \(socket.descriptor)) is not a listening Unix stream socket")
                throw ExitCode(1)
            }
            listen = .descriptor(socket.descriptor)
        } else {
            listen = .path(configuration.paths.socket)
        }

        let keys: KeyRing
        do {
            let path = try KeyLoader.keyPath(configured: configuration.paths.keyFile, environment: environment)
            keys = try KeyLoader.load(path: path, credentials: environment["CREDENTIALS_DIRECTORY"])
        } catch {
            logger.critical("refusing to start without an encryption key: \(error)")
            Systemd.notify("STATUS=refusing to start without an encryption key")
            // EX_CONFIG: a restart cannot help (RestartPreventExitStatus=78 in the unit).
            throw ExitCode(78)
        }

        let store: any CallLog
        do {
            store = try openLog(configuration, keys: keys, environment: environment, logger: logger)
        } catch {
            logger.critical(
                "cannot open the call log: \(error)", metadata: MessageID.storageFailure.loggerMetadata())
            Systemd.notify("STATUS=cannot open the call log: \(error)")
            // A configuration that cannot work (an unreadable credential) is not helped by a restart.
            throw ExitCode(error is PostgresSetupError ? 78 : 1)
        }
        // The writer's heartbeat must come well inside the watchdog's interval.
        let heartbeat = min(Duration.seconds(1), (Systemd.watchdogInterval() ?? .seconds(4)) / 4)
        // One clock for every part that records a time.
        let clock = SystemClock.now
        let writer = EventWriter(
            store: store, policy: CallPolicy(routes: RouteTable(configuration)), alerting: configuration.alerts,
            maxBatch: configuration.limits.maxBatchEvents, maxQueued: configuration.limits.maxQueuedWrites,
            heartbeat: heartbeat, clock: clock, logger: logger)
        let hub = AlertHub()
        // The metrics endpoint's figures are gathered only when it is configured (at start:
        // a reload that adds it says a restart is needed).
        let metrics = configuration.metrics.map { _ in DaemonMetrics() }
        if let metrics { writer.setSyncObserver { metrics.observe($0) } }
        writer.setCommitObserver { alerts in
            // Consoles hear of an alert as soon as it is durable, before the write is answered.
            hub.publish(alerts)
            for alert in alerts {
                logger.warning(
                    "call escalated: \(alert.reason.rawValue) on \(alert.route)",
                    metadata: MessageID.callEscalated.loggerMetadata([
                        "call_id": "\(alert.callID)", "alert_id": "\(alert.id)", "route": "\(alert.route)",
                        "reason": "\(alert.reason.rawValue)", "seq": "\(alert.seq)",
                    ]))
            }
        }
        writer.start()
        let readers = NIOThreadPool(numberOfThreads: 2)
        readers.start()
        // Bulk reads get threads of their own, so a flood of them never delays an urgent one.
        let bulkReaders = NIOThreadPool(numberOfThreads: configuration.limits.bulkReadThreads)
        bulkReaders.start()
        let bulkEncoders = NIOThreadPool(numberOfThreads: configuration.limits.bulkReadThreads)
        bulkEncoders.start()
        // Bulk reads and their encoding give way to writes and urgent reads (BulkThreads);
        // their audit entries are written at the normal priority, one at a time.
        BulkThreads.lowerPriority(of: bulkReaders, threads: configuration.limits.bulkReadThreads)
        BulkThreads.lowerPriority(of: bulkEncoders, threads: configuration.limits.bulkReadThreads)
        let auditWriters = NIOThreadPool(numberOfThreads: 1)
        auditWriters.start()
        let dispatcher = Dispatcher(
            store: store, writer: writer, configuration: configuration, readers: readers, bulkReaders: bulkReaders,
            bulkEncoders: bulkEncoders, auditWriters: auditWriters, logger: logger, hub: hub, metrics: metrics, clock: clock)
        let server = HotlineServer(dispatcher: dispatcher, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        // The read-only HTTP endpoints (issue 17), each off unless configured; they read the
        // log on a thread of their own.
        var endpoints: [any Service] = []
        var endpointPool: NIOThreadPool?
        if configuration.metrics != nil || configuration.wallboard != nil {
            let pool = NIOThreadPool(numberOfThreads: 1)
            pool.start()
            endpointPool = pool
            let source = LiveSource(
                store: store, pool: pool, configuration: { dispatcher.configuration }, clock: clock,
                connections: { dispatcher.connectionCount })
            if let settings = configuration.metrics, let metrics {
                endpoints.append(MetricsEndpoint.service(listen: settings.listen, metrics: metrics, source: source, logger: logger))
            }
            if let settings = configuration.wallboard {
                endpoints.append(Wallboard.service(listen: settings.listen, source: source, hub: hub, logger: logger))
            }
        }
        let command = self
        let service = HotlineService(
            server: server, dispatcher: dispatcher, writer: writer, store: store, readers: readers, listen: listen,
            logger: logger, notifier: SystemdNotifier(),
            alertCenter: AlertCenter(
                store: store, hub: hub, logger: logger, configuration: { dispatcher.configuration }, clock: clock,
                metrics: metrics),
            endpoints: endpoints, endpointPool: endpointPool, loadConfiguration: { try command.loadConfiguration() })
        // SIGHUP is trapped before any service starts: its default action would end us.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let group = ServiceGroup(
            configuration: .init(
                services: service.services(hangups: hangups).map {
                    .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup)
                },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        if service.exitStatus != 0 { Foundation.exit(service.exitStatus) }
    }
}
