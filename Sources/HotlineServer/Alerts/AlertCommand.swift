import CSpawn
import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import HotlineCore
import Synchronization

/// Runs a command sink's program for one delivery: argv without a shell, the delivery as
/// one JSON line on standard input; delivered when it exits 0 within the sink's timeout.
///
/// The program learns nothing of the daemon and cannot outlive its timeout:
/// - Its environment is ``environment(sink:)`` and nothing else: no `CREDENTIALS_DIRECTORY`
///   (where systemd put the key), no path of the database, nothing inherited.
/// - It gets descriptors 0, 1 and 2 and no others. Foundation's `Process` and a plain
///   `posix_spawn` pass on every descriptor not opened close-on-exec, and a daemon cannot
///   vouch for all of its libraries' (or for a socket systemd handed it). So the child
///   closes everything from 3 up itself, just before exec
///   (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34: close_range(2)): nothing
///   opened by another thread in the meantime can slip through, as it could if the parent
///   marked its descriptors close-on-exec first. It starts in `/`, not in the daemon's
///   directory.
/// - It runs in a process group of its own, with every signal at its default action (the
///   daemon ignores SIGTERM and SIGHUP to take them from a signal source) and none
///   blocked. Past the timeout the group gets SIGTERM, and SIGKILL ``grace`` seconds later
///   if the program is still there; once it has ended, what it left in its group is
///   killed too. Signals go to the group only while the program is unreaped, so its id
///   cannot have been reused.
/// - It is always reaped: no zombies.
/// - Its standard output and error go to one pipe, of which the first ``outputLimit``
///   bytes are kept for the failure message and the rest read and dropped, so a chatty
///   program neither blocks on a full pipe nor costs memory.
///
/// A thread of its own watches each program (deliveries per sink are capped, so these
/// are few): the waiting is blocking, and Swift's concurrency threads must not block.
enum AlertCommand {
    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    /// The program's whole environment.
    static func environment(sink: String) -> [String] {
        ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOTLINED_SINK=\(sink)"]
    }

    /// Seconds between SIGTERM and SIGKILL.
    static let grace = 2.0
    /// Bytes of the program's output kept for the failure message.
    static let outputLimit = 2048

