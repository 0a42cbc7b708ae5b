import Testing
@testable import StubPool

/// Names written into buffers: digits, and the consecutive names of a chunk's symbol file.
@Suite struct CodeNameTests {
    private static func written(_ write: (UnsafeMutablePointer<UInt8>) -> Int) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            String(decoding: UnsafeBufferPointer(start: buffer.baseAddress!, count: write(buffer.baseAddress!)), as: UTF8.self)
        }
    }

    @Test func digitsInBothRadixes() {
        for value: UInt64 in [0, 1, 9, 10, 99, 100, 4095, 1 << 32, .max] {
            #expect(Self.written { CodeName.writeDigits(value, radix: 10, to: $0) } == String(value))
            #expect(Self.written { CodeName.writeDigits(value, radix: 16, to: $0) } == String(value, radix: 16))
            #expect(CodeName.digitCount(value, radix: 10) == String(value).count)
        }
    }

    /// Consecutive numbers through every carry (9 → 10, 999 → 1000, …), then a jump back and
    /// forward, each name checked against the number printed from scratch.
    @Test func consecutiveNamesCarryAndJump() {
        var names = ConsecutiveNames(prefix: Array("p#".utf8), first: 0)
        for number: UInt64 in 0...10_050 {
            #expect(Self.written { names.write(number, to: $0) } == "p#\(number)")
        }
        for number: UInt64 in [7, 8, 99_999, 100_000, UInt64.max - 1, UInt64.max, 0, 1, 3] {
            #expect(Self.written { names.write(number, to: $0) } == "p#\(number)")
        }
    }
}
