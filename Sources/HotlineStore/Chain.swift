import Crypto
import Foundation
import GRDB
import HotlineCore

/// Tamper evidence for the event log and the audit log (PROTOCOL.md section 9).
///
/// Each row has a `digest`, SHA-256 over its canonical content, and a `hash`, SHA-256 over
/// the previous row's hash followed by this row's digest (the first row follows 32 zero
/// bytes). Changing, deleting, inserting or reordering a row breaks the chain at that row.
///
/// Canonical content is a domain tag followed by every field in a fixed order, each as a
/// 4-byte big-endian length and its bytes (integers as decimal ASCII; an absent value as the
/// length FF FF FF FF and no bytes). docs/SECURITY.md spells it out so that an auditor can
/// check a database with tools of their own.
///
/// The caller's identity is not part of an event's content: it may be erased. What is
/// chained instead is a commitment, SHA-256 of the identity's ciphertext (AES-GCM with a
/// random nonce), which says nothing of the plaintext and proves the identity row is the one
/// written with the event for as long as it exists.
///
/// Beside that plain chain, which anyone can check and anyone with the file can recompute,
/// each row has a `mac`: the keyed chain (issue 13). It links the same digests with
/// HMAC-SHA256 under a key derived from `hotlined.key` (``KeyRing/chainMAC(after:digest:)``),
/// so rewriting rows without the key is found even when every plain hash was recomputed.
/// Checking it needs the key; the plain chain and anchors need none.
public enum Chain {
    public static let genesis = Data(repeating: 0, count: 32)
    /// What the first row's keyed link follows: 36 zero bytes (a key id and a MAC).
    public static let macGenesis = Data(repeating: 0, count: 36)

    struct Content {
        private(set) var bytes: [UInt8]

        init(tag: String) {
            bytes = []
            append(Array(tag.utf8))
        }

        mutating func append(_ field: [UInt8]?) {
            guard let field else {
                bytes += [0xFF, 0xFF, 0xFF, 0xFF]
                return
            }
            let n = UInt32(field.count)
            bytes += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            bytes += field
        }

        mutating func append(_ text: String?) { append(text.map { Array($0.utf8) }) }
        mutating func append(_ data: Data?) { append(data.map { Array($0) }) }
        mutating func append(_ number: Int64?) { append(number.map { String($0) }) }

        var digest: Data { Data(SHA256.hash(data: bytes)) }
    }

    /// One event row's chained content.
    public struct EventContent: Sendable {
        public var seq: Int64
        public var eventID: String
        public var callID: String
        public var op: String
        public var body: String
        public var secret: Data?
        public var ack: String
        public var recordedAt: Int64
        public var peerUID: Int64
        public var peerPID: Int64
        public var identityCommitment: Data?

        public init(
            seq: Int64, eventID: String, callID: String, op: String, body: String, secret: Data?, ack: String,
            recordedAt: Int64, peerUID: Int64, peerPID: Int64, identityCommitment: Data?
        ) {
            self.seq = seq
            self.eventID = eventID
            self.callID = callID
            self.op = op
            self.body = body
            self.secret = secret
            self.ack = ack
            self.recordedAt = recordedAt
            self.peerUID = peerUID
            self.peerPID = peerPID
            self.identityCommitment = identityCommitment
        }

        public var digest: Data {
            var c = Content(tag: "hotlined event v1")
            c.append(seq)
            c.append(eventID)
            c.append(callID)
            c.append(op)
            c.append(body)
            c.append(secret)
            c.append(ack)
            c.append(recordedAt)
            c.append(peerUID)
            c.append(peerPID)
            c.append(identityCommitment)
            return c.digest
        }
    }

    /// One audit entry's chained content.
    public struct AuditContent: Sendable {
        public var seq: Int64
        public var at: Int64
        public var uid: Int64
        public var pid: Int64
        public var role: String?
        public var op: String
        public var detail: String

        package init(seq: Int64, at: Int64, uid: Int64, pid: Int64, role: String?, op: String, detail: String) {
            (self.seq, self.at, self.uid, self.pid, self.role, self.op, self.detail) = (seq, at, uid, pid, role, op, detail)
        }

        public var digest: Data {
            var c = Content(tag: "hotlined audit v1")
            c.append(seq)
            c.append(at)
            c.append(uid)
            c.append(pid)
            c.append(role)
            c.append(op)
            c.append(detail)
            return c.digest
        }
    }

