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

    /// The identity given, from the file or the flags.
    func identity() throws -> CallerIdentity {
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
        return identity
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

    func connect(_ parent: HotlineCtl) throws -> LogReader {
        let reader = try parent.reader()
        guard workstation != nil || handler != nil else { return reader }
        do {
            _ = try reader.send(.hello(Request.Hello(workstation: workstation, handler: handler)), as: HelloAnswer.self)
        } catch let refusal as Refusal {
            throw CLIError(refusal.description)
        } catch {
            throw CLIError("\(error)")
        }
        return reader
    }
}

// The protocol's own enumerations as option values: --help lists their values, completions
// offer them, and a value the protocol does not know is refused with the choices.
extension CallChannel: ExpressibleByArgument {}
extension RelayKind: ExpressibleByArgument {}

/// The interpreter or relay assistant on a call (issue 18), for `start` and `update`.
struct RelayOptions: ParsableArguments {
    @Option(
        name: .customLong("relay-kind"),
        help: "Who relays the call (default: relay-assistant on text-relay, else interpreter).")
    var relayKind: RelayKind?
    @Option(
        name: .customLong("relay-reference"),
        help: "The relay assistant's or interpreter's reference, such as their operator number.")
    var relayReference: String?

    /// `call.relay` or `set.relay`: nil when neither option is given.
    var change: RelayChange? {
        relayKind == nil && relayReference == nil ? nil : RelayChange(kind: relayKind, reference: relayReference)
    }
}

/// Prints a write's acknowledgement for a person.
func printAck(_ ack: WriteAck, verb: String) {
    let duplicate = ack.duplicate ? " (already logged: this is the original acknowledgement)" : ""
    print("Call \(ack.callID) \(verb), event \(ack.seq)\(duplicate)")
    print("  route      \(ack.route)")
    print("  grade      \(ack.grade)")
    print("  marking    \(ack.marking)")
    print("  anonymous  \(ack.anonymous ? "yes" : "no")")
    if let alert = ack.alertID {
        print("  ESCALATED  alert \(alert) raised for supervisors")
    } else if ack.escalated {
        print("  escalated  yes")
    }
    if !ack.stripped.isEmpty {
        print("  stripped   \(ack.stripped.joined(separator: ", ")) (not stored: the caller is anonymous)")
    }
    if let notice = ack.notice { print("  notice     \(notice)") }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log the start of a call.")

    @ParentCommand var parent: HotlineCtl
    @Option(help: "The number the caller dialled (999, 112, 0800 789 321, 101, …); an online report may have none.")
    var dialled: String?
    @Option(help: "How the call came in.") var channel: CallChannel = .voice
    @OptionGroup var relay: RelayOptions
    @Option(name: .customLong("form-reference"), help: "An online report's form reference (--channel online).")
    var formReference: String?
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

    func validate() throws {
        if dialled == nil, !channel.mayOmitNumber {
            throw ValidationError(
                "Missing expected argument '--dialled <dialled>': the number the caller dialled (only an online report, --channel online, may leave it out)."
            )
        }
    }

    func run() throws {
        // A relay or form reference on a channel that takes none is sent as given: the daemon
        // refuses it, and its words are shown.
        let start = CallStart(
            eventID: newEventID(), callID: callID ?? UUIDText.random(), dialled: dialled ?? "",
            receivedAt: try parseTime(receivedAt, flag: "--received-at"),
            answeredAt: try answeredAt.map { try parseTime($0, flag: "--answered-at") }, workstation: workstation,
            handler: handler, identity: try caller.identity(), anonymousRequested: anonymous ? true : nil, channel: channel,
            relay: relay.change, formReference: formReference)
        let ack = try perform(.write(.start(start)), on: try parent.reader(), json: output.json, as: WriteAck.self)
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
    @Option(help: "true or false: a silent 999 call (the caller could not speak).") var silent: Bool?
    @Option(name: .customLong("pressed-55"), help: "true or false: the silent caller pressed 55 when asked.")
    var pressed55: Bool?
    @Option(help: "The outcome, for a call that ended without one (or to correct it).") var outcome: String?
    @Option(name: .customLong("answered-at"), help: "When a call started while ringing was answered (RFC 3339, or 'now'); once.")
    var answeredAt: String?
    @Option(help: "Why the grade or marking is changed (required when lowering either).") var reason: String?
    @Option(help: "emergency, priority, scheduled or resolution.") var grade: String?
    @Option(help: "OFFICIAL, OFFICIAL-SENSITIVE or SECRET.") var marking: String?
    @Flag(help: "The caller asks to stay anonymous: their identity is erased.") var anonymous = false
    @OptionGroup var caller: CallerOptions
    @OptionGroup var relay: RelayOptions
    @Option(help: "A note for the call's log (visible in the process list; prefer --note-from).") var note: String?
    @Option(name: .customLong("note-from"), help: "Read the note from this file, or '-' for standard input.")
    var noteFrom: String?
    @OptionGroup var author: AuthorOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        var changes = CallChanges(category: category, identity: try caller.identity())
        if locationText != nil || lat != nil || lon != nil { changes.location = Location(text: locationText, lat: lat, lon: lon) }
        if let threatToLife { changes.flags["threat_to_life"] = threatToLife }
        if let vulnerablePerson { changes.flags["vulnerable_person"] = vulnerablePerson }
        if let silent { changes.flags["silent"] = silent }
        if let pressed55 { changes.flags["pressed_55"] = pressed55 }
        changes.outcome = outcome
        changes.answeredAt = try answeredAt.map { try parseTime($0, flag: "--answered-at") }
        changes.relay = relay.change
        // Checked as the daemon checks them, refused with its very words (and --json line).
        try reporting(json: output.json) {
            changes.grade = try Self.setMember("grade", grade, Grade.self)
            changes.marking = try Self.setMember("marking", marking, Marking.self)
        }
        if anonymous { changes.anonymousRequested = true }
        var text = note
        if let noteFrom {
            guard note == nil, !(noteFrom == "-" && caller.callerFrom == "-") else {
                throw ValidationError("--note-from goes without --note, and only one of it and --caller-from may read standard input.")
            }
            let read = try readPrivateInput(noteFrom, flag: "--note-from")
            text = read.hasSuffix("\n") ? String(read.dropLast()) : read
        }
        let update = CallUpdate(
            eventID: newEventID(), callID: callID, at: try parseTime(at, flag: "--at"), changes: changes, note: text, reason: reason)
        let ack = try perform(.write(.update(update)), on: try author.connect(parent), json: output.json, as: WriteAck.self)
        if !output.json { printAck(ack, verb: "updated") }
    }
}

