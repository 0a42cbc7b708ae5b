/// The arena's size classes for small blobs: multiples of 4 bytes (AArch64 instruction
/// alignment) from 16 to 4,096 bytes, each at most 25% larger than the one before
/// (16, 20, 24, 28, 32, 40, 48, 56, 64, 80, …, 3584, 4096). Larger blobs are page-granular.
enum SizeClasses {
    static let smallest = 16
    static let largest = 4_096

    static let sizes: [Int] = {
        var sizes: [Int] = []
        var step = 4
        var size = smallest
        while size <= largest {
            sizes.append(size)
            // Four classes per doubling keeps neighbours within 25%.
            if size >= step * 8 { step *= 2 }
            size += step
        }
        return sizes
    }()

    /// The class serving blobs of `size` bytes (1...largest): a table lookup by 4-byte step
    /// (every class size is a multiple of 4), not a search — it runs once per committed blob.
    static func index(for size: Int) -> Int {
        precondition(size >= 1 && size <= largest)
        return Int(indexByQuarter[(size + 3) >> 2])
    }

    /// The class index of every size in steps of 4 bytes: `indexByQuarter[(size + 3) >> 2]`.
    /// Batch loops copy it to a local first (each access to the static checks its initialization).
    static let indexByQuarter: [UInt8] = (0...(largest / 4)).map { quarter in
        UInt8(sizes.firstIndex { $0 >= max(1, quarter * 4) }!)
    }
}
