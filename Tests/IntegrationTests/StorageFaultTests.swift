import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Storage faults under a running daemon (issue: faults): the disk fills, the database file
/// is moved away. (Linux refuses to remount a file system read-only while the daemon holds
/// files open for writing, so that fault cannot be staged this way.) Each write meanwhile is answered
/// `storage` and nothing of it is stored; reads and other connections go on; `stats` and
/// the log say what is wrong; and writes succeed again when the fault clears, without a
/// restart. Nothing acknowledged is lost. The database sits on a small tmpfs of its own.
@Suite(.serialized)
struct StorageFaultTests {
    /// A daemon whose database is on a fresh 8 MiB tmpfs; nil (saying why) when this machine
    /// cannot mount one.
    static func daemonOnTmpfs() throws -> (Daemon, String)? {
        let daemon = try Daemon()
        let disk = daemon.directory + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mounted = try run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk])
        guard mounted.status == 0 else {
            print("skipped: cannot mount a tmpfs here (\(mounted.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))")
            return nil
        }
        daemon.database = disk + "/calls.sqlite"
        try daemon.start()
        return (daemon, disk)
    }

    static func unmount(_ daemon: Daemon, _ disk: String) {
        daemon.stop()
        _ = try? run("/usr/bin/umount", ["-l", disk])
    }

    /// Writes calls until one is refused; returns the acknowledged ones and the refusal.
    static func writeUntilRefused(_ c: HotlineConnection, max: Int = 200) throws -> ([String], JSONValue?) {
        var acked: [String] = []
        for _ in 0..<max {
            let call = UUIDText.random()
            let answer = try c.call(Req.start(call: call, dialled: "0800 789 321", extra: ["caller": ["name": .string(String(repeating: "x", count: 200))]]))
            guard answer.isOK else { return (acked, answer) }
            acked.append(call)
        }
        return (acked, nil)
    }

    /// Every acknowledged call is there, and the log verifies.
    static func expectNothingLost(_ daemon: Daemon, _ acked: [String]) throws {
        let c = try daemon.connect()
        for call in acked {
            #expect(try c.call(["op": "call.get", "call_id": .string(call)]).isOK, "acknowledged call \(call) is missing")
        }
        #expect(try c.call(["op": "verify"])["intact"] == true)
    }

    @Test func aFullDiskAnswersStorageAndWritesResumeWhenSpaceIsFreed() throws {
        guard let (daemon, disk) = try Self.daemonOnTmpfs() else { return }
        defer { Self.unmount(daemon, disk) }
        let c = try daemon.connect()
        var (acked, _) = try Self.writeUntilRefused(c, max: 20)
        #expect(acked.count == 20)
        // Fill what is left of the file system.
        _ = try run("/bin/dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=64k"])
        let (more, refusal) = try Self.writeUntilRefused(c)
        acked += more
        let refused = try #require(refusal, "the disk never filled")
        #expect(refused.errorCode == "storage")
        // Other connections and unaudited reads carry on; stats says what is wrong. A read
        // that must be audited is refused while nothing can be written: no disclosure
        // without its audit entry (docs/SECURITY.md).
        #expect(try c.call(["op": "ping"]).isOK)
        #expect(try c.call(["op": "call.get", "call_id": .string(acked[0])]).errorCode == "storage")
        let stats = try daemon.connect().call(["op": "stats"])
        #expect(stats["storage_fault"]?.stringValue != nil, "\(stats)")
        #expect(daemon.log().contains("storage fault"))
        // Space comes back: writes succeed again, no restart.
        try FileManager.default.removeItem(atPath: disk + "/filler")
        let after = UUIDText.random()
        #expect(try c.call(Req.start(call: after, dialled: "999")).isOK)
        #expect(try c.call(["op": "stats"])["storage_fault"] == nil)
        try Self.expectNothingLost(daemon, acked + [after])
    }

    @Test func aDatabaseLockedByAnotherProcessMakesWritesWaitNotFail() throws {
        let daemon = try Daemon()
        try daemon.start()
        let c = try daemon.connect()
        #expect(try c.call(Req.start(dialled: "101")).isOK)
        // Another process takes the write lock for two seconds (the writer's busy timeout is 10).
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = [
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(2); c.execute('COMMIT')",
            daemon.database,
        ]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        _ = out.fileHandleForReading.availableData  // "locked"
        let started = Date()
        let other = try daemon.connect()
        #expect(try other.call(["op": "ping"]).isOK)  // others are served meanwhile
        let call = UUIDText.random()
        let answer = try c.call(Req.start(call: call, dialled: "999"))
        #expect(answer.isOK, "\(answer)")
        #expect(Date().timeIntervalSince(started) > 1.0, "the write did not wait for the lock")
        holder.waitUntilExit()
        #expect(try other.call(["op": "call.get", "call_id": .string(call)]).isOK)
    }

    @Test func aDatabaseMovedAwayStopsWritesUntilItIsBack() throws {
        guard let (daemon, disk) = try Self.daemonOnTmpfs() else { return }
        defer { Self.unmount(daemon, disk) }
        let c = try daemon.connect()
        let before = UUIDText.random()
        #expect(try c.call(Req.start(call: before, dialled: "101")).isOK)
        try FileManager.default.moveItem(atPath: daemon.database, toPath: daemon.database + ".away")
        let refused = try c.call(Req.start(dialled: "101"))
        #expect(refused.errorCode == "storage")
        #expect(try c.call(["op": "stats"])["storage_fault"]?.stringValue?.contains("was removed") == true)
        try FileManager.default.moveItem(atPath: daemon.database + ".away", toPath: daemon.database)
        let after = UUIDText.random()
        #expect(try c.call(Req.start(call: after, dialled: "101")).isOK)
        try Self.expectNothingLost(daemon, [before, after])
        // And after a restart, from the file itself.
        daemon.stop()
        try daemon.start()
        try Self.expectNothingLost(daemon, [before, after])
    }
}
