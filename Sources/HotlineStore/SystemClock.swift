import Foundation
import HotlineCore

/// The system's wall clock: the one the daemon's parts read by default (the writer, the
/// dispatcher, the alert centre, retention, migrations). Each takes a clock instead, so a
/// test can set the time.
public enum SystemClock {
    public static let now: @Sendable () -> Timestamp = { Timestamp(secondsSince1970: Date().timeIntervalSince1970) }
}
