#if canImport(Glibc)
    import Glibc
#endif
import HotlineCore

/// A blocking connection to hotlined's Unix socket, speaking one JSON line each way.
///
/// Pushed frames (`{"push": …}`) that arrive between responses are kept for ``nextPush()``
/// rather than mistaken for answers.
/// One thread may send while another reads (the crash tests do); two readers may not.
///
/// `@unchecked Sendable` so that a sender and a reader thread may share it: sending touches
/// only the descriptor (`send(2)` is thread-safe), reading only the descriptor, `buffer` and
/// `pushes`; `close()` is called only once the other side is done. A test or tool that
/// breaks that rule (two readers) is wrong by this contract.
public final class HotlineConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    private var fd: Int32
    private var buffer: [UInt8] = []
    private var pushes: [JSONValue] = []
    public let path: String

    public init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("cannot create a socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw Failure("the socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure("cannot connect to hotlined at \(path): \(reason) (is the daemon running? set --socket or HOTLINE_SOCKET)")
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Makes a read that waits longer than `seconds` fail instead of blocking for ever.
    public func setReceiveTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Tells the daemon nothing more will be sent; answers can still be read.
    public func shutdownWrite() {
        if fd >= 0 { shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Closes the connection; a thread blocked reading it wakes with end-of-stream.
    public func close() {
        if fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Sends one request line (the LF is added).
    public func send(line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        try write(bytes)
    }

    public func send(_ request: JSONValue) throws {
        var bytes = JSONWriter.bytes(request)
        bytes.append(0x0A)
        try write(bytes)
    }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("the connection to hotlined was lost while sending: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// The next line from the daemon, as text; nil when it closed the connection.
    public func readLine() throws -> String? {
        while true {
            if let lf = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<lf], as: UTF8.self)
                buffer.removeSubrange(...lf)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                // The daemon closed with requests of ours still unread: as good as a close.
                if errno == ECONNRESET { return nil }
                throw Failure("the connection to hotlined was lost: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// The next response (not a push), parsed.
    public func receive() throws -> JSONValue {
        while true {
            guard let line = try readLine() else { throw Failure("hotlined closed the connection") }
            let value = try JSONParser.parse(line)
            if value["push"] != nil {
                pushes.append(value)
                continue
            }
            return value
        }
    }

    /// The next pushed frame, waiting for one.
    public func nextPush() throws -> JSONValue {
        if !pushes.isEmpty { return pushes.removeFirst() }
        while true {
            guard let line = try readLine() else { throw Failure("hotlined closed the connection") }
            let value = try JSONParser.parse(line)
            if value["push"] != nil { return value }
        }
    }

    /// Sends `request` and waits for its response.
    public func call(_ request: JSONValue) throws -> JSONValue {
        try send(request)
        return try receive()
    }

    /// Waits (`milliseconds`, or -1 for ever) until the daemon or the descriptor `other`
    /// has something to read; says which.
    public func waitReadable(milliseconds: Int32, orInput other: Int32) -> (daemon: Bool, other: Bool) {
        if buffer.contains(0x0A) { return (true, false) }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
        var n: Int32
        repeat { n = poll(&fds, 2, milliseconds) } while n < 0 && errno == EINTR
        guard n > 0 else { return (false, false) }
        return (fds[0].revents != 0, fds[1].revents != 0)
    }

    /// Waits up to `milliseconds` for data to read; false on time-out.
    public func waitReadable(milliseconds: Int32) -> Bool {
        if buffer.contains(0x0A) { return true }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, milliseconds) > 0
    }
}

extension JSONValue {
    /// The `error` of a failed response as a sentence: `invalid (call.dialled): …`.
    public var errorSummary: String? {
        guard let response = try? Response(json: self), case .failure(let error) = response.result else { return nil }
        return Refusal(error: error, line: self).description
    }
}
