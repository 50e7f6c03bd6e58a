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
struct LineFramer: ByteToMessageDecoder {
    typealias InboundOut = Frame

    let maxLineBytes: Int
    private var scanned = 0
    private var overflowed = false

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let newline = buffer.withUnsafeReadableBytes { raw -> Int? in
            guard scanned < raw.count else { return nil }
            return raw[scanned...].firstIndex(of: 0x0A)
        }
        guard let newline else {
            scanned = buffer.readableBytes
            if buffer.readableBytes >= maxLineBytes {
                overflowed = true
                buffer.moveReaderIndex(to: buffer.writerIndex)
                context.fireChannelRead(wrapInboundOut(.tooLong))
            }
            return .needMoreData
        }
        scanned = 0
        if newline + 1 > maxLineBytes {
            overflowed = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.tooLong))
            return .needMoreData
        }
        var line = buffer.readSlice(length: newline)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        context.fireChannelRead(wrapInboundOut(.line(line)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A partial line at disconnect is not a request: nothing was acknowledged for it.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
