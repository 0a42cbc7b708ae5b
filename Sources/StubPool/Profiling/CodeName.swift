/// The name of a piece of code in profiles and debuggers: text, or a prefix and a decimal number
/// appended without building a string (a bulk allocation names thousands of runs).
enum CodeName: Sendable {
    case text(String)
    case numbered(String, UInt64)
    /// `prefix` `first` `-` `last`: a run of stubs under one name.
    case numberedRange(String, UInt64, UInt64)
}

// Little-endian fields and ASCII digits for the profiler and debugger files, written in place.
extension [UInt8] {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Overwrites 4 bytes at `offset` (a size field known only once its record is complete).
    mutating func storeLittleEndian(_ value: UInt32, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { bytes in
            for index in 0..<4 { self[offset + index] = bytes[index] }
        }
    }

    mutating func append(_ name: CodeName) {
        switch name {
        case .text(let text):
            append(contentsOf: text.utf8)
        case .numbered(let prefix, let number):
            append(contentsOf: prefix.utf8)
            appendDigits(number, radix: 10)
        case .numberedRange(let prefix, let first, let last):
            append(contentsOf: prefix.utf8)
            appendDigits(first, radix: 10)
            append(0x2D)
            appendDigits(last, radix: 10)
        }
    }

    /// Appends `value` in base `radix` (10 or 16, lowercase), in place: no temporary strings.
    /// Inlined so that the radix is a constant (divisions become multiplications: this was the
    /// largest cost of a gdb symbol file for a chunk's 16,383 numbered stubs).
    @inline(__always)
    mutating func appendDigits(_ value: UInt64, radix: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var position = 20, rest = value
            repeat {
                let digit = UInt8(truncatingIfNeeded: rest % radix)
                position -= 1
                digits[position] = digit < 10 ? 0x30 + digit : 0x57 + digit  // '0'…'9', 'a'…'f'
                rest /= radix
            } while rest != 0
            append(contentsOf: UnsafeBufferPointer(rebasing: digits[position..<20]))
        }
    }
}
