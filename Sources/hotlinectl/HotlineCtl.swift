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
            Export.self, Audit.self, Verify.self, Keygen.self,
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
}

extension ParsableCommand {
    /// Sends `request`, and on failure exits non-zero with the daemon's message.
    func perform(_ request: JSONValue, on connection: HotlineConnection, json: Bool) throws -> JSONValue {
        let response: JSONValue
        do {
            response = try connection.call(request)
        } catch {
            throw CLIError("\(error)")
        }
        return try answered(response, json: json)
    }

    /// `response` as the commands report it: printed with `--json` (with `echo` false, only
    /// if it failed); a failure's message on standard error without it, and exit 1.
    func answered(_ response: JSONValue, json: Bool, echo: Bool = true) throws -> JSONValue {
        if json, echo || response.errorSummary != nil { print(JSONWriter.string(response)) }
        if let summary = response.errorSummary {
            if !json { FileHandle.standardError.write(Data("hotlinectl: \(summary)\n".utf8)) }
            throw ExitCode(1)
        }
        return response
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

extension Dictionary where Key == String, Value == JSONValue {
    /// Adds `"reason"` when there is one.
    mutating func add(reason: String?) {
        if let reason { self["reason"] = .string(reason) }
    }
}

extension ParsableCommand {
    /// Sends the read `request` with `reason`; if the daemon answers that a reason is
    /// required and none was given, asks for one at the terminal (``ReasonOptions/ask(what:)``),
    /// keeps it in `reason` for the pages that follow, and sends the request again. Then as
    /// ``perform(_:on:json:)`` (with `echo` false, a JSON answer is printed only if it failed).
    func performRead(
        _ request: [String: JSONValue], on connection: HotlineConnection, json: Bool, echo: Bool = true,
        reason: inout String?, what: String
    ) throws -> JSONValue {
        var request = request
        request.add(reason: reason)
        var response: JSONValue
        do {
            response = try connection.call(.object(request))
            if reason == nil, response["error"]?["field"] == "reason", let typed = ReasonOptions.ask(what: what) {
                reason = typed
                request.add(reason: typed)
                response = try connection.call(.object(request))
            }
        } catch {
            throw CLIError("\(error)")
        }
        return try answered(response, json: json, echo: echo)
    }
}
