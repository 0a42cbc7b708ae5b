/// Reads a fuzz input as a stream of small numbers; past the end it yields zeros, so every input
/// decodes to some finite sequence of operations.
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func word() -> UInt64 {
        (0..<8).reduce(0) { value, shift in value | UInt64(byte()) << (8 * UInt64(shift)) }
    }

    /// A value in 0..<bound (bound ≥ 1), from one or two bytes.
    mutating func below(_ bound: Int) -> Int {
        bound <= 256 ? Int(byte()) % bound : (Int(byte()) | Int(byte()) << 8) % bound
    }
}
