import ArgumentParser
import Foundation
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
        // Send every line, then read as many responses; pushed frames are printed as they come.
        while let line = readLine(strippingNewline: true) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            do {
                try connection.send(line: line)
            } catch {
                throw CLIError("\(error)")
            }
            sent += 1
            while sent > 0, connection.waitReadable(milliseconds: 0) {
                guard let reply = try connection.readLine() else { throw CLIError("hotlined closed the connection") }
                print(reply)
                if !reply.contains("\"push\"") {
                    sent -= 1
                    if reply.contains("\"ok\":false") { failed = true }
                }
            }
        }
        while sent > 0 {
            guard let reply = try connection.readLine() else { throw CLIError("hotlined closed the connection") }
            print(reply)
            if !reply.contains("\"push\"") {
                sent -= 1
                if reply.contains("\"ok\":false") { failed = true }
            }
        }
        if failed { throw ExitCode(1) }
    }
}
