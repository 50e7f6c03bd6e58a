/// Journal catalogue ids (`MESSAGE_ID=`) for the daemon's key events, so that an administrator can
/// find them with `journalctl MESSAGE_ID=…` and alerting can match them exactly.
public enum MessageID: String, Sendable, CaseIterable {
    case started = "4f1e2a7c9b3d4e6f8a1b2c3d4e5f6071"
    case stopped = "9a8b7c6d5e4f40312a1b0c9d8e7f6a52"
    case callEscalated = "c0ffee1d2e3f4a5b8c7d6e5f4a3b2c19"
    case storageFailure = "5d3c1b2a4e6f48709a8b7c6d5e4f3a2e"
    case configurationRejected = "7e6d5c4b3a2f41e09d8c7b6a5f4e3d2c"
    case configurationReloaded = "2b4d6f8a0c1e43a5b7d9f1e3c5a7b9d1"
    /// An alert delivered to the journal sink (PRIORITY=2).
    case alertRaised = "e1a7e2d3c4b5a6978877665544332211"
    /// `verify` found the event log or the audit log altered.
    case tamperDetected = "b7a3c9e1f2d44c6a8e0f1a2b3c4d5e6f"
    /// Where both chains end, written at start, stop and after retention: anchors for
    /// `hotlinectl verify --anchor` kept outside the database.
    case chainHead = "3c8e1f0a7b2d4e9c9a6b5d4c3e2f1a0b"
    /// Retention purged ended calls.
    case retentionPurged = "6a2f9d4e1c8b47a3b5e0d9c8a7f6e5d4"
    /// The v6 migration sealed coordinates an older version had written in the clear.
    case coordinatesSealed = "b1776e956efd465caf38c6026d813211"
    /// The v7 migration laid the keyed chain over the log an older version had written.
    case chainKeyed = "5e0c2f7a91d84b36a4c8e2d61f9b7305"

}
