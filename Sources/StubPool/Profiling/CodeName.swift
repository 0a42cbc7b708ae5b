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
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: CodeName.longestNumber) { digits in
            let length = CodeName.writeDigits(value, radix: radix, to: digits.baseAddress!)
            append(contentsOf: UnsafeBufferPointer(start: digits.baseAddress!, count: length))
        }
    }
}

// Names written straight into a buffer sized beforehand (the gdb symbol file of a chunk's
// thousands of stubs).
extension CodeName {
    /// Digits of the longest UInt64 in base 10.
    static let longestNumber = 20

    /// The most bytes ``write(to:)`` writes.
    var longestLength: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .numbered(let prefix, _): prefix.utf8.count + Self.longestNumber
        case .numberedRange(let prefix, _, _): prefix.utf8.count + 2 * Self.longestNumber + 1
        }
    }

    /// Writes the name (no NUL) at `destination`, which has room for ``longestLength`` bytes;
    /// returns how many bytes.
    func write(to destination: UnsafeMutablePointer<UInt8>) -> Int {
        switch self {
        case .text(let text):
            return Self.write(text, to: destination)
        case .numbered(let prefix, let number):
            let length = Self.write(prefix, to: destination)
            return length + Self.writeDigits(number, radix: 10, to: destination + length)
        case .numberedRange(let prefix, let first, let last):
            var length = Self.write(prefix, to: destination)
            length += Self.writeDigits(first, radix: 10, to: destination + length)
            destination[length] = 0x2D
            return length + 1 + Self.writeDigits(last, radix: 10, to: destination + length + 1)
        }
    }

    /// Writes `text`'s UTF-8 bytes at `destination`; returns how many.
    static func write(_ text: String, to destination: UnsafeMutablePointer<UInt8>) -> Int {
        var text = text
        return text.withUTF8 { bytes in
            if let source = bytes.baseAddress { destination.update(from: source, count: bytes.count) }
            return bytes.count
        }
    }

    /// Writes `value` in base `radix` (10 or 16, lowercase) at `destination`, which has room for
    /// ``longestNumber`` bytes; returns how many.
    @inline(__always)
    static func writeDigits(_ value: UInt64, radix: UInt64, to destination: UnsafeMutablePointer<UInt8>) -> Int {
        let length = digitCount(value, radix: radix)
        var rest = value
        for position in stride(from: length - 1, through: 0, by: -1) {
            let digit = UInt8(truncatingIfNeeded: rest % radix)
            destination[position] = digit < 10 ? 0x30 + digit : 0x57 + digit  // '0'…'9', 'a'…'f'
            rest /= radix
        }
        return length
    }

    /// How many digits ``writeDigits(_:radix:to:)`` writes for `value`.
    @inline(__always)
    static func digitCount(_ value: UInt64, radix: UInt64) -> Int {
        var length = 0, rest = value
        repeat {
            rest /= radix
            length += 1
        } while rest != 0
        return length
    }
}

/// Names `prefix` + a decimal number written for consecutive numbers (a chunk's stubs, in
/// address order): each name is the last one with its digits incremented, not a division per
/// digit. Any other number is written from scratch. A class owning its buffer: an array's
/// copy-on-write check per digit, and Swift's overflow checks, were most of a chunk's symbol
/// file (159 instructions per stub for the whole file loop).
final class ConsecutiveNames {
    /// The prefix, then the digits of `next`.
    private let name: UnsafeMutablePointer<UInt8>
    private let prefixLength: Int
    private var length: Int
    private var next: UInt64

    init(prefix: [UInt8], first: UInt64) {
        prefixLength = prefix.count
        name = .allocate(capacity: prefix.count + CodeName.longestNumber)
        name.initialize(from: prefix, count: prefix.count)
        length = prefix.count
        next = first
        setDigits(first)
    }

    deinit { name.deallocate() }

    private func setDigits(_ number: UInt64) {
        length = prefixLength + CodeName.writeDigits(number, radix: 10, to: name + prefixLength)
        next = number
    }

    /// Writes `prefix` + `number` (no NUL) at `destination`; returns its length.
    func write(_ number: UInt64, to destination: UnsafeMutablePointer<UInt8>) -> Int {
        if number != next { setDigits(number) }
        let written = length
        destination.update(from: name, count: written)
        // The next number's digits: carry through the nines, or one digit more.
        next &+= 1
        var position = written &- 1
        while position >= prefixLength && name[position] == 0x39 {  // '9'
            name[position] = 0x30
            position &-= 1
        }
        if next == 0 {
            setDigits(0)  // past UInt64.max
        } else if position >= prefixLength {
            name[position] &+= 1
        } else {
            (name + prefixLength + 1).update(from: name + prefixLength, count: length &- prefixLength)
            name[prefixLength] = 0x31  // '1'
            length &+= 1
        }
        return written
    }
}
