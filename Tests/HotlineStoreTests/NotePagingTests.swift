import Foundation
import GRDB
import HotlineCore
@testable import HotlineStore
import Testing

/// `call.get` answers at most `limits.max_notes_per_answer` notes; `notesNext` is where the
/// next page starts (issue 12): only the page's notes are read, and every note comes once.
@Suite struct NotePagingTests {
    let t: TemporaryStore
    init() throws { t = try TemporaryStore() }

    static let callA = "0a0a0a0a-0000-4000-8000-00000000000a"
    static let callB = "0b0b0b0b-0000-4000-8000-00000000000b"

    /// Writes `count` notes on `call`, in batches, and returns their texts in order.
    @discardableResult
    func writeNotes(_ count: Int, on call: String, prefix: String = "note") -> [String] {
        let texts = (0..<count).map { "\(prefix) \($0)" }
        for batch in stride(from: 0, to: count, by: 200) {
            let events = texts[batch..<min(batch + 200, count)].map { Fixture.update(call, note: $0) }
            let outcome = t.commit(Array(events))
            #expect(outcome.results.allSatisfy { $0.seq != nil })
        }
        return texts
    }

    /// Every page of `call`'s notes, `size` at a time, following `notesNext`.
    func pages(of call: String, size: Int, after: Int64? = nil) throws -> [CallDetail] {
        var pages: [CallDetail] = []
        var cursor = after
        repeat {
            let page = try #require(try t.store.call(id: call, notesAfter: cursor, maxNotes: size))
            pages.append(page)
            if let next = page.notesNext {
                #expect(next > (cursor ?? 0), "the cursor did not move")
            }
            cursor = page.notesNext
        } while cursor != nil && pages.count <= 10_000
        return pages
    }

    @Test func aCallWithNoMoreNotesThanAPageHasNoCursor() throws {
        t.commit([Fixture.start(Self.callA)])
        let texts = writeNotes(7, on: Self.callA)
        for size in [7, 8, 1000] {
            let page = try #require(try t.store.call(id: Self.callA, maxNotes: size))
            #expect(page.notes.map(\.text) == texts)
            #expect(page.notesNext == nil, "a page of \(size) holds all 7 notes, yet has a cursor")
        }
        // The default page is the shipped cap.
        #expect(CallStore.defaultNotesPerPage == Configuration.Limits().maxNotesPerAnswer)
        #expect(try t.store.call(id: Self.callA)?.notesNext == nil)
        // One note more than the page: a cursor, and the next page has just that note.
        let first = try #require(try t.store.call(id: Self.callA, maxNotes: 6))
        #expect(first.notes.map(\.text) == Array(texts.prefix(6)))
        let next = try #require(first.notesNext)
        let last = try #require(try t.store.call(id: Self.callA, notesAfter: next, maxNotes: 6))
        #expect(last.notes.map(\.text) == ["note 6"])
        #expect(last.notesNext == nil)
    }

    /// Long notes end a page early: once its notes' text reaches `maxNoteBytes`, whatever
    /// the count, and never before its first note.
    @Test func aPageEndsAtTheNoteThatReachesTheByteCap() throws {
        t.commit([Fixture.start(Self.callA)])
        let texts = (0..<10).map { String(repeating: Character(String($0)), count: 10_000) }
        t.commit(texts.map { Fixture.update(Self.callA, note: $0) })
        var seen: [String] = []
        var cursor: Int64? = nil
        var sizes: [Int] = []
        repeat {
            let page = try #require(try t.store.call(id: Self.callA, notesAfter: cursor, maxNotes: 1000, maxNoteBytes: 25_000))
            sizes.append(page.notes.count)
            seen += page.notes.map(\.text)
            cursor = page.notesNext
        } while cursor != nil && sizes.count < 20
        // 10,000 + 10,000 < 25,000 ≤ 30,000: three notes a page, then the last one.
        #expect(sizes == [3, 3, 3, 1])
        #expect(seen == texts)
        // A single note longer than the cap still makes a page of one.
        let one = try #require(try t.store.call(id: Self.callA, maxNotes: 1000, maxNoteBytes: 100))
        #expect(one.notes.map(\.text) == [texts[0]])
        #expect(one.notesNext != nil)
    }

    @Test func aCallWithoutNotesHasNoCursor() throws {
        t.commit([Fixture.start(Self.callA), Fixture.update(Self.callA, CallChanges(category: "noise"))])
        let page = try #require(try t.store.call(id: Self.callA, maxNotes: 1))
        #expect(page.notes.isEmpty)
        #expect(page.notesNext == nil)
    }

