import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore

/// Identifying fields, from a file or standard input (private) or from flags (which other
/// local users can read in the process list while the command runs).
struct CallerOptions: ParsableArguments {
    @Option(
        name: .customLong("caller-from"),
        help: ArgumentHelp(
            "Read the caller's identity from this file, or '-' for standard input: a JSON object with any of cli, name, contact, address.",
            discussion: "Unlike the flags below, this keeps the identity out of the process list."))
    var callerFrom: String?
    @Option(help: "The caller's line identity (visible in the process list; prefer --caller-from).")
    var cli: String?
    @Option(name: .customLong("caller-name"), help: "The caller's name (visible in the process list).")
    var callerName: String?
    @Option(name: .customLong("caller-contact"), help: "How to reach the caller (visible in the process list).")
    var callerContact: String?
    @Option(name: .customLong("caller-address"), help: "The caller's address (visible in the process list).")
    var callerAddress: String?

    func validate() throws {
        if callerFrom != nil, cli != nil || callerName != nil || callerContact != nil || callerAddress != nil {
            throw ValidationError("Give the caller's identity with --caller-from or with flags, not both.")
        }
    }

    func add(to members: inout [String: JSONValue]) throws {
        var identity = CallerIdentity(cli: cli, name: callerName, contact: callerContact, address: callerAddress)
        if let callerFrom {
            let text = try readPrivateInput(callerFrom, flag: "--caller-from")
            guard case .object(let fields)? = try? JSONParser.parse(Array(text.utf8)) else {
                throw ValidationError("--caller-from must hold one JSON object, such as {\"cli\": \"07700900123\", \"name\": \"…\"}.")
            }
            let known: Set<String> = ["cli", "name", "contact", "address"]
            if let odd = fields.keys.sorted().first(where: { !known.contains($0) }) {
                throw ValidationError("--caller-from: \"\(odd)\" is not an identity field (cli, name, contact, address).")
            }
            identity = CallerIdentity(
                cli: fields["cli"]?.stringValue, name: fields["name"]?.stringValue,
                contact: fields["contact"]?.stringValue, address: fields["address"]?.stringValue)
        }
        members.merge(identity.json.objectValue ?? [:]) { _, new in new }
    }
}

/// The text of a file, or of standard input for `-`, for values kept out of argv.
func readPrivateInput(_ path: String, flag: String) throws -> String {
    let data: Data?
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        data = FileManager.default.contents(atPath: path)
    }
    guard let data, let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("\(flag): cannot read \(path == "-" ? "standard input" : path) as UTF-8 text.")
    }
    return text
}

/// Who writes an update or end: announced with `hello`, as a workstation does.
struct AuthorOptions: ParsableArguments {
    @Option(help: "The workstation writing this event.") var workstation: String?
    @Option(help: "The call handler's number (shown beside notes).") var handler: String?

    func connect(_ parent: HotlineCtl) throws -> HotlineConnection {
        let connection = try parent.connect()
        guard workstation != nil || handler != nil else { return connection }
        var hello: [String: JSONValue] = ["op": "hello", "protocol": 1]
        if let workstation { hello["workstation"] = .string(workstation) }
        if let handler { hello["handler"] = .string(handler) }
        let response = try connection.call(.object(hello))
        if let summary = response.errorSummary { throw CLIError(summary) }
        return connection
    }
}