    static func run(sink: AlertSink, input: [UInt8], grace: Double = Self.grace) async throws {
        let cancelled = Flag()
        let argv = sink.argv
        let environment = environment(sink: sink.name)
        let timeout = sink.timeoutSeconds
        // Cancelled (the daemon is stopping): the program is ended as at its timeout.
        let outcome = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, any Error>) in
                Thread.detachNewThread {
                    continuation.resume(
                        with: Result {
                            try supervise(
                                argv: argv, environment: environment, input: input, timeout: timeout, grace: grace,
                                cancelled: cancelled)
                        })
                }
            }
        } onCancel: {
            cancelled.set()
        }
        let program = argv[0]
        let said = outcome.output.isEmpty ? "" : ": \(outcome.output)"
        if outcome.timedOut {
            throw Failed(description: "\(program) did not finish within \(timeout) s and was killed\(said)")
        }
        switch outcome.status {
        case .exited(0): return
        case .exited(let code): throw Failed(description: "\(program) exited with status \(code)\(said)")
        case .signalled(let signal): throw Failed(description: "\(program) was killed by signal \(signal)\(said)")
        }
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    enum Status: Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    struct Outcome {
        var status: Status
        var timedOut: Bool
        /// The start of what it wrote to standard output and error, on one line.
        var output: String
    }

    /// Spawns the program and watches it until it has ended and been reaped. Blocking.
    static func supervise(
        argv: [String], environment: [String], input: [UInt8], timeout: Double, grace: Double, cancelled: Flag
    ) throws -> Outcome {
        // Writing to a program that closed its standard input must fail with EPIPE, not
        // raise SIGPIPE in the daemon: blocked on this thread, which is ours alone.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

        let toChild = try makePipe()
        let fromChild: (read: CInt, write: CInt)
        do { fromChild = try makePipe() } catch {
            close(toChild.read)
            close(toChild.write)
            throw error
        }
        var stdinWrite = toChild.write
        let outputRead = fromChild.read
        defer {
            if stdinWrite >= 0 { close(stdinWrite) }
            close(outputRead)
        }
        let spawned = Result { try spawn(argv: argv, environment: environment, stdin: toChild.read, output: fromChild.write) }
        // The child's ends: it has its own copies now.
        close(toChild.read)
        close(fromChild.write)
        let pid = try spawned.get()
        _ = fcntl(stdinWrite, F_SETFL, fcntl(stdinWrite, F_GETFL) | O_NONBLOCK)
        _ = fcntl(outputRead, F_SETFL, fcntl(outputRead, F_GETFL) | O_NONBLOCK)

        var pending = input[...]
        var output: [UInt8] = []
        var outputOpen = true
        let started = ContinuousClock.now
        var terminated: Duration?
        var killed = false
        var buffer = [UInt8](repeating: 0, count: 4096)

        func readOutput() {
            while outputOpen {
                let n = buffer.withUnsafeMutableBytes { read(outputRead, $0.baseAddress, $0.count) }
                if n > 0 {
                    output += buffer.prefix(max(0, min(n, outputLimit - output.count)))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    outputOpen = false
                } else if errno == EAGAIN {
                    return
                }
            }
        }

        while !hasEnded(pid) {
            let elapsed = ContinuousClock.now - started
            if terminated == nil, elapsed >= .seconds(timeout) || cancelled.isSet {
                kill(-pid, SIGTERM)
                terminated = elapsed
            }
            if let terminated, !killed, elapsed >= terminated + .seconds(grace) {
                kill(-pid, SIGKILL)
                killed = true
            }
            // Wait for output, for room for the input, or 20 ms, whichever comes first.
            var fds = [
                pollfd(fd: outputOpen ? outputRead : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stdinWrite, events: Int16(POLLOUT), revents: 0),
            ]
            _ = poll(&fds, 2, 20)
            if fds[0].revents != 0 { readOutput() }
            if fds[1].revents != 0 {
                let n = pending.withUnsafeBytes { write(stdinWrite, $0.baseAddress, $0.count) }
                if n > 0 { pending = pending.dropFirst(n) }
                if pending.isEmpty || (n < 0 && errno != EAGAIN && errno != EINTR) {
                    close(stdinWrite)
                    stdinWrite = -1
                }
            }
        }
        // It has ended but is not reaped yet, so `pid` is still its process group's id.
        if terminated != nil { kill(-pid, SIGKILL) }
        readOutput()
        var status: CInt = 0
        var reaped = waitpid(pid, &status, 0)
        while reaped < 0 && errno == EINTR { reaped = waitpid(pid, &status, 0) }
        guard reaped == pid else {
            throw Failed(description: "cannot tell how \(argv[0]) ended: \(String(cString: strerror(errno)))")
        }
        let text = String(decoding: output, as: UTF8.self)
            .map { $0.isNewline || $0 == "\t" ? " " : $0 }
            .filter { !($0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false) }
        return Outcome(
            status: status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signalled(status & 0x7F),
            timedOut: terminated != nil,
            output: String(text).trimmingCharacters(in: .whitespaces))
    }

    /// Whether the program has ended, without reaping it.
    private static func hasEnded(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0 {
            // Only EINTR is expected; ECHILD would mean someone else reaped it.
            if errno != EINTR { return true }
        }
        return info.si_signo == SIGCHLD
    }

    /// A close-on-exec pipe whose ends are above 2, so that placing them on 0, 1 and 2 in
    /// the child cannot overwrite one with the other.
    private static func makePipe() throws -> (read: CInt, write: CInt) {
        var fds: [CInt] = [-1, -1]
        guard hotline_pipe_cloexec(&fds) == 0 else { throw Failed(description: "cannot make a pipe: \(String(cString: strerror(errno)))") }
        for i in 0..<2 where fds[i] < 3 {
            let moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)
            close(fds[i])
            fds[i] = moved
        }
        guard fds[0] >= 0, fds[1] >= 0 else {
            for fd in fds where fd >= 0 { close(fd) }
            throw Failed(description: "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    private static func spawn(argv: [String], environment: [String], stdin: CInt, output: CInt) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        func check(_ what: String, _ result: CInt) throws {
            guard result == 0 else { throw Failed(description: "cannot run \(argv[0]) (\(what): \(String(cString: strerror(result))))") }
        }
        try check("stdin", posix_spawn_file_actions_adddup2(&actions, stdin, 0))
        try check("stdout", posix_spawn_file_actions_adddup2(&actions, output, 1))
        try check("stderr", posix_spawn_file_actions_adddup2(&actions, output, 2))
        try check("chdir", hotline_spawn_addchdir(&actions, "/"))
        try check("closefrom", hotline_spawn_addclosefrom(&actions, 3))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        try check("sigmask", posix_spawnattr_setsigmask(&attributes, &noSignals))
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        try check("sigdefault", posix_spawnattr_setsigdefault(&attributes, &allSignals))
        try check("pgroup", posix_spawnattr_setpgroup(&attributes, 0))
        try check(
            "flags",
            posix_spawnattr_setflags(
                &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer { (cArgv + cEnvironment).forEach { free($0) } }
        var pid: pid_t = 0
        try check("spawn", posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnvironment))
        return pid
    }
}