    /// The hash of a row that follows `previous` and has content `digest`.
    public static func link(_ previous: Data, _ digest: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: digest)
        return Data(hasher.finalize())
    }

    /// What a retention purge vouches for of each event it turns into a tombstone: every
    /// column a tombstone keeps (its content went; its digest stands for it), in `seq` order,
    /// hashed into the purge's audit entry (`tombstones`), which both chains then cover.
    public struct Tombstones {
        private var hasher = SHA256()
        public init() {}

        /// Each column as SQLite stores it (integers as decimal, text as UTF-8, blobs as they
        /// are, NULL as absent), never decoded to a Swift type: a value of another type put
        /// there by hand must be hashed, not stop the purge or `verify` that reads it.
        public mutating func add(_ row: Row) { add(Self.values(of: row)) }

        /// The kept ``columns`` of a SQLite row, as stored.
        package static func values(of row: Row) -> [Value] {
            columns.map { column in
                switch row[column]?.databaseValue.storage ?? .null {
                case .null: .null
                case .int64(let i): .integer(i)
                case .double(let d): .text("\(d)")
                case .string(let text): .text(text)
                case .blob(let data): .blob(data)
                }
            }
        }

        /// The columns of `events` a tombstone keeps, in the order they are hashed.
        package static let columns = [
            "seq", "event_id", "call_id", "op", "recorded_at", "peer_uid", "peer_pid", "identity_commitment", "digest",
        ]

        /// A column's value as it is hashed, whatever the engine's types.
        package enum Value {
            case null
            case integer(Int64)
            case text(String)
            case blob(Data)
        }

        /// Adds the event whose ``columns`` hold `values`, hashed as ``add(_:)`` hashes them.
        package mutating func add(_ values: [Value]) {
            var c = Content(tag: "hotlined tombstone v1")
            for value in values {
                switch value {
                case .null: c.append(nil as [UInt8]?)
                case .integer(let i): c.append(i)
                case .text(let text): c.append(text)
                case .blob(let data): c.append(data)
                }
            }
            hasher.update(data: c.bytes)
        }

        public var digest: Data { Data(hasher.finalize()) }
    }

    /// The commitment to an identity's ciphertext that an event chains in its place.
    public static func commitment(to sealedIdentity: Data) -> Data {
        Data(SHA256.hash(data: sealedIdentity))
    }

    /// Where a chain ends: its last row's position and hash.
    public struct Head: Sendable, Equatable, CustomStringConvertible {
        public var seq: Int64
        public var hash: Data
        /// The last row's keyed link, which the next row's follows. Not part of what a head
        /// is (anchors are a position and a hash, checkable without the key), so not compared.
        public var mac: Data

        public init(seq: Int64, hash: Data, mac: Data = Chain.macGenesis) {
            self.seq = seq
            self.hash = hash
            self.mac = mac
        }

        public static func == (a: Head, b: Head) -> Bool { a.seq == b.seq && a.hash == b.hash }

        public static let empty = Head(seq: 0, hash: Chain.genesis)

        /// `SEQ:HEX`, the form `hotlinectl verify --anchor` takes.
        public var description: String { "\(seq):\(hash.hex)" }

        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let seq = Int64(parts[0]), seq >= 0, let hash = Data(hex: String(parts[1])),
                hash.count == 32
            else { return nil }
            self.init(seq: seq, hash: hash)
        }
    }
}

extension Data {
    /// Lower-case hexadecimal.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = Self.nibble(utf8[i]), let lo = Self.nibble(utf8[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        self.init(bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Chain {
    /// What `journalctl -o json` output says of the chains: the heads hotlined journalled
    /// (``HotlineCore/MessageID/chainHead``, fields `EVENTS_HEAD` and `AUDIT_HEAD`), and how
    /// many times it laid the keyed chain over the log (``HotlineCore/MessageID/chainKeyed``:
    /// more than once means the database was rolled back to before it).
    public struct JournalAnchors: Sendable {
        public var events: [Head] = []
        public var audit: [Head] = []
        public var keyedChainLaid = 0
        /// Entries skipped: not JSON, from another unit (anyone may journal a MESSAGE_ID;
        /// only journald sets `_SYSTEMD_UNIT`), or with a head that is not `SEQ:HASH`.
        public var skipped = 0

        public init() {}
    }

    /// Reads `text`, one JSON object per line, keeping only entries whose `_SYSTEMD_UNIT` is
    /// `unit` (nil: any). Empty chains (seq 0) anchor nothing.
    public static func anchors(fromJournal text: String, unit: String? = "hotlined.service") -> JournalAnchors {
        var found = JournalAnchors()
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard case .object(let entry)? = try? JSONParser.parse(Array(trimmed.utf8)) else {
                found.skipped += 1
                continue
            }
            let id = entry["MESSAGE_ID"]?.stringValue
            guard id == MessageID.chainHead.rawValue || id == MessageID.chainKeyed.rawValue else { continue }
            if let unit, entry["_SYSTEMD_UNIT"]?.stringValue != unit {
                found.skipped += 1
                continue
            }
            if id == MessageID.chainKeyed.rawValue {
                found.keyedChainLaid += 1
                continue
            }
            var heads: [(String, Head)] = []
            for field in ["EVENTS_HEAD", "AUDIT_HEAD"] {
                guard let value = entry[field] else { continue }
                guard let text = value.stringValue, let head = Head(text) else {
                    heads = []
                    found.skipped += 1
                    break
                }
                heads.append((field, head))
            }
            for (field, head) in heads where head.seq > 0 {
                if field == "EVENTS_HEAD" { found.events.append(head) } else { found.audit.append(head) }
            }
        }
        return found
    }
}