extension Update {
    /// `text` as `set.KEY` of a `call.update`, read by the daemon's own reader: a value it
    /// would refuse is refused here with the same error, before anything is sent.
    static func setMember<E: RawRepresentable & CaseIterable>(_ key: String, _ text: String?, _ type: E.Type) throws -> E?
    where E.RawValue == String {
        guard let text else { return nil }
        do {
            return try ObjectReader(["\(key)": .string(text)], path: "set", allowed: [key]).enumeration(key, type)
        } catch {
            throw Refusal(error: error, line: Response(req: nil, result: .failure(error)).json)
        }
    }
}

struct End: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log the end of a call and its outcome.")

    @ParentCommand var parent: HotlineCtl
    @Argument(help: "The call's UUID.") var callID: String
    @Option(
        help:
            "dispatched, transferred, advice-given, report-taken, referred, no-further-action, abandoned or hoax. Left out, the call ends without one and stays on the handover list until an update gives it."
    )
    var outcome: String?
    @Option(name: .customLong("ended-at"), help: "When the call ended (RFC 3339, or 'now').") var endedAt = "now"
    @OptionGroup var author: AuthorOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let end = CallEnd(
            eventID: newEventID(), callID: callID, endedAt: try parseTime(endedAt, flag: "--ended-at"), outcome: outcome)
        let ack = try perform(.write(.end(end)), on: try author.connect(parent), json: output.json, as: WriteAck.self)
        if !output.json { printAck(ack, verb: "ended") }
    }
}
