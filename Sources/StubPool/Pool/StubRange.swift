/// Stubs allocated together, as a few runs of evenly spaced slots: indexable and iterable as
/// ``Stub`` values without storing one handle per stub (a million fresh packed stubs are about 60
/// runs, one per chunk).
///
/// Pass it whole to ``StubPool/retarget(_:to:context:)-(StubRange,_,_)`` and
/// ``StubPool/release(_:)-(StubRange)`` to act on every stub at once.
public struct StubRange: RandomAccessCollection, Sendable, Hashable {
    /// `count` stubs from entry `first`, `stride` bytes apart, all in one chunk.
    public struct Run: Sendable, Hashable {
        public let first: UInt
        public let count: Int
        /// Index of the run's first stub in the range.
        let offset: Int
    }

    /// The runs, in index order.
    public let runs: [Run]
    /// Bytes between consecutive entries of a run.
    public let stride: UInt
    public let endIndex: Int
    public var startIndex: Int { 0 }

    init(runs: [Run], stride: UInt) {
        self.runs = runs
        self.stride = stride
        self.endIndex = runs.last.map { $0.offset + $0.count } ?? 0
    }

    public subscript(position: Int) -> Stub {
        precondition(position >= 0 && position < endIndex, "index \(position) out of range 0..<\(endIndex)")
        let run = runs[run(containing: position)]
        return Stub(address: run.first + UInt(position - run.offset) * stride)
    }

    /// Index of the run holding stub `position` (a binary search over the runs).
    private func run(containing position: Int) -> Int {
        var low = 0, high = runs.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if runs[middle].offset <= position { low = middle } else { high = middle - 1 }
        }
        return low
    }

    public struct Iterator: IteratorProtocol {
        let range: StubRange
        var run = 0
        var position = 0

        public mutating func next() -> Stub? {
            while run < range.runs.count {
                let current = range.runs[run]
                if position < current.count {
                    defer { position += 1 }
                    return Stub(address: current.first + UInt(position) * range.stride)
                }
                run += 1
                position = 0
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(range: self) }

    /// Builds runs from entries handed over in order.
    struct Builder {
        let stride: UInt
        private(set) var runs: [Run] = []
        private var first: UInt = 0
        private var count = 0
        private var offset = 0

        init(stride: UInt) { self.stride = stride }

        @inline(__always)
        mutating func append(_ entry: UInt) {
            if count > 0 && entry == first &+ UInt(count) &* stride {
                count += 1
                return
            }
            close()
            first = entry
            count = 1
        }

        private mutating func close() {
            guard count > 0 else { return }
            runs.append(Run(first: first, count: count, offset: offset))
            offset += count
            count = 0
        }

        mutating func finish() -> StubRange {
            close()
            return StubRange(runs: runs, stride: stride)
        }
    }
}
