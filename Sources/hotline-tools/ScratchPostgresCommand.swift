import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineScratch

#if canImport(Glibc)
    import Glibc
#endif

/// `hotline-tools scratch-postgres`: a private PostgreSQL for a benchmark script to run
/// hotlined on. Starts a primary (and, unless `--no-standby`, a synchronous standby) on
/// Unix sockets under a temporary directory, writes the `storage:` section that reaches it
/// to `--write-config`, and runs until SIGTERM or SIGINT, then stops and removes it.
struct ScratchPostgresCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scratch-postgres",
        abstract: "Run a private PostgreSQL primary (and synchronous standby) until SIGTERM.",
        shouldDisplay: false)

    @Option(help: "Where to write the storage: section for hotlined's configuration (written last: a script waits for it).")
    var writeConfig: String
    @Flag(help: "The primary alone: commits on its disk only.") var noStandby = false
    @Option(help: "PostgreSQL's programs (default: the newest in /usr/lib/postgresql).") var pgBin: String?

    func run() throws {
        guard let bin = pgBin ?? ScratchPostgres.installedBin else {
            throw CLIError("PostgreSQL is not installed (apt-get install postgresql), or --pg-bin is wrong")
        }
        // Blocked before the cluster exists, so that a signal never ends the process with
        // the servers still running; waited for below.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        var cluster: ScratchPostgres? = try ScratchPostgres(bin: bin, standby: !noStandby)
        let hosts = [cluster!.host(cluster!.primaryPort)]
        let yaml = """

            storage:
              engine: postgresql
              postgresql:
                hosts: [\(hosts.map { "\"\($0)\"" }.joined(separator: ", "))]
                database: postgres
                user: \(cluster!.user)

            """
        let partial = writeConfig + ".partial"
        try yaml.write(toFile: partial, atomically: false, encoding: .utf8)
        rename(partial, writeConfig)
        var received: Int32 = 0
        sigwait(&signals, &received)
        withExtendedLifetime(cluster) {}
        cluster = nil  // stops both servers and removes their directory
    }
}
