import Foundation
import HotlineClient
import HotlineCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Storage faults under a running daemon (issue: faults): the disk fills, the database file
/// is moved away or locked, the file system turns read-only, fdatasync fails. Each write
/// meanwhile is answered `storage` and nothing of it is acknowledged; other connections go
/// on; `stats` and the log say what is wrong. Writes succeed again when the fault clears,
/// without a restart, except where clearing needs one: an ext4 that remounted itself
/// read-only after an error must be unmounted and checked, and after a failed fdatasync the
/// daemon exits for systemd to restart it. Nothing acknowledged is lost.
@Suite(.serialized)
struct StorageFaultTests {
    /// A daemon whose database is on a fresh 8 MiB tmpfs (``Requires/tmpfs``).
    static func daemonOnTmpfs() throws -> (Daemon, String) {
        let daemon = try Daemon()
        let disk = daemon.directory + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mounted = try run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk])
        guard mounted.status == 0 else {
            throw HotlineConnection.Failure("cannot mount a tmpfs: \(mounted.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        try startOrUnmount(daemon, on: disk)
        return (daemon, disk)
    }

    /// Starts `daemon` with its database on the file system mounted at `disk`, unmounting it
    /// if the daemon does not start (the caller's clean-up is not set up yet).
    static func startOrUnmount(_ daemon: Daemon, on disk: String) throws {
        daemon.database = disk + "/calls.sqlite"
        do { try daemon.start() } catch {
            _ = try? run("/usr/bin/umount", ["-l", disk])
            throw error
        }
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
            let answer = try c.call(
                Req.start(call: call, dialled: "0800 789 321", extra: ["caller": ["name": .string(String(repeating: "x", count: 200))]]))
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

    @Test(.enabled(if: Requires.tmpfs, "needs root and a tmpfs mount"))
    func aFullDiskAnswersStorageAndWritesResumeWhenSpaceIsFreed() throws {
        let (daemon, disk) = try Self.daemonOnTmpfs()
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
        Daemon.waitForExit(holder)
        #expect(try other.call(["op": "call.get", "call_id": .string(call)]).isOK)
    }

    @Test(.enabled(if: Requires.tmpfs, "needs root and a tmpfs mount"))
    func aDatabaseMovedAwayStopsWritesUntilItIsBack() throws {
        let (daemon, disk) = try Self.daemonOnTmpfs()
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

    /// A daemon whose database is on a fresh 32 MiB ext4 image, loop-mounted with
    /// `errors=remount-ro` (``Requires/ext4Errors``).
    static func daemonOnExt4() throws -> (daemon: Daemon, disk: String, image: String, device: String) {
        let daemon = try Daemon()
        let disk = daemon.directory + "/disk", image = daemon.directory + "/disk.img"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: image, contents: nil),
            truncate(image, 32 << 20) == 0,
            try run("/usr/sbin/mkfs.ext4", ["-q", "-F", image]).status == 0
        else { throw HotlineConnection.Failure("cannot make an ext4 image") }
        let mounted = try run("/usr/bin/mount", ["-o", "loop,errors=remount-ro", image, disk])
        guard mounted.status == 0 else {
            throw HotlineConnection.Failure(
                "cannot loop-mount an ext4 image: \(mounted.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let source = try run("/usr/bin/findmnt", ["-n", "-o", "SOURCE", disk]).stdout
        let device = URL(fileURLWithPath: source.trimmingCharacters(in: .whitespacesAndNewlines)).lastPathComponent
        try startOrUnmount(daemon, on: disk)
        return (daemon, disk, image, device)
    }

    @Test(.enabled(if: Requires.ext4Errors, "needs root, a loop-mounted ext4 and its trigger_fs_error"))
    func aFileSystemThatTurnsReadOnlyAnswersStorageAndLosesNothing() throws {
        let (daemon, disk, image, device) = try Self.daemonOnExt4()
        var mounted = true
        defer {
            daemon.stop()
            if mounted { _ = try? run("/usr/bin/umount", ["-l", disk]) }
        }
        let c = try daemon.connect()
        let (acked, _) = try Self.writeUntilRefused(c, max: 20)
        #expect(acked.count == 20)
        // ext4 meets an error and remounts itself read-only, as errors=remount-ro does when
        // the disk underneath fails; the daemon's files stay open.
        let trigger = "/sys/fs/ext4/\(device)/trigger_fs_error"
        try "hotlined storage-fault test".write(toFile: trigger, atomically: false, encoding: .utf8)
        let options = try run("/usr/bin/findmnt", ["-n", "-o", "OPTIONS", disk]).stdout
        #expect(options.hasPrefix("ro") || options.contains("emergency_ro"), "\(options)")
        let refusedCall = UUIDText.random(), refusedEvent = UUIDText.random()
        let refused = try c.call(Req.start(call: refusedCall, event: refusedEvent, dialled: "999"))
        #expect(refused.errorCode == "storage", "\(refused)")
        #expect(try c.call(Req.start(dialled: "0800 789 321")).errorCode == "storage")
        let other = try daemon.connect()
        #expect(try other.call(["op": "ping"]).isOK)
        let fault = try other.call(["op": "stats"])["storage_fault"]?.stringValue
        #expect(fault?.contains("read-only") == true, "\(fault ?? "no storage_fault")")
        #expect(daemon.log().contains("storage fault"))
        // A fresh daemon could not open the database on a read-only file system: this one
        // stays up for what needs no write.
        usleep(600_000)
        #expect(daemon.process?.isRunning == true)
        #expect(try other.call(["op": "ping"]).isOK)
        // An ext4 that remounted itself read-only cannot be made writable again while
        // mounted: stop, check, mount, start. Everything acknowledged is there; the refused
        // event, sent again, is stored once.
        #expect(daemon.stop() == 0, "hotlined did not stop cleanly on a read-only file system:\n\(daemon.log())")
        #expect(try run("/usr/bin/umount", [disk]).status == 0)
        mounted = false
        let fsck = try run("/usr/sbin/e2fsck", ["-f", "-y", image])
        #expect(fsck.status <= 1, "e2fsck: \(fsck.stdout) \(fsck.stderr)")
        #expect(try run("/usr/bin/mount", ["-o", "loop", image, disk]).status == 0)
        mounted = true
        try daemon.start()
        try Self.expectNothingLost(daemon, acked)
        let again = try daemon.connect()
        #expect(try again.call(Req.start(call: refusedCall, event: refusedEvent, dialled: "999")).isOK)
        #expect(try again.call(["op": "call.get", "call_id": .string(refusedCall)]).isOK)
    }

    /// Builds Tests/faults/failing-fsync.c into `directory` (``Requires/cc``).
    static func failingFsyncShim(in directory: String) throws -> String {
        let source = Daemon.packageRoot.appendingPathComponent("Tests/faults/failing-fsync.c").path
        let library = directory + "/failing-fsync.so"
        let built = try run("/usr/bin/cc", ["-shared", "-fPIC", "-O1", "-o", library, source, "-ldl"])
        guard built.status == 0 else { throw HotlineConnection.Failure("cannot build the fsync shim: \(built.stderr)") }
        return library
    }

    @Test(.enabled(if: Requires.cc, "needs a C compiler for the failing-fsync shim"))
    func aFailedFdatasyncAcknowledgesNothingMoreAndTheDaemonExitsForARestart() throws {
        let daemon = try Daemon()
        let shim = try Self.failingFsyncShim(in: daemon.directory)
        let flag = daemon.directory + "/fail-fsync"
        try daemon.start(environment: ["LD_PRELOAD": shim, "HOTLINE_FAIL_FSYNC": flag])
        defer { daemon.stop() }
        let c = try daemon.connect()
        let (acked, _) = try Self.writeUntilRefused(c, max: 20)
        #expect(acked.count == 20)
        // The disk fails to write back: the next fsync, whoever makes it (the writer's
        // fdatasync or a checkpoint's), answers EIO, once; every later one succeeds, as on
        // Linux. Nothing sent from then on may be acknowledged by this process: the events
        // pipelined here are answered `storage` (or left unanswered as it stops).
        FileManager.default.createFile(atPath: flag, contents: nil)
        let failedCall = UUIDText.random(), failedEvent = UUIDText.random()
        try c.send(Req.start(call: failedCall, event: failedEvent, dialled: "999"))
        for _ in 0..<9 { try c.send(Req.start(dialled: "0800 789 321")) }
        var answers: [JSONValue] = []
        while answers.count < 10, let answer = try? c.receive() { answers.append(answer) }
        #expect(!FileManager.default.fileExists(atPath: flag), "no fsync was made")
        #expect(answers.first?.errorCode == "storage", "\(answers)")
        #expect(answers.allSatisfy { !$0.isOK }, "acknowledged after a failed fsync: \(answers)")
        // It stops and exits with EX_IOERR, which the unit's Restart=on-failure restarts.
        let deadline = Date().addingTimeInterval(30)
        while daemon.process?.isRunning == true, Date() < deadline { usleep(50_000) }
        #expect(daemon.stop() == 74, "\(daemon.log())")
        #expect(daemon.log().contains("shutting down so that systemd restarts hotlined"))
        // The restarted daemon has everything acknowledged; the refused event, resent, is
        // stored once whether or not its frames reached the disk.
        try daemon.start()
        try Self.expectNothingLost(daemon, acked)
        let again = try daemon.connect()
        #expect(try again.call(Req.start(call: failedCall, event: failedEvent, dialled: "999")).isOK)
        let events = try again.call(["op": "call.get", "call_id": .string(failedCall)])
        #expect(events.isOK, "\(events)")
    }
}
