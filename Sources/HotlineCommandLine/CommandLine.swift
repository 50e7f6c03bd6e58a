import ArgumentParser
import Foundation

/// What hotlinectl and hotline-tools share as command-line programs: the socket they talk
/// to, how a failure is reported, and `--json`.

/// A failure to report on standard error, with a non-zero exit.
public struct CLIError: Error, CustomStringConvertible {
    public var description: String
    public var exitCode: Int32

    public init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

/// `--socket`, else `$HOTLINE_SOCKET`, else the systemd socket's path.
public struct SocketOptions: ParsableArguments {
    @Option(help: "The daemon's Unix socket.")
    public var socket: String?

    public init() {}

    public var path: String {
        socket ?? ProcessInfo.processInfo.environment["HOTLINE_SOCKET"] ?? "/run/hotlined/hotlined.sock"
    }
}

/// Output switches shared by the commands that print a result.
public struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the response as one JSON line, for scripts.")
    public var json = false

    public init() {}
}

extension ParsableCommand {
    /// ArgumentParser's main, but a ``CLIError`` exits with its own code and its message on
    /// standard error, prefixed by `name`.
    public static func main(reportingAs name: String) {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("\(name): \(error.description)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}
