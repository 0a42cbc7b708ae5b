/// The image checksum: FNV-1a over 64-bit little-endian words (the tail padded with zeros), then
/// the length folded in and mixed (the finalizer of SplitMix64) — about 8 bytes per multiply,
/// so validating a multi-megabyte image costs well under a millisecond.
enum ImageChecksum {
    static let initialState: UInt64 = 0xCBF2_9CE4_8422_2325

    static func hash(_ bytes: [UInt8], seed: UInt64 = initialState) -> UInt64 {
        bytes.withUnsafeBytes { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// `seed` chains hashes: the hash of a second buffer seeded with the first's.
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = initialState) -> UInt64 {
        var state = seed
        let prime: UInt64 = 0x0000_0100_0000_01B3
        let words = bytes.count / 8
        for index in 0..<words {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
            state = (state ^ word) &* prime
        }
        var tail: UInt64 = 0
        for index in (words * 8)..<bytes.count { tail |= UInt64(bytes[index]) << (8 * UInt64(index - words * 8)) }
        state = (state ^ tail) &* prime
        state ^= UInt64(bytes.count)
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        return state ^ (state >> 31)
    }
}
