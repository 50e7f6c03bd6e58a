import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore

/// `hotlinectl send`: the raw protocol for scripts.
struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send request lines from standard input; print each response line.",
        discussion: "Requests are pipelined. Exits 1 if any response has \"ok\": false."
    )

    @ParentCommand var parent: HotlineCtl

    func run() throws {
        let connection = try parent.connect()
        var sent = 0
        var failed = false
        var input: [UInt8] = []
        var inputOpen = true
        func answer() throws {
            guard let reply = try connection.readLine() else { throw CLIError("hotlined closed the connection") }
            // Written at once, not buffered, even into a pipe: a script may be waiting for it.
            FileHandle.standardOutput.write(Data((reply + "\n").utf8))
            if !reply.contains("\"push\"") {
                sent -= 1
                if reply.contains("\"ok\":false") { failed = true }
            }
        }
        func send(_ line: ArraySlice<UInt8>) throws {
            let text = String(decoding: line, as: UTF8.self)
            if text.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return }
            do { try connection.send(line: text) } catch { throw CLIError("\(error)") }
            sent += 1
        }
        // Requests are sent as they are read (pipelined); answers printed as they arrive.
        while inputOpen {
            let ready = connection.waitReadable(milliseconds: -1, orInput: STDIN_FILENO)
            if ready.daemon { try answer() }
            guard ready.other else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                inputOpen = false
                if !input.isEmpty { try send(input[...]) }
                break
            }
            input += chunk[..<n]
            while let lf = input.firstIndex(of: 0x0A) {
                try send(input[..<lf])
                input.removeSubrange(...lf)
            }
        }
        while sent > 0 { try answer() }
        if failed { throw ExitCode(1) }
    }
}
