import Logging
import Testing

@testable import HotlineSystemd

struct JournalLogHandlerTests {
    @Test(arguments: [
        ("call_id", "CALL_ID"), ("route", "ROUTE"), ("message_id", "MESSAGE_ID"), ("alert-id", "ALERT_ID"),
        ("_private", "PRIVATE"), ("seq", "SEQ"),
    ])
    func metadataKeysBecomeJournalFieldNames(key: String, field: String) {
        #expect(JournalLogHandler.fieldName(key) == field)
    }

    @Test(arguments: ["1st", "", "___", String(repeating: "a", count: 65)])
    func keysThatCannotBeFieldsAreDropped(key: String) {
        #expect(JournalLogHandler.fieldName(key) == nil)
    }

    @Test func prioritiesFollowSyslog() {
        #expect(JournalLogHandler.priority(.critical) == 2)
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.notice) == 5)
        #expect(JournalLogHandler.priority(.info) == 6)
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(JournalLogHandler.priority(.trace) == 7)
    }
}

struct SystemdTests {
    @Test func statusLinesAreOneLine() {
        #expect(SystemdNotifier.clean("a\nb\rc") == "a b c")
    }

    @Test func withoutSystemdThereIsNothingToTell() {
        // The test runner is not socket-activated and has no notification socket.
        #expect(Systemd.listenedSockets().isEmpty)
        #expect(Systemd.isListeningUnixStreamSocket(0) == false)
    }
}
