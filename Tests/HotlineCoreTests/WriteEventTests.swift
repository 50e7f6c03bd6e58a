import HotlineCore
import Testing

/// What of an event is stored in the clear and what is sealed (issue 13: coordinates).
@Suite struct WriteEventTests {
    static func update(_ location: Location?, note: String? = nil) -> WriteEvent {
        .update(
            CallUpdate(
                eventID: "e1", callID: "c1", at: Timestamp(microseconds: 0), changes: CallChanges(location: location),
                note: note, handler: "4471"))
    }

    @Test func aLocationIsSealedWholeAndTheBodySaysOnlyThatOneWasSet() {
        let event = Self.update(Location(text: "Behind the gasworks", lat: 53.06, lon: -1.48), note: "A van")
        #expect(event.publicContent["set"]?["location"] == true)
        #expect(!JSONWriter.string(event.publicContent).contains("53.06"))
        #expect(
            event.freeText == [
                "note": "A van", "location_text": "Behind the gasworks", "location_lat": 53.06, "location_lon": -1.48,
            ])
    }

    @Test func coordinatesAloneAreFreeTextToo() throws {
        let event = Self.update(Location(lat: 52.0, lon: -1.5))
        #expect(event.publicContent["set"]?["location"] == true)
        #expect(event.freeText == ["location_lat": 52.0, "location_lon": -1.5])
        // And a sealed whole number reads back as the number it was.
        let written = JSONWriter.string(event.freeText!)
        #expect(try JSONParser.parse(Array(written.utf8)) == event.freeText)
    }

    @Test func noLocationNoMention() {
        let event = Self.update(nil, note: "only a note")
        #expect(event.publicContent["set"]?["location"] == nil)
        #expect(event.freeText == ["note": "only a note"])
    }
}
