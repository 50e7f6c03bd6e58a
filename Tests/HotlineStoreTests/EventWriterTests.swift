import Foundation
import HotlineCore
import HotlineStore
import Synchronization
import Testing

/// `EventWriter`: the single writer thread that group-commits and then answers each write.
@Suite struct EventWriterTests {
    let t: TemporaryStore
    init() throws { t = try TemporaryStore() }

    /// One answer: which thread submitted it, its place in that thread's order, and the result.
    struct Answer: Sendable {
        var thread: Int
        var index: Int
        var result: Result<WriteAck, HotlineError>
    }

    /// Answers in the order the writer gave them.
    final class Answers: Sendable {
        private let list = Mutex<[Answer]>([])
        func append(_ a: Answer) { list.withLock { $0.append(a) } }
        var all: [Answer] { list.withLock { $0 } }
        var count: Int { list.withLock { $0.count } }
    }

    /// A value shared with the writer thread.
    final class Locked<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        func withLock<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    }

    func writer(maxBatch: Int) -> EventWriter {
        EventWriter(store: t.store, policy: t.policy, maxBatch: maxBatch, clock: { Fixture.now })
    }

    @Test func submissionsFromSeveralThreadsAreEachAnsweredOnceInOrder() throws {
        let writer = writer(maxBatch: 7)
        writer.start()
        let threads = 4, perThread = 60
        let answers = Answers()
        let group = DispatchGroup()
        for _ in 0..<(threads * perThread) { group.enter() }

        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                // Every tenth write is an update of a call never started: refused, still answered.
                let event =
                    index % 10 == 9
                    ? Fixture.update(UUIDText.random(), CallChanges(category: "noise"))
                    : Fixture.start(UUIDText.random())
                writer.submit(
                    WriteSubmission(event: event, peer: Fixture.handler) { result in
                        answers.append(Answer(thread: thread, index: index, result: result))
                        group.leave()
                    })
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        writer.stop()

        let all = answers.all
        #expect(all.count == threads * perThread)
        var seqs: [Int64] = []
        for thread in 0..<threads {
            let mine = all.filter { $0.thread == thread }
            // Exactly once each, answered in the order submitted.
            #expect(mine.map(\.index) == Array(0..<perThread), "thread \(thread)")
            let stored = mine.compactMap(\.result.seq)
            #expect(stored.count == perThread - perThread / 10, "thread \(thread)")
            #expect(zip(stored, stored.dropFirst()).allSatisfy { $0 < $1 }, "thread \(thread): \(stored)")
            for answer in mine where answer.index % 10 == 9 {
                #expect(answer.result.error?.code == .conflict)
            }
            seqs += stored
        }
        let total = Int64(threads * (perThread - perThread / 10))
        #expect(seqs.sorted() == Array(1...total))
        // Across threads too, answers come in seq order: the log's order.
        let inAnswerOrder = all.compactMap(\.result.seq)
        #expect(inAnswerOrder == inAnswerOrder.sorted())
        #expect(try t.store.counts().events == total)
    }

    @Test func stopAnswersEverythingQueuedBeforeItReturns() throws {
        let writer = writer(maxBatch: 16)
        writer.start()
        let answers = Answers()
        let count = 300
        for index in 0..<count {
            writer.submit(
                WriteSubmission(event: Fixture.start(UUIDText.random()), peer: Fixture.handler) { result in
                    answers.append(Answer(thread: 0, index: index, result: result))
                })
        }
        writer.stop()
        #expect(answers.count == count)
        #expect(answers.all.map(\.index) == Array(0..<count))
        #expect(answers.all.map(\.result.seq) == (1...Int64(count)).map { Optional($0) })
        #expect(writer.backlog == 0)
        #expect(try t.store.counts().events == Int64(count))
    }

    @Test func aSubmitAfterStopIsAnsweredUnavailableAtOnce() throws {
        let writer = writer(maxBatch: 16)
        writer.start()
        writer.stop()
        let answers = Answers()
        writer.submit(
            WriteSubmission(event: Fixture.start(UUIDText.random()), peer: Fixture.handler) { result in
                answers.append(Answer(thread: 0, index: 0, result: result))
            })
        // Answered before submit returned, and nothing was stored.
        #expect(answers.count == 1)
        #expect(answers.all.first?.result.error?.code == .unavailable)
        #expect(try t.store.counts().events == 0)
        // Stopping again returns at once.
        writer.stop()
    }

    @Test func theCommitObserverSeesAlertsBeforeTheWriteIsAnswered() throws {
        let writer = writer(maxBatch: 16)
        let observed = Locked<[Alert]>([])
        writer.setCommitObserver { alerts in observed.withLock { $0 += alerts } }
        writer.start()
        let seenAtAnswer = Locked<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        writer.submit(
            WriteSubmission(event: Fixture.start(UUIDText.random(), dialled: "999"), peer: Fixture.handler) { result in
                seenAtAnswer.withLock { $0 = observed.withLock { $0.count } }
                done.signal()
            })
        #expect(done.wait(timeout: .now() + 30) == .success)
        writer.stop()
        #expect(seenAtAnswer.withLock { $0 } == 1)
        #expect(observed.withLock { $0.map(\.reason) } == [.emergencyLine])
    }

    /// Round robin: a quiet source's one write goes into the first batch, however many
    /// writes another source queued before it.
    @Test func aQuietSourceIsServedBeforeABusyOnesBacklog() throws {
        let writer = writer(maxBatch: 8)
        let answers = Answers()
        let busy = 200
        for index in 0..<busy {
            writer.submit(
                WriteSubmission(event: Fixture.start(UUIDText.random()), peer: Fixture.handler) { result in
                    answers.append(Answer(thread: 1, index: index, result: result))
                }, source: 1)
        }
        writer.submit(
            WriteSubmission(event: Fixture.start(UUIDText.random(), dialled: "999"), peer: Fixture.handler) { result in
                answers.append(Answer(thread: 2, index: 0, result: result))
            }, source: 2)
        writer.start()
        writer.stop()
        let quiet = try #require(answers.all.first { $0.thread == 2 })
        // One from the busy source, then the quiet one: the second event in the log.
        #expect(quiet.result.seq == 2)
        // The busy source's own writes are still answered in its order, every one.
        #expect(answers.all.filter { $0.thread == 1 }.map(\.index) == Array(0..<busy))
    }

    /// Past `maxQueued` an offer is declined and nothing is queued; the source is called
    /// back once there is room, and its offer then succeeds.
    @Test func offersPastTheCapAreDeclinedUntilThereIsRoom() throws {
        let writer = EventWriter(store: t.store, policy: t.policy, maxBatch: 16, maxQueued: 3, clock: { Fixture.now })
        let answers = Answers()
        func submission(_ index: Int) -> WriteSubmission {
            WriteSubmission(event: Fixture.start(UUIDText.random()), peer: Fixture.handler) { result in
                answers.append(Answer(thread: 0, index: index, result: result))
            }
        }
        // Source 0 fills the queues to the cap.
        for index in 0..<3 { #expect(writer.offer(submission(index), source: 0)) }
        #expect(!writer.offer(submission(3), source: 0))
        // A quiet source still gets its reserved places beyond the cap, and no more.
        #expect(writer.offer(submission(3), source: 1))
        #expect(writer.offer(submission(4), source: 1))
        #expect(!writer.offer(submission(5), source: 1))
        #expect(writer.backlog == 5)
        let room = DispatchSemaphore(value: 0)
        writer.whenRoom { room.signal() }
        // Nothing is taken before the writer runs: no call back yet.
        #expect(room.wait(timeout: .now() + 0.2) == .timedOut)
        writer.start()
        #expect(room.wait(timeout: .now() + 30) == .success)
        #expect(writer.offer(submission(5), source: 1))
        writer.stop()
        #expect(answers.all.map(\.index).sorted() == Array(0...5))
        #expect(answers.all.allSatisfy { $0.result.seq != nil })
    }

    /// A batch told to yield stops at the first write it may stop at, commits what it
    /// applied, and answers only those; the rest are not stored.
    @Test func aBatchToldToYieldCommitsOnlyWhatItApplied() throws {
        let ids = (0..<5).map { _ in UUIDText.random() }
        let outcome = t.store.commit(
            ids.map { Fixture.submission(Fixture.start($0)) }, policy: t.policy, now: Fixture.now, yieldFrom: 2,
            shouldYield: { true })
        #expect(outcome.results.count == 2)
        #expect(outcome.results.allSatisfy { $0.seq != nil })
        #expect(try t.store.call(id: ids[1]) != nil)
        #expect(try t.store.call(id: ids[2]) == nil)
        // Never before the first write, whatever it is told.
        let first = t.store.commit(
            [Fixture.submission(Fixture.start(ids[2]))], policy: t.policy, now: Fixture.now, yieldFrom: 0,
            shouldYield: { true })
        #expect(first.results.count == 1)
        #expect(try t.store.call(id: ids[2]) != nil)
    }

    /// Batches cut short for a quiet workstation's writes carry the rest into the next
    /// batch: nothing is lost or answered twice, and no source's writes overtake each other
    /// (an update applied before its call's start would be refused), even when a source's
    /// queue empties while its writes wait in a batch that is cut.
    @Test func cutBatchesKeepEverySourcesOrder() throws {
        let writer = EventWriter(store: t.store, policy: t.policy, maxBatch: 512, clock: { Fixture.now })
        writer.start()
        let answers = Answers()
        let sources = 8, calls = 100
        let done = DispatchGroup()
        for _ in 0..<(sources * calls * 3) { done.enter() }
        DispatchQueue.concurrentPerform(iterations: sources) { source in
            var index = 0
            func submit(_ event: WriteEvent) {
                let mine = index
                writer.submit(
                    WriteSubmission(event: event, peer: Fixture.handler) { result in
                        answers.append(Answer(thread: source, index: mine, result: result))
                        done.leave()
                    }, source: source)
                index += 1
            }
            var previous: String?
            for _ in 0..<calls {
                let id = UUIDText.random()
                // The start goes in behind the previous call's end, so it is taken as backlog,
                // not as a fresh write; the update comes a moment later, often when the
                // source's queue is empty and its start is in a batch under way.
                if let previous { submit(Fixture.end(previous)) }
                submit(Fixture.start(id))
                usleep(UInt32.random(in: 0...6000))
                submit(Fixture.update(id, note: "n"))
                previous = id
            }
            submit(Fixture.end(previous!))
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        writer.stop()
        let all = answers.all
        for source in 0..<sources {
            let indices = all.filter { $0.thread == source }.map(\.index)
            let firstOut = zip(indices, 0...).first { $0.0 != $0.1 }
            let inOrder = indices.count == calls * 3 && firstOut == nil
            #expect(inOrder, "source \(source): \(indices.count) answers, first out of order at \(String(describing: firstOut))")
        }
        let refused = all.filter { $0.result.seq == nil }
        #expect(refused.isEmpty, "\(refused.count) refused, first: \(String(describing: refused.first?.result.error))")
    }

    /// An audit entry committed without its own fsync is made durable by the syncer's next
    /// one; once the writer has stopped, the caller syncs for itself.
    @Test func whenDurableAnswersAfterTheSyncersNextFsyncAndAfterStopAtOnce() throws {
        let writer = writer(maxBatch: 8)
        writer.start()
        let entry = AuditEntry(peer: Fixture.supervisor, op: "call.get", at: Fixture.now, detail: ["result": "ok"])
        _ = try t.store.audit(entry, sync: false)
        let answered = Locked<[Bool]>([])
        let done = DispatchSemaphore(value: 0)
        writer.whenDurable { ok in
            answered.withLock { $0.append(ok) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 30) == .success)
        writer.stop()
        writer.whenDurable { ok in answered.withLock { $0.append(ok) } }
        // Called before it returned.
        #expect(answered.withLock { $0 } == [true, true])
        #expect(
            try t.store.auditEntries(from: Fixture.ts("2026-01-01T00:00:00Z"), to: Fixture.ts("2027-01-01T00:00:00Z")).entries.count == 1)
    }
}
