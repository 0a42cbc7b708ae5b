/// Stubs allocated together, as a few runs of evenly spaced slots: indexable and iterable as
/// ``Stub`` values without storing one handle per stub (a million fresh packed stubs are about 60
/// runs, one per chunk).
///
/// Pass it whole to ``StubPool/retarget(_:to:context:)-(StubRange,_,_)`` and
/// ``StubPool/release(_:)-(StubRange)`` to act on every stub at once.
public struct StubRange: RandomAccessCollection, Sendable, Hashable {
    /// `count` stubs from entry `first`, `stride` bytes apart, all in one chunk.
    public struct Run: Sendable, Hashable {
        /// The entry address of the run's first stub.
        public let first: UInt
        /// Stubs in the run.
        public let count: Int
        /// Physical slot of the first stub in its chunk.
        @usableFromInline let firstSlot: UInt32
        /// Index of the run's first stub in the range.
        @usableFromInline let offset: Int
    }

    /// The runs, in index order.
    public let runs: [Run]
    /// Bytes between consecutive entries of a run.
    public let stride: UInt
    /// Physical slots between consecutive stubs of a run.
    @usableFromInline let slotStride: UInt32
    @usableFromInline let poolToken: UInt32
    /// The number of stubs in the range.
    public let endIndex: Int
    /// Always 0.
    public var startIndex: Int { 0 }

    init(runs: [Run], stride: UInt, slotStride: UInt32, poolToken: UInt32) {
        self.runs = runs
        self.stride = stride
        self.slotStride = slotStride
        self.poolToken = poolToken
        self.endIndex = runs.last.map { $0.offset + $0.count } ?? 0
    }

    /// Stub `position` of `run`.
    @inlinable @inline(__always)
    func stub(_ position: Int, of run: Run) -> Stub {
        Stub(address: run.first + UInt(position) * stride, poolToken: poolToken,
             slot: run.firstSlot &+ UInt32(truncatingIfNeeded: position) &* slotStride)
    }

    /// Stub `position` of the range: O(log runs), a binary search over the runs. Iterate (or use
    /// ``StubPool/retarget(_:to:context:)-(StubRange,_,_)``) to visit every stub in O(1) each.
    public subscript(position: Int) -> Stub {
        precondition(position >= 0 && position < endIndex, "index \(position) out of range 0..<\(endIndex)")
        let run = runs[run(containing: position)]
        return stub(position - run.offset, of: run)
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

    // @inlinable: iterating a range across modules was a call per stub (visible in the retarget
    // loop of the headline benchmark); inlined it is an add and a compare. The iterator keeps the
    // current run's next address, slot and remaining count, so a stub costs two adds and a
    // decrement, not a bounds-checked load of its run (retarget over a range: 2.85 → ≈2.2 ns).
    /// Visits the range's stubs in index order, O(1) per stub.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let range: StubRange
        @usableFromInline var nextRun = 0
        @usableFromInline var address: UInt = 0
        @usableFromInline var slot: UInt32 = 0
        @usableFromInline var remaining = 0

        @inlinable init(range: StubRange) { self.range = range }

        /// The next stub, or `nil` after the last.
        @inlinable
        public mutating func next() -> Stub? {
            while remaining == 0 {
                guard nextRun < range.runs.count else { return nil }
                let run = range.runs[nextRun]
                nextRun += 1
                address = run.first
                slot = run.firstSlot
                remaining = run.count
            }
            let stub = Stub(address: address, poolToken: range.poolToken, slot: slot)
            address &+= range.stride
            slot &+= range.slotStride
            remaining -= 1
            return stub
        }
    }

    /// An iterator over every stub of the range.
    @inlinable
    public func makeIterator() -> Iterator { Iterator(range: self) }

    /// Builds runs from stubs handed over in order.
    struct Builder {
        let stride: UInt
        let slotStride: UInt32
        let poolToken: UInt32
        private(set) var runs: [Run] = []
        private var first: UInt = 0
        private var firstSlot: UInt32 = 0
        private var count = 0
        private var offset = 0

        init(stride: UInt, slotStride: UInt32, poolToken: UInt32) {
            self.stride = stride
            self.slotStride = slotStride
            self.poolToken = poolToken
        }

        @inline(__always)
        mutating func append(_ stub: Stub) {
            if count > 0 && stub.address == first &+ UInt(count) &* stride {
                count += 1
                return
            }
            close()
            first = stub.address
            firstSlot = stub.slot
            count = 1
        }

        /// Appends `count` stubs of one chunk from `stub` on, each `stride` after the previous.
        @inline(__always)
        mutating func append(_ stub: Stub, count added: Int) {
            if count > 0 && stub.address == first &+ UInt(count) &* stride {
                count += added
                return
            }
            close()
            first = stub.address
            firstSlot = stub.slot
            count = added
        }

        private mutating func close() {
            guard count > 0 else { return }
            runs.append(Run(first: first, count: count, firstSlot: firstSlot, offset: offset))
            offset += count
            count = 0
        }

        mutating func finish() -> StubRange {
            close()
            return StubRange(runs: runs, stride: stride, slotStride: slotStride, poolToken: poolToken)
        }
    }
}
