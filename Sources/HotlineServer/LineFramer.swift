import NIOCore

/// What the framer hands on: a complete line, or the news that a line was too long.
enum Frame {
    case line(ByteBuffer)
    case tooLong
}

/// Splits the byte stream into LF-terminated lines (a CR before the LF is dropped).
///
/// A line longer than the limit is never buffered whole: once the limit is passed without
/// an LF, `.tooLong` is emitted and everything after it is discarded (the connection is
/// then closed).
///
/// ``ConnectionHandler`` pulls one line at a time with ``next(_:)``, only while the
/// connection has room in its budget: lines not yet wanted stay bytes in its buffer.
struct LineFramer {
    let maxLineBytes: Int
    private var scanned = 0
    private var overflowed = false

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    /// The next frame in `buffer`, consumed from it; nil until a whole line is there.
    mutating func next(_ buffer: inout ByteBuffer) -> Frame? {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        let newline = buffer.withUnsafeReadableBytes { raw -> Int? in
            guard scanned < raw.count else { return nil }
            return raw[scanned...].firstIndex(of: 0x0A)
        }
        guard let newline else {
            scanned = buffer.readableBytes
            if buffer.readableBytes >= maxLineBytes { return overflow(&buffer) }
            return nil
        }
        scanned = 0
        if newline + 1 > maxLineBytes { return overflow(&buffer) }
        var line = buffer.readSlice(length: newline)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        return .line(line)
    }

    private mutating func overflow(_ buffer: inout ByteBuffer) -> Frame {
        overflowed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .tooLong
    }
}
