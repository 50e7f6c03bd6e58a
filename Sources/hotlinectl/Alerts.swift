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
                let reader = try parent.reader()
                let backlog = try reporting(json: false) { try reader.send(.alertsSubscribe, as: SubscribeAnswer.self) }.answer
                    .backlog
                if announcedLoss, !output.json { print("-- reconnected") }
                announcedLoss = false
                if !follow, backlog == 0, !output.json { print("No unacknowledged alerts.") }
                var read = 0
                while follow || read < backlog {
                    let frame = try reader.connection.nextPush()
                    read += 1
                    // A push this version does not know is passed over.
                    guard let push = try? Push(json: frame), case .alert(let alert) = push else {
                        if case .disconnect(let reason)? = try? Push(json: frame) { throw CLIError(reason) }
                        continue
                    }
                    guard seen.insert("\(alert.id)/\(alert.level)").inserted else { continue }
                    if output.json {
                        print(JSONWriter.string(alert.json))
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
    static func describe(_ alert: AlertView) -> String {
        let age = Int(Timestamp(secondsSince1970: Date().timeIntervalSince1970).seconds(since: alert.raisedAt))
        let ageText = age >= 3600 ? "\(age / 3600)h\(age % 3600 / 60)m" : age >= 60 ? "\(age / 60)m\(age % 60)s" : "\(age)s"
        // A call that is not a voice call says so first: the caller is texting or signing.
        let channel = alert.channel == .voice ? "" : "\(alert.channel.rawValue.uppercased())  "
        return "ALERT L\(alert.level)  \(channel)\(alert.reason.uppercased())  route \(alert.route)  grade \(alert.grade)  "
            + "raised \(alert.raisedAt.rfc3339) (\(ageText) ago)  call \(alert.callID)  alert \(alert.id)"
    }
}

struct Ack: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Acknowledge an alert.")

    @ParentCommand var parent: HotlineCtl
    @Argument(help: "The alert's UUID.") var alertID: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        let ack = try perform(.alertAck(alertID: alertID), on: try parent.reader(), json: output.json, as: AlertAckAnswer.self)
        if !output.json { print("Alert \(alertID) acknowledged at \(ack.ackedAt.rfc3339)") }
    }
}
