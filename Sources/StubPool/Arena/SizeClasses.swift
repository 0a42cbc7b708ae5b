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

    /// The class serving blobs of `size` bytes (1...largest).
    static func index(for size: Int) -> Int {
        var low = 0, high = sizes.count - 1
        while low < high {
            let middle = (low + high) / 2
            if sizes[middle] >= size { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
