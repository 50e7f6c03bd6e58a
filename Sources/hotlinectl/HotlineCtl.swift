import ArgumentParser
import Foundation
import HotlineClient
import HotlineCommandLine
import HotlineCore

@main
struct HotlineCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotlinectl",
        abstract: "Log and read calls on hotlined, from a terminal or a script.",
        discussion: "The socket is --socket, else $HOTLINE_SOCKET, else /run/hotlined/hotlined.sock.",
        subcommands: [
            Send.self, Start.self, Update.self, End.self, Show.self, List.self, Alerts.self, Ack.self, Stats.self,
            Export.self, Report.self, Hold.self, Release.self, Holds.self, Audit.self, Verify.self, Keygen.self,
        ]
    )

    @OptionGroup var socketOptions: SocketOptions

    var socketPath: String { socketOptions.path }

    static func main() { main(reportingAs: "hotlinectl") }

    func connect() throws -> HotlineConnection {
        do {
            return try HotlineConnection(path: socketPath)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// A reader on a new connection: `reason` is sent with every read, and when the daemon
    /// answers that one is required and none was given, one is asked for at the terminal
    /// (``ReasonOptions/ask(what:)``) for `what`.
    func reader(reason: String? = nil, what: String = "this read") throws -> LogReader {
        LogReader(connection: try connect(), reason: reason) { ReasonOptions.ask(what: what) }
    }
}

extension ParsableCommand {
    /// Runs `body` (requests on a ``LogReader``) and reports a failure as the commands do: a
    /// refusal is printed as it came with `--json`, else its message goes to standard error,
    /// and the command exits 1; a lost connection or an unreadable answer exits with its
    /// message.
    func reporting<T>(json: Bool, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let refusal as Refusal {
            if json {
                print(JSONWriter.string(refusal.line))
            } else {
                FileHandle.standardError.write(Data("hotlinectl: \(refusal)\n".utf8))
            }
            throw ExitCode(1)
        } catch let error as HotlineConnection.Failure {
            throw CLIError("\(error)")
        } catch let error as AnswerError {
            throw CLIError("\(error)")
        } catch let error as JSONParser.Failure {
            throw CLIError("\(error)")
        }
    }

    /// Sends `request` and decodes its answer; with `--json` prints the answer's line.
    func perform<T: WireValue>(_ request: Request, on reader: LogReader, json: Bool, as _: T.Type = T.self) throws -> T {
        try reporting(json: json) {
            let answered = try reader.send(request, as: T.self)
            if json { print(JSONWriter.string(answered.line)) }
            return answered.answer
        }
    }
}

/// Parses a time flag: RFC 3339, or `now`.
func parseTime(_ text: String, flag: String) throws -> Timestamp {
    if text == "now" { return Timestamp(secondsSince1970: Date().timeIntervalSince1970) }
    do {
        return try Timestamp(rfc3339: text)
    } catch {
        throw ValidationError("\(flag) must be an RFC 3339 time with a zone (2026-11-24T19:02:11Z) or 'now'.")
    }
}

func newEventID() -> String { UUIDText.random() }

/// `--reason` for the commands that read the log (DPA 2018 section 62(2)): why you read,
/// kept sealed in the read's audit entry. Without it, when the daemon answers that one is
/// required and a terminal is attached, the command asks for one and asks the daemon again.
struct ReasonOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Why you read this, kept encrypted in the audit log (at most 1000 bytes).",
            discussion:
                "Required of the roles the daemon's reasons_required lists. Other users can see a command's arguments (ps): at a terminal, leave it out and type it when asked."
        ))
    var reason: String?

    /// Asks at the terminal for a reason for `what`; nil when standard input or error is not
    /// a terminal, or when Enter alone is typed.
    static func ask(what: String) -> String? {
        guard isatty(STDIN_FILENO) == 1, isatty(STDERR_FILENO) == 1 else { return nil }
        FileHandle.standardError.write(Data("A reason is required for \(what) (kept in the audit log): ".utf8))
        guard let line = readLine(strippingNewline: true) else { return nil }
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}
