/// Writes through a pointer into room made beforehand: no capacity or uniqueness check per piece,
/// which is what appending to an `Array` costs. The frame encoder's hot path; `append(to:bound:)`
/// is the only way in, so the room is always there. The IPFIX exporter writes its records with it too.
package struct ByteWriter {
    private(set) var cursor: UnsafeMutablePointer<UInt8>

    /// Runs `body` with a writer over `bound` bytes of scratch space (on the stack when small),
    /// then appends what it wrote to `out`. `body` must write at most `bound` bytes.
    @inline(__always)
    package static func append(to out: inout [UInt8], bound: Int, _ body: (inout ByteWriter) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { scratch in
            var writer = ByteWriter(cursor: scratch.baseAddress!)
            body(&writer)
            let written = writer.cursor - scratch.baseAddress!
            precondition(written <= bound, "ByteWriter: wrote past its bound")
            out.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<written]))
        }
    }

    @inline(__always)
    package mutating func write(_ byte: UInt8) {
        cursor.pointee = byte
        cursor += 1
    }

    /// Four bytes, the lowest first.
    @inline(__always)
    package mutating func write(_ word: UInt32) {
        UnsafeMutableRawPointer(cursor).storeBytes(of: word.littleEndian, as: UInt32.self)
        cursor += 4
    }

    /// Integers in network order (big-endian). One per width, not generic: called from other
    /// modules, a generic would not be specialized there.
    package mutating func writeBigEndian(_ value: UInt16) { store(value.bigEndian) }
    package mutating func writeBigEndian(_ value: UInt32) { store(value.bigEndian) }
    package mutating func writeBigEndian(_ value: UInt64) { store(value.bigEndian) }

    @inline(__always)
    private mutating func store<T: FixedWidthInteger>(_ value: T) {
        UnsafeMutableRawPointer(cursor).storeBytes(of: value, as: T.self)
        cursor += MemoryLayout<T>.size
    }

    @inline(__always)
    package mutating func write(_ text: StaticString) {
        cursor.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        cursor += text.utf8CodeUnitCount
    }

    @inline(__always)
    package mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        cursor.update(from: start.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        cursor += bytes.count
    }

    /// A string's UTF-8 bytes, unescaped (raw values, a number's text). Named apart from
    /// `write(_: StaticString)`, which string literals must keep choosing.
    @inline(__always)
    package mutating func writeUTF8(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// "00" "01" … "99": two digits per division.
    private static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// Decimal digits (at most 20).
    @inline(__always)
    package mutating func writeDecimal(_ value: UInt64) {
        if value < 10 {
            write(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // UInt64.max has 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            let pairs = Self.digitPairs.utf8Start
            var v = value
            var i = buffer.count
            while v >= 100 {
                let pair = Int(v % 100) * 2
                v /= 100
                i -= 2
                buffer[i] = pairs[pair]
                buffer[i + 1] = pairs[pair + 1]
            }
            if v >= 10 {
                i -= 2
                buffer[i] = pairs[Int(v) * 2]
                buffer[i + 1] = pairs[Int(v) * 2 + 1]
            } else {
                i -= 1
                buffer[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v)
            }
            write(UnsafeRawBufferPointer(rebasing: buffer[i...]))
        }
    }

    /// `value` with exactly `width` digits, zero-padded (the value must fit).
    @inline(__always)
    package mutating func writeDecimal(_ value: UInt64, width: Int) {
        var v = value
        var i = width
        while i > 0 {
            i -= 1
            cursor[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
        }
        cursor += width
    }

    /// Lowercase hex of a 16-bit group without leading zeros.
    @inline(__always)
    package mutating func writeHexGroup(_ value: UInt16) {
        let hex: StaticString = "0123456789abcdef"
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = Int(value >> UInt16(shift) & 0xF)
            if nibble != 0 || started || shift == 0 {
                write(hex.utf8Start[nibble])
                started = true
            }
        }
    }
}
