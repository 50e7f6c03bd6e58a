import NIOCore
import Testing

@testable import HotlineServer

/// `LineFramer`: the byte stream cut into LF-terminated lines, with the line limit of
/// PROTOCOL.md section 1, pulled a line at a time as the connection does.
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

    /// A framer and the bytes read so far, pulled from as ``ConnectionHandler`` does.
    final class Framing {
        var framer: LineFramer
        var buffer = ByteBuffer()
        init(limit: Int) { framer = LineFramer(maxLineBytes: limit) }

        /// Appends `text` as one read and returns every frame it completed.
        @discardableResult
        func read(_ text: String) -> [Got] {
            buffer.writeString(text)
            return frames()
        }

        func frames() -> [Got] {
            var got: [Got] = []
            while let frame = framer.next(&buffer) {
                switch frame {
                case .line(let line): got.append(.line(String(buffer: line)))
                case .tooLong: got.append(.tooLong)
                }
            }
            return got
        }
    }

    func framing(limit: Int) -> Framing { Framing(limit: limit) }

    static func text(_ count: Int, _ c: Character = "a") -> String { String(repeating: c, count: count) }

    @Test func aLineSplitAcrossReadsIsHandedOnWhole() throws {
        let f = framing(limit: 1024)
        #expect(f.read("{\"op\":") == [])
        #expect(f.read("\"ping\"") == [])
        #expect(f.read("}\n") == [.line("{\"op\":\"ping\"}")])
        // The LF of one line in the same read as the start of the next.
        #expect(f.read("abc\nde") == [.line("abc")])
        #expect(f.read("f\n") == [.line("def")])
        // One byte at a time.
        var got: [Got] = []
        for byte in "one\ntwo\n" { got += f.read(String(byte)) }
        #expect(got == [.line("one"), .line("two")])
    }

    @Test func severalLinesInOneReadAreHandedOnInOrder() throws {
        let f = framing(limit: 1024)
        #expect(f.read("a\nbb\n\nccc\n") == [.line("a"), .line("bb"), .line(""), .line("ccc")])
        #expect(f.read("x\ny\nz") == [.line("x"), .line("y")])
        #expect(f.read("\n") == [.line("z")])
    }

    @Test func aCRBeforeTheLFIsDropped() throws {
        let f = framing(limit: 1024)
        #expect(f.read("ping\r\n") == [.line("ping")])
        #expect(f.read("\r\n") == [.line("")])
        #expect(f.read("abc\r") == [])
        #expect(f.read("\n") == [.line("abc")])
        // Only the one CR right before the LF; a CR inside the line is the client's.
        #expect(f.read("a\rb\n") == [.line("a\rb")])
        #expect(f.read("a\r\r\n") == [.line("a\r")])
    }

    @Test func aLineOfExactlyTheLimitWithItsLFPasses() throws {
        let f = framing(limit: 16)
        #expect(f.read(Self.text(15) + "\n") == [.line(Self.text(15))])
        // CR LF counts both bytes.
        #expect(f.read(Self.text(14, "b") + "\r\n") == [.line(Self.text(14, "b"))])
        // Byte by byte, the same.
        var got: [Got] = []
        for _ in 0..<15 { got += f.read("c") }
        got += f.read("\n")
        #expect(got == [.line(Self.text(15, "c"))])
        // The limit is per line, not per read.
        #expect(f.read(Self.text(15, "d") + "\n" + Self.text(15, "e") + "\n") == [.line(Self.text(15, "d")), .line(Self.text(15, "e"))])
        #expect(f.read(Self.text(15, "f") + "\n" + Self.text(7, "g")) == [.line(Self.text(15, "f"))])
        #expect(f.read(Self.text(8, "g") + "\n") == [.line(Self.text(15, "g"))])
    }

    @Test func oneByteOverTheLimitIsTooLongAndEverythingAfterIsDiscarded() throws {
        let f = framing(limit: 16)
        #expect(f.read("ok\n" + Self.text(16) + "\n" + "ping\n") == [.line("ok"), .tooLong])
        #expect(f.read("ping\n") == [])
        #expect(f.read(Self.text(100) + "\n") == [])
        #expect(f.frames() == [])
    }

    @Test func aLongLineIsCutOffBeforeItsLFArrives() throws {
        let f = framing(limit: 16)
        #expect(f.read(Self.text(15)) == [])
        // The sixteenth byte without an LF: no line of this length can fit any more.
        #expect(f.read("a") == [.tooLong])
        #expect(f.read(Self.text(1000) + "\nping\n") == [])
    }

    @Test func aCRLFLineOneByteOverTheLimitIsTooLong() throws {
        let f = framing(limit: 16)
        #expect(f.read(Self.text(15) + "\r\n") == [.tooLong])
        #expect(f.read("ping\n") == [])
    }

    @Test func aPartialLineAtEndOfFileIsDropped() throws {
        let f = framing(limit: 1024)
        #expect(f.read("complete\n{\"op\":\"call.st") == [.line("complete")])
        // The connection closes here: the partial line never becomes a frame.
        #expect(f.frames() == [])
    }
}
