import Foundation
import HotlineCore
import Testing

/// What the metrics and wallboard tests share: a free loopback port, a plain HTTP/1.0 GET
/// over a TCP port or a Unix socket (the endpoints as any client sees them, with nothing
/// in between), and headless Chromium driven over the DevTools protocol.
enum Web {
    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let (fd, port) = try boundSocket(listening: false)
        close(fd)
        return port
    }

    /// A TCP socket bound to a free loopback port (and listening, if asked): a port that
    /// stays taken while the socket is open.
    static func boundSocket(listening: Bool) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(fd, p, length) == 0 && (!listening || listen(fd, 1) == 0) && getsockname(fd, p, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw Failure("no free port: errno \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A TCP connection to 127.0.0.1:`port`.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else {
            close(fd)
            throw Failure("cannot connect to 127.0.0.1:\(port): errno \(errno)")
        }
        return fd
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    enum Target {
        case port(Int)
        case unix(String)
    }

    /// `METHOD path` with `Host: host`, read to the end (HTTP/1.0: the server closes).
    static func request(
        _ target: Target, _ path: String, method: String = "GET", host: String = "127.0.0.1", timeout: Int = 30
    ) throws -> Answer {
        let fd: Int32
        switch target {
        case .port(let port):
            fd = try connect(port: port)
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
            }
            let r = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard r == 0 else {
                close(fd)
                throw Failure("cannot connect to \(path): errno \(errno)")
            }
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let text = Array("\(method) \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        // An event stream never ends: whatever came within `timeout` is the answer.
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        let whole = String(decoding: data, as: UTF8.self)
        guard let split = whole.range(of: "\r\n\r\n") else { throw Failure("no HTTP answer: \(whole.prefix(200))") }
        let lines = whole[..<split.lowerBound].split(separator: "\r\n")
        guard let first = lines.first, let status = Int(first.split(separator: " ").dropFirst().first ?? "") else {
            throw Failure("no status line: \(whole.prefix(200))")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: status, headers: headers, body: String(whole[split.upperBound...]))
    }
}

/// Headless Chromium, driven by Tests/wallboard/cdp.py over the DevTools protocol: a page
/// kept open, its DOM polled and its screenshot taken while the daemon changes underneath.
final class Browser {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending: [UInt8] = []

    static var available: Bool {
        Requires.chromium != nil && Requires.executable("/usr/bin/python3")
            && ((try? run("/usr/bin/python3", ["-c", "import websocket"]))?.status == 0)
    }

    init(directory: String, width: Int = 1280, height: Int = 900) throws {
        guard let chromium = Requires.chromium else { throw Web.Failure("no chromium") }
        let script = Daemon.packageRoot.appendingPathComponent("Tests/wallboard/cdp.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, chromium, directory + "/chromium-profile", String(width), String(height)]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let ready = try readLine()
        guard ready["ready"] == .bool(true) else { throw Web.Failure("the browser did not start: \(ready)") }
    }

    deinit { quit() }

    func quit() {
        guard process.isRunning else { return }
        input.fileHandleForWriting.write(Data("{\"quit\": true}\n".utf8))
        _ = Daemon.waitForExit(process, within: 20)
    }

    @discardableResult
    func send(_ command: JSONValue) throws -> JSONValue {
        input.fileHandleForWriting.write(Data(JSONWriter.bytes(command) + [0x0A]))
        let answer = try readLine()
        if let error = answer["error"]?.stringValue { throw Web.Failure("browser: \(error)") }
        return answer
    }

    func open(_ url: String) throws { try send(["open": .string(url)]) }
    func eval(_ expression: String) throws -> JSONValue? { try send(["eval": .string(expression)])["value"] }
    /// Whether `expression` became true within `milliseconds`, and after how long.
    func wait(for expression: String, milliseconds: Int) throws -> (ok: Bool, ms: Int) {
        let a = try send(["wait": .string(expression), "timeout_ms": .int(Int64(milliseconds))])
        return (a["ok"] == .bool(true), Int(a["ms"]?.intValue ?? -1))
    }
    func screenshot(_ path: String) throws { try send(["screenshot": .string(path)]) }

    private func readLine() throws -> JSONValue {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<newline])
                pending.removeFirst(newline + 1)
                return try JSONParser.parse(String(decoding: line, as: UTF8.self))
            }
            let data = output.fileHandleForReading.availableData
            guard !data.isEmpty else { throw Web.Failure("the browser's driver ended") }
            pending += data
        }
    }
}
