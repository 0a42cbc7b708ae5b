/// The image checksum: FNV-1a over 64-bit little-endian words in four interleaved lanes (word i
/// goes to lane i mod 4, whole groups of four; the lanes are then folded in order, followed by the
/// leftover words and the zero-padded tail), then the length folded in and mixed (the finalizer
/// of SplitMix64). About a byte per cycle's multiply latency ×4: validating a multi-megabyte
/// image costs well under a millisecond.
enum ImageChecksum {
    static let initialState: UInt64 = 0xCBF2_9CE4_8422_2325

    static func hash(_ bytes: [UInt8], seed: UInt64 = initialState) -> UInt64 {
        bytes.withUnsafeBytes { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// `seed` chains hashes: the hash of a second buffer seeded with the first's.
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = initialState) -> UInt64 {
        let prime: UInt64 = 0x0000_0100_0000_01B3
        // Four lanes over interleaved words, so that the multiplies do not wait on each other.
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (seed, seed ^ 1, seed ^ 2, seed ^ 3)
        let words = bytes.count / 8
        var index = 0
        while index + 4 <= words {
            let base = index * 8
            lanes.0 = (lanes.0 ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base, as: UInt64.self))) &* prime
            lanes.1 = (lanes.1 ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self))) &* prime
            lanes.2 = (lanes.2 ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self))) &* prime
            lanes.3 = (lanes.3 ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 24, as: UInt64.self))) &* prime
            index += 4
        }
        var state = lanes.0
        for lane in [lanes.1, lanes.2, lanes.3] { state = (state ^ lane) &* prime }
        while index < words {
            state = (state ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))) &* prime
            index += 1
        }
        var tail: UInt64 = 0
        for position in (words * 8)..<bytes.count { tail |= UInt64(bytes[position]) << (8 * UInt64(position - words * 8)) }
        state = (state ^ tail) &* prime
        state ^= UInt64(bytes.count)
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        return state ^ (state >> 31)
    }
}
