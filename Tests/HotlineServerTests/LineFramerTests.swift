import NIOCore
import NIOEmbedded
import Testing

@testable import HotlineServer

/// `LineFramer`: the byte stream cut into LF-terminated lines, with the line limit of
/// PROTOCOL.md section 1, tested in process on an `EmbeddedChannel`.
@Suite struct LineFramerTests {
    /// What the framer handed on, in a form tests can compare.
    enum Got: Equatable, CustomStringConvertible {
        case line(String)
        case tooLong

        var description: String {
            switch self {
            case .line(let s): "line(\(s.debugDescription))"
            case .tooLong: "tooLong"
            }
        }
    }

    let channel = EmbeddedChannel()

    init() throws {}

    func framing(limit: Int) throws -> Self {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFramer(maxLineBytes: limit)))
        return self
    }

    /// Feeds `text` as one read and returns every frame it completed.
    @discardableResult
    func read(_ text: String) throws -> [Got] {
        try channel.writeInbound(ByteBuffer(string: text))
        return try frames()
    }

    func frames() throws -> [Got] {
        var got: [Got] = []
        while let frame = try channel.readInbound(as: Frame.self) {
            switch frame {
            case .line(let buffer): got.append(.line(String(buffer: buffer)))
            case .tooLong: got.append(.tooLong)
            }
        }
        return got
    }

    static func text(_ count: Int, _ c: Character = "a") -> String { String(repeating: c, count: count) }

    @Test func aLineSplitAcrossReadsIsHandedOnWhole() throws {
        let f = try framing(limit: 1024)
        #expect(try f.read("{\"op\":") == [])
        #expect(try f.read("\"ping\"") == [])
        #expect(try f.read("}\n") == [.line("{\"op\":\"ping\"}")])
        // The LF of one line in the same read as the start of the next.
        #expect(try f.read("abc\nde") == [.line("abc")])
        #expect(try f.read("f\n") == [.line("def")])
        // One byte at a time.
        var got: [Got] = []
        for byte in "one\ntwo\n" { got += try f.read(String(byte)) }
        #expect(got == [.line("one"), .line("two")])
    }

    @Test func severalLinesInOneReadAreHandedOnInOrder() throws {
        let f = try framing(limit: 1024)
        #expect(try f.read("a\nbb\n\nccc\n") == [.line("a"), .line("bb"), .line(""), .line("ccc")])
        #expect(try f.read("x\ny\nz") == [.line("x"), .line("y")])
        #expect(try f.read("\n") == [.line("z")])
    }

    @Test func aCRBeforeTheLFIsDropped() throws {
        let f = try framing(limit: 1024)
        #expect(try f.read("ping\r\n") == [.line("ping")])
        #expect(try f.read("\r\n") == [.line("")])
        #expect(try f.read("abc\r") == [])
        #expect(try f.read("\n") == [.line("abc")])
        // Only the one CR right before the LF; a CR inside the line is the client's.
        #expect(try f.read("a\rb\n") == [.line("a\rb")])
        #expect(try f.read("a\r\r\n") == [.line("a\r")])
    }

    @Test func aLineOfExactlyTheLimitWithItsLFPasses() throws {
        let f = try framing(limit: 16)
        #expect(try f.read(Self.text(15) + "\n") == [.line(Self.text(15))])
        // CR LF counts both bytes.
        #expect(try f.read(Self.text(14, "b") + "\r\n") == [.line(Self.text(14, "b"))])
        // Byte by byte, the same.
        var got: [Got] = []
        for _ in 0..<15 { got += try f.read("c") }
        got += try f.read("\n")
        #expect(got == [.line(Self.text(15, "c"))])
        // The limit is per line, not per read.
        #expect(try f.read(Self.text(15, "d") + "\n" + Self.text(15, "e") + "\n") == [.line(Self.text(15, "d")), .line(Self.text(15, "e"))])
        #expect(try f.read(Self.text(15, "f") + "\n" + Self.text(7, "g")) == [.line(Self.text(15, "f"))])
        #expect(try f.read(Self.text(8, "g") + "\n") == [.line(Self.text(15, "g"))])
    }

    @Test func oneByteOverTheLimitIsTooLongAndEverythingAfterIsDiscarded() throws {
        let f = try framing(limit: 16)
        #expect(try f.read("ok\n" + Self.text(16) + "\n" + "ping\n") == [.line("ok"), .tooLong])
        #expect(try f.read("ping\n") == [])
        #expect(try f.read(Self.text(100) + "\n") == [])
        f.channel.pipeline.fireChannelInactive()
        #expect(try f.frames() == [])
    }

    @Test func aLongLineIsCutOffBeforeItsLFArrives() throws {
        let f = try framing(limit: 16)
        #expect(try f.read(Self.text(15)) == [])
        // The sixteenth byte without an LF: no line of this length can fit any more.
        #expect(try f.read("a") == [.tooLong])
        #expect(try f.read(Self.text(1000) + "\nping\n") == [])
    }

    @Test func aCRLFLineOneByteOverTheLimitIsTooLong() throws {
        let f = try framing(limit: 16)
        #expect(try f.read(Self.text(15) + "\r\n") == [.tooLong])
        #expect(try f.read("ping\n") == [])
    }

    @Test func aPartialLineAtEndOfFileIsDropped() throws {
        let f = try framing(limit: 1024)
        #expect(try f.read("complete\n{\"op\":\"call.st") == [.line("complete")])
        _ = try f.channel.finish()
        #expect(try f.frames() == [])
    }
}