    /// Every page size, with updates that carry no note (a location's text is sealed like a
    /// note) and another call's notes in between: each note exactly once, in order, and a
    /// cursor exactly when another note follows.
    @Test func pagingYieldsEveryNoteExactlyOnceInOrder() throws {
        t.commit([Fixture.start(Self.callA), Fixture.start(Self.callB)])
        var expected: [String] = []
        for i in 0..<23 {
            var events: [WriteEvent] = [Fixture.update(Self.callA, note: "A \(i)"), Fixture.update(Self.callB, note: "B \(i)")]
            expected.append("A \(i)")
            if i % 4 == 1 {
                events.append(Fixture.update(Self.callA, CallChanges(location: Location(text: "Car park \(i)", lat: nil, lon: nil))))
            }
            if i % 5 == 2 { events.append(Fixture.update(Self.callA, CallChanges(category: "noise"))) }
            #expect(t.commit(events).results.allSatisfy { $0.seq != nil })
        }
        // Trailing updates without a note do not make a cursor.
        t.commit([Fixture.update(Self.callA, CallChanges(location: Location(text: "Bus stop", lat: nil, lon: nil)))])
        for size in 1...25 {
            let pages = try pages(of: Self.callA, size: size)
            #expect(pages.flatMap(\.notes).map(\.text) == expected, "pages of \(size)")
            #expect(pages.count == (expected.count + size - 1) / size, "pages of \(size)")
            #expect(pages.dropLast().allSatisfy { $0.notes.count == size && $0.notesNext != nil })
            #expect(pages.last?.notesNext == nil)
            #expect(pages.last?.notes.isEmpty == false, "the last cursor led to an empty page (pages of \(size))")
            // Every page carries the whole call otherwise.
            #expect(pages.allSatisfy { $0.state == pages[0].state && $0.alerts == pages[0].alerts })
        }
        #expect(try pages(of: Self.callB, size: 4).flatMap(\.notes).map(\.text) == (0..<23).map { "B \($0)" })
    }

    @Test func notesWrittenBetweenPagesComeOnLaterPages() throws {
        t.commit([Fixture.start(Self.callA)])
        writeNotes(5, on: Self.callA, prefix: "early")
        let first = try #require(try t.store.call(id: Self.callA, maxNotes: 3))
        writeNotes(4, on: Self.callA, prefix: "late")
        let rest = try pages(of: Self.callA, size: 3, after: try #require(first.notesNext))
        #expect(
            (first.notes + rest.flatMap(\.notes)).map(\.text)
                == ["early 0", "early 1", "early 2", "early 3", "early 4", "late 0", "late 1", "late 2", "late 3"])
    }

    @Test func aCursorPastTheLastNoteAnswersTheCallWithNoNotes() throws {
        t.commit([Fixture.start(Self.callA)])
        writeNotes(3, on: Self.callA)
        let page = try #require(try t.store.call(id: Self.callA, notesAfter: 1_000_000, maxNotes: 2))
        #expect(page.notes.isEmpty)
        #expect(page.notesNext == nil)
        #expect(page.state.id == Self.callA)
        #expect(try t.store.call(id: Self.callA, notesAfter: 0, maxNotes: 2)?.notes.map(\.text) == ["note 0", "note 1"])
    }

    /// Only the page's notes are read and decrypted: a note on a later page that cannot be
    /// opened does not stop the first page, only its own.
    @Test func onlyThePagesNotesAreDecrypted() throws {
        t.commit([Fixture.start(Self.callA)])
        writeNotes(10, on: Self.callA)
        let seqs = try t.read { db in
            try Int64.fetchAll(
                db, sql: "SELECT seq FROM events WHERE call_id = ? AND op = 'call.update' ORDER BY seq", arguments: [Self.callA])
        }
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: t.path, configuration: configuration)
        try queue.write { db in
            try db.execute(sql: "UPDATE events SET secret = zeroblob(length(secret)) WHERE seq = ?", arguments: [seqs[8]])
        }
        try queue.close()
        let first = try #require(try t.store.call(id: Self.callA, maxNotes: 5))
        #expect(first.notes.count == 5)
        #expect(throws: (any Error).self) { try t.store.call(id: Self.callA, notesAfter: first.notesNext, maxNotes: 5) }
    }
}
