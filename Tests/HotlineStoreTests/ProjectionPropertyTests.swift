import Foundation
import HotlineCore
import HotlineStore
import Testing

/// A property, over many random histories: whatever valid events arrive (starts, updates
/// of every kind, ends, resends, refusals), however they are batched, and across restarts,
/// each call's stored projection is exactly what replaying the same events through the pure
/// policy gives, every answer agrees with that replay, and the log verifies.
@Suite struct ProjectionPropertyTests {
    /// A small, fast, seedable generator (SplitMix64): each seed is one reproducible history.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let numbers = ["999", "112", "0800789321", "101", "01632960000"]
    static let categories = ["suspicious-activity", "vehicle", "noise", nil]
    static let peers = [Fixture.handler, Fixture.otherHandler, Fixture.supervisor]

    static func history(seed: UInt64, length: Int) -> [(WriteEvent, Peer)] {
        var rng = SplitMix(state: seed)
        var calls: [String] = []
        var sent: [(WriteEvent, Peer)] = []
        let base = Fixture.ts("2026-11-24T19:00:00Z")
        for i in 0..<length {
            let peer = peers.randomElement(using: &rng)!
            let at = base.adding(seconds: Double(i))
            let roll = Int.random(in: 0..<100, using: &rng)
            if calls.isEmpty || roll < 20 {
                let id = UUIDText.random()
                calls.append(id)
                let identity = Bool.random(using: &rng) ? CallerIdentity(cli: "0770090\(i)", name: "Caller \(i)") : CallerIdentity()
                sent.append(
                    (
                        .start(
                            CallStart(
                                eventID: UUIDText.random(), callID: id, dialled: numbers.randomElement(using: &rng)!,
                                receivedAt: at, answeredAt: Bool.random(using: &rng) ? at.adding(seconds: 3) : nil,
                                workstation: "WS-\(i % 4)", handler: "44\(i % 7)", identity: identity,
                                anonymousRequested: roll % 7 == 0 ? true : nil)),
                        peer
                    ))
            } else if roll < 28, let previous = sent.randomElement(using: &rng) {
                sent.append(previous)  // a resend: a duplicate, or a refusal again
            } else if roll < 38 {
                let call = calls.randomElement(using: &rng)!
                let outcome = ["dispatched", "report-taken", "hoax"].randomElement(using: &rng)!
                sent.append(
                    (.end(CallEnd(eventID: UUIDText.random(), callID: call, endedAt: at.adding(seconds: 60), outcome: outcome)), peer))
            } else {
                let call = calls.randomElement(using: &rng)!
                var changes = CallChanges()
                if Bool.random(using: &rng) { changes.category = categories.randomElement(using: &rng)! }
                if roll % 5 == 0 { changes.flags = ["threat_to_life": Bool.random(using: &rng)] }
                if roll % 6 == 0 { changes.grade = Grade.allCases.randomElement(using: &rng) }
                if roll % 4 == 0 { changes.marking = Marking.allCases.randomElement(using: &rng) }
                if roll % 11 == 0 { changes.anonymousRequested = true }
                if roll % 9 == 0 { changes.identity = CallerIdentity(contact: "contact \(i)") }
                if roll % 3 == 0 { changes.location = Location(text: "place \(i)", lat: 52.9, lon: -1.4) }
                let note = roll % 2 == 0 ? "note \(i)" : nil
                if changes == CallChanges() && note == nil { changes.category = "noise" }
                sent.append((.update(CallUpdate(eventID: UUIDText.random(), callID: call, at: at, changes: changes, note: note)), peer))
            }
        }
        return sent
    }

    @Test(arguments: 1...24 as ClosedRange<UInt64>)
    func theProjectionIsAlwaysAReplayOfTheLog(seed: UInt64) throws {
        let t = try TemporaryStore()
        let events = Self.history(seed: seed, length: 120)
        var rng = SplitMix(state: seed ^ 0xFEED)

        // The pure replay: the policy alone, in order, with seq counting stored events.
        var replayed: [String: CallState] = [:]
        var seen: Set<String> = []
        var seq: Int64 = 0
        var expected: [Bool] = []  // stored or answered as a duplicate, versus refused
        for (event, peer) in events {
            if seen.contains(event.eventID) {
                expected.append(true)
                continue
            }
            if let decision = try? t.policy.apply(event, to: replayed[event.callID], by: peer, seq: seq + 1) {
                seq += 1
                seen.insert(event.eventID)
                replayed[event.callID] = decision.state
                expected.append(true)
            } else {
                expected.append(false)
            }
        }

        // The store: the same events in random batches, with a restart now and then.
        var answers: [Bool] = []
        var i = 0
        while i < events.count {
            let size = Int.random(in: 1...12, using: &rng)
            let batch = Array(events[i..<min(i + size, events.count)])
            let outcome = t.store.commit(
                batch.map { Fixture.submission($0.0, by: $0.1) }, policy: t.policy, now: Fixture.now)
            answers += outcome.results.map { (try? $0.get()) != nil }
            i += batch.count
            if Int.random(in: 0..<10, using: &rng) == 0 { try t.reopen() }
        }
        #expect(answers == expected, "seed \(seed): the store and the replay disagree on which events stand")
        for (id, state) in replayed {
            let stored = try #require(try t.store.call(id: id)?.state, "seed \(seed): call \(id) is missing")
            #expect(stored == state, "seed \(seed): call \(id)'s projection differs from the replay")
        }
        #expect(try t.store.counts().events == seq)
        let verified = try t.store.verify()
        #expect(verified.ok, "seed \(seed): \(verified.problems)")
    }
}
