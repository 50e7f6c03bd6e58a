import ArgumentParser
import Foundation
import HotlineCommandLine
import HotlineClient
import HotlineCore

/// `hotlinectl alerts [--follow]`: a supervisor's console.
struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show unacknowledged alerts; with --follow, keep showing alerts as they are raised.",
        discussion: """
            With --follow it reconnects by itself when the daemon restarts, and shows each alert level once: \
            nothing missed, nothing repeated. Acknowledge with: hotlinectl ack ALERT_ID
            """
    )

    @ParentCommand var parent: HotlineCtl
    @Flag(help: "Keep running and print alerts as they come.") var follow = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        // A console runs until it is told to stop: make sure SIGTERM and SIGINT can reach it
        // even when the launcher left them blocked (a blocked mask is inherited across exec).
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        var seen: Set<String> = []
        var announcedLoss = false
        while true {
            do {
                let connection = try parent.connect()
                let answer = try connection.call(["op": "alerts.subscribe"])
                if let summary = answer.errorSummary {
                    FileHandle.standardError.write(Data("hotlinectl: \(summary)\n".utf8))
                    throw ExitCode(1)
                }
                if announcedLoss, !output.json { print("-- reconnected") }
                announcedLoss = false
                let backlog = Int(answer["backlog"]?.intValue ?? 0)
                if !follow, backlog == 0, !output.json { print("No unacknowledged alerts.") }
                var read = 0
                while follow || read < backlog {
                    let frame = try connection.nextPush()
                    read += 1
                    if frame["push"] == "disconnect" {
                        throw CLIError(frame["reason"]?.stringValue ?? "disconnected by the daemon")
                    }
                    guard let alert = frame["alert"], let id = alert["id"]?.stringValue else { continue }
                    let key = "\(id)/\(alert["level"]?.intValue ?? 1)"
                    guard seen.insert(key).inserted else { continue }
                    if output.json {
                        print(JSONWriter.string(alert))
                    } else {
                        print(Self.describe(alert))
                    }
                    fflush(nil)
                }
                return
            } catch let exit as ExitCode {
                throw exit
            } catch let error as CLIError where !follow {
                throw error
            } catch {
                guard follow else { throw CLIError("\(error)") }
                if !announcedLoss, !output.json {
                    print("-- lost the connection to hotlined (\(error)); reconnecting…")
                    fflush(nil)
                }
                announcedLoss = true
                usleep(500_000)
            }
        }
    }

    /// One line a supervisor can read at a glance.
    static func describe(_ alert: JSONValue) -> String {
        let raised = (try? Timestamp(rfc3339: alert["raised_at"]?.stringValue ?? "")) ?? Timestamp(microseconds: 0)
        let age = Int(Timestamp(secondsSince1970: Date().timeIntervalSince1970).seconds(since: raised))
        let ageText = age >= 3600 ? "\(age / 3600)h\(age % 3600 / 60)m" : age >= 60 ? "\(age / 60)m\(age % 60)s" : "\(age)s"
        let level = alert["level"]?.intValue ?? 1
        let reason = (alert["reason"]?.stringValue ?? "?").uppercased()
        return "ALERT L\(level)  \(reason)  route \(alert["route"]?.stringValue ?? "?")  grade \(alert["grade"]?.stringValue ?? "?")  "
            + "raised \(alert["raised_at"]?.stringValue ?? "?") (\(ageText) ago)  call \(alert["call_id"]?.stringValue ?? "?")  "
            + "alert \(alert["id"]?.stringValue ?? "?")"
    }
}

struct Ack: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Acknowledge an alert.")

    @ParentCommand var parent: HotlineCtl
    @Argument(help: "The alert's UUID.") var alertID: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        let r = try perform(["op": "alert.ack", "alert_id": .string(alertID)], on: try parent.connect(), json: output.json)
        if !output.json { print("Alert \(alertID) acknowledged at \(r["acked_at"]?.stringValue ?? "?")") }
    }
}
