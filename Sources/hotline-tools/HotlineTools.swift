import ArgumentParser
import Foundation
import HotlineCommandLine

/// The developers' tools that drive a daemon for measurements and crash tests: the load
/// generator, the alert benchmark and the crash loop. Kept out of hotlinectl, which holds
/// what an operator types, and not installed by `make install` (issue 14).
@main
struct HotlineTools: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotline-tools",
        abstract: "Measure and crash-test hotlined (developers' tools; not installed).",
        discussion: "The socket is --socket, else $HOTLINE_SOCKET, else /run/hotlined/hotlined.sock.",
        subcommands: [Bench.self, AlertBench.self, CrashLoop.self, ScratchPostgresCommand.self]
    )

    @OptionGroup var socketOptions: SocketOptions

    var socketPath: String { socketOptions.path }

    static func main() { main(reportingAs: "hotline-tools") }
}
