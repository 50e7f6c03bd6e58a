import Logging

/// A swift-log handler that writes to journald natively (`sd_journal_sendv`): `PRIORITY`,
/// `MESSAGE`, `SYSLOG_IDENTIFIER`, the code location, and each metadata key as a field
/// (`call_id` → `CALL_ID`; `message_id` → the catalogue `MESSAGE_ID`).
///
/// When an entry cannot be sent (no journal), it is written to standard error instead.
///
/// - Important: Log only what may be read by whoever reads the journal: never identifying
///   fields of a caller, and never notes.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let identifier: String
    private let fallback: StreamLogHandler

    public init(label: String, identifier: String = "hotlined") {
        self.label = label
        self.identifier = identifier
        self.fallback = StreamLogHandler.standardError(label: label)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level, message = event.message, file = event.file, function = event.function
        let line = event.line
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        if let error = event.error { all["error"] = "\(error)" }
        var fields: [[UInt8]] = [
            Array("MESSAGE=\(message)".utf8),
            Array("PRIORITY=\(Self.priority(level))".utf8),
            Array("SYSLOG_IDENTIFIER=\(identifier)".utf8),
            Array("CODE_FILE=\(file)".utf8),
            Array("CODE_LINE=\(line)".utf8),
            Array("CODE_FUNC=\(function)".utf8),
            Array("LOGGER=\(label)".utf8),
        ]
        for (key, value) in all {
            guard let name = Self.fieldName(key) else { continue }
            fields.append(Array("\(name)=\(value)".utf8))
        }
        if !Systemd.journalSend(fields) {
            var copy = fallback
            copy.logLevel = logLevel
            copy.metadata = metadata
            copy.log(event: event)
        }
    }

    /// syslog priorities: 2 critical … 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A journal field name: upper case letters, digits and `_`, not starting with `_` or a
    /// digit (those are trusted fields the journal sets itself).
    static func fieldName(_ key: String) -> String? {
        var name = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            case "A"..."Z", "0"..."9", "_": name.unicodeScalars.append(scalar)
            default: name.append("_")
            }
        }
        while name.first == "_" { name.removeFirst() }
        guard let first = name.first, !first.isNumber, name.count <= 64 else { return nil }
        return name
    }
}
