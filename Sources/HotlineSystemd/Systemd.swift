import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// A thin wrapper over libsystemd's sd-daemon: socket activation, notifications and the
/// watchdog. Every call is harmless when not run by systemd (no `LISTEN_FDS`, no
/// `NOTIFY_SOCKET`): it does nothing and says so.
public enum Systemd {
    /// A socket passed by systemd (`LISTEN_FDS`), with its `FileDescriptorName=`.
    public struct ListenedSocket: Sendable, Equatable {
        public var descriptor: CInt
        public var name: String
    }

    /// The sockets systemd passed, or none when not socket-activated. The environment
    /// variables are unset so that no child process inherits them.
    public static func listenedSockets() -> [ListenedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer { csystemd_free_names(names, count) }
        return (0..<count).map { i in
            let name = names?[Int(i)].map { String(cString: $0) } ?? "unknown"
            return ListenedSocket(descriptor: SD_LISTEN_FDS_START + i, name: name)
        }
    }

    /// True when `descriptor` is a listening Unix stream socket.
    public static func isListeningUnixStreamSocket(_ descriptor: CInt) -> Bool {
        sd_is_socket_unix(descriptor, csystemd_sock_stream(), 1, nil, 0) > 0
    }

    /// Sends `state` (`READY=1`, `STATUS=…`, newline-separated assignments) to the service
    /// manager. Returns false when there is no manager to tell.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// The watchdog interval systemd expects pings within (`WatchdogSec=`), or nil.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// CLOCK_MONOTONIC in microseconds, as `MONOTONIC_USEC=` wants it.
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }

    /// True when the journal's native socket is there to log to.
    public static var journalAvailable: Bool {
        access("/run/systemd/journal/socket", W_OK) == 0
    }

    /// Sends one journal entry; fields are `NAME=value` byte strings.
    @discardableResult
    public static func journalSend(_ fields: [[UInt8]]) -> Bool {
        var buffers: [UnsafeMutableRawBufferPointer] = []
        defer { buffers.forEach { $0.deallocate() } }
        var vectors: [iovec] = []
        vectors.reserveCapacity(fields.count)
        for field in fields {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(field.count, 1), alignment: 1)
            buffer.copyBytes(from: field)
            buffers.append(buffer)
            vectors.append(iovec(iov_base: buffer.baseAddress, iov_len: field.count))
        }
        return vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) } >= 0
    }
}