/// Prints a write's acknowledgement for a person.
func printAck(_ ack: JSONValue, verb: String) {
    let callID = ack["call_id"]?.stringValue ?? "?"
    let duplicate = ack["duplicate"] == .bool(true) ? " (already logged: this is the original acknowledgement)" : ""
    print("Call \(callID) \(verb), event \(ack["seq"]?.intValue.map(String.init) ?? "?")\(duplicate)")
    print("  route      \(ack["route"]?.stringValue ?? "?")")
    print("  grade      \(ack["grade"]?.stringValue ?? "?")")
    print("  marking    \(ack["marking"]?.stringValue ?? "?")")
    print("  anonymous  \(ack["anonymous"] == .bool(true) ? "yes" : "no")")
    if let alert = ack["alert_id"]?.stringValue {
        print("  ESCALATED  alert \(alert) raised for supervisors")
    } else if ack["escalated"] == .bool(true) {
        print("  escalated  yes")
    }
    if let stripped = ack["stripped"]?.arrayValue, !stripped.isEmpty {
        print("  stripped   \(stripped.compactMap(\.stringValue).joined(separator: ", ")) (not stored: the caller is anonymous)")
    }
    if let notice = ack["notice"]?.stringValue { print("  notice     \(notice)") }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log the start of a call.")

    @ParentCommand var parent: HotlineCtl
    @Option(help: "The number the caller dialled (999, 112, 0800 789 321, 101, …).")
    var dialled: String
    @Option(name: .customLong("call-id"), help: "The call's UUID (a new one by default).")
    var callID: String?
    @Option(name: .customLong("received-at"), help: "When the call came in (RFC 3339, or 'now').")
    var receivedAt = "now"
    @Option(name: .customLong("answered-at"), help: "When the call was answered (RFC 3339, or 'now').")
    var answeredAt: String?
    @Option(help: "The workstation.") var workstation: String?
    @Option(help: "The call handler's number.") var handler: String?
    @OptionGroup var caller: CallerOptions
    @Flag(help: "The caller asks to stay anonymous.") var anonymous = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        var call: [String: JSONValue] = [
            "id": .string(callID ?? UUIDText.random()), "dialled": .string(dialled),
            "received_at": .string(try parseTime(receivedAt, flag: "--received-at").rfc3339),
        ]
        if let answeredAt { call["answered_at"] = .string(try parseTime(answeredAt, flag: "--answered-at").rfc3339) }
        if let workstation { call["workstation"] = .string(workstation) }
        if let handler { call["handler"] = .string(handler) }
        if anonymous { call["anonymous_requested"] = true }
        try caller.add(to: &call)
        let request: JSONValue = ["op": "call.start", "event_id": .string(newEventID()), "call": .object(call)]
        let ack = try perform(request, on: try parent.connect(), json: output.json)
        if !output.json { printAck(ack, verb: "started") }
    }
}

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Update a call, or add a note to its log.")

    @ParentCommand var parent: HotlineCtl
    @Argument(help: "The call's UUID.") var callID: String
    @Option(help: "When (RFC 3339, or 'now').") var at = "now"
    @Option(help: "The category, such as suspicious-activity.") var category: String?
    @Option(name: .customLong("location"), help: "Where the incident is, in words.") var locationText: String?
    @Option(help: "Latitude of the incident.") var lat: Double?
    @Option(help: "Longitude of the incident.") var lon: Double?
    @Option(name: .customLong("threat-to-life"), help: "true or false: a threat to life (escalates).")
    var threatToLife: Bool?
    @Option(name: .customLong("vulnerable-person"), help: "true or false: a vulnerable person is involved.")
    var vulnerablePerson: Bool?
    @Option(help: "emergency, priority, scheduled or resolution.") var grade: String?
    @Option(help: "OFFICIAL, OFFICIAL-SENSITIVE or SECRET.") var marking: String?
    @Flag(help: "The caller asks to stay anonymous: their identity is erased.") var anonymous = false
    @OptionGroup var caller: CallerOptions
    @Option(help: "A note for the call's log (visible in the process list; prefer --note-from).") var note: String?
    @Option(name: .customLong("note-from"), help: "Read the note from this file, or '-' for standard input.")
    var noteFrom: String?
    @OptionGroup var author: AuthorOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        var set: [String: JSONValue] = [:]
        if let category { set["category"] = .string(category) }
        if locationText != nil || lat != nil || lon != nil {
            var location: [String: JSONValue] = [:]
            if let locationText { location["text"] = .string(locationText) }
            if let lat { location["lat"] = .double(lat) }
            if let lon { location["lon"] = .double(lon) }
            set["location"] = .object(location)
        }
        var flags: [String: JSONValue] = [:]
        if let threatToLife { flags["threat_to_life"] = .bool(threatToLife) }
        if let vulnerablePerson { flags["vulnerable_person"] = .bool(vulnerablePerson) }
        if !flags.isEmpty { set["flags"] = .object(flags) }
        if let grade { set["grade"] = .string(grade) }
        if let marking { set["marking"] = .string(marking) }
        if anonymous { set["anonymous_requested"] = true }
        try caller.add(to: &set)
        var request: [String: JSONValue] = [
            "op": "call.update", "event_id": .string(newEventID()), "call_id": .string(callID),
            "at": .string(try parseTime(at, flag: "--at").rfc3339),
        ]
        if !set.isEmpty { request["set"] = .object(set) }
        if let noteFrom {
            guard note == nil, !(noteFrom == "-" && caller.callerFrom == "-") else {
                throw ValidationError("--note-from goes without --note, and only one of it and --caller-from may read standard input.")
            }
            let text = try readPrivateInput(noteFrom, flag: "--note-from")
            request["note"] = .string(text.hasSuffix("\n") ? String(text.dropLast()) : text)
        } else if let note {
            request["note"] = .string(note)
        }
        let ack = try perform(.object(request), on: try author.connect(parent), json: output.json)
        if !output.json { printAck(ack, verb: "updated") }
    }
}

struct End: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log the end of a call and its outcome.")

    @ParentCommand var parent: HotlineCtl
    @Argument(help: "The call's UUID.") var callID: String
    @Option(help: "dispatched, transferred, advice-given, report-taken, referred, no-further-action, abandoned or hoax.")
    var outcome: String
    @Option(name: .customLong("ended-at"), help: "When the call ended (RFC 3339, or 'now').") var endedAt = "now"
    @OptionGroup var author: AuthorOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let request: JSONValue = [
            "op": "call.end", "event_id": .string(newEventID()), "call_id": .string(callID),
            "ended_at": .string(try parseTime(endedAt, flag: "--ended-at").rfc3339), "outcome": .string(outcome),
        ]
        let ack = try perform(request, on: try author.connect(parent), json: output.json)
        if !output.json { printAck(ack, verb: "ended") }
    }
}
