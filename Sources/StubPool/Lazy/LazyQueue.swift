#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The bookkeeping of one pool's lazy stubs, free of the runtime's spec type so that it runs as
/// specialized code whatever `Spec` is (the specs live beside it, indexed by entry).
struct LazyQueue {
    enum Status: UInt8 { case pending, running, free }

    struct Entry {
        var stub: Stub
        var lazyEntry: UInt
        var status: Status
    }

    /// Entries by index; freed indices are reused.
    private(set) var entries: [Entry] = []
    private var freeIndices: [Int] = []
    /// Pending or running entries by stub address.
    private var byAddress: [UInt: Int] = [:]
    /// Pending entries in request order (may hold stale indices, skipped when batching).
    private var order: [Int] = []
    private var orderHead = 0
    /// The batch whose generator is running.
    private(set) var running: [Int] = []
    private(set) var runningThread: pthread_t?
    /// Counts finished batches; waiters watch it change.
    private(set) var generation: UInt64 = 0
    var statistics = LazyStatistics()

    var pendingCount: Int { byAddress.count }

    /// Records pending stubs; returns their entry indices.
    mutating func enqueue(_ stubs: StubRange, lazyEntries: [UInt]) -> [Int] {
        var indices: [Int] = []
        indices.reserveCapacity(stubs.count)
        for (stub, lazyEntry) in zip(stubs, lazyEntries) {
            let entry = Entry(stub: stub, lazyEntry: lazyEntry, status: .pending)
            let index: Int
            if let reused = freeIndices.popLast() {
                entries[reused] = entry
                index = reused
            } else {
                entries.append(entry)
                index = entries.count - 1
            }
            byAddress[stub.address] = index
            order.append(index)
            indices.append(index)
        }
        return indices
    }

    /// The entry of the pending or running stub at `address`.
    func index(ofStubAt address: UInt) -> Int? { byAddress[address] }

    /// Whether a batch runs, and whether on the calling thread.
    var batchRunning: Bool { runningThread != nil }
    var batchRunningOnThisThread: Bool { runningThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    /// Starts a batch of at most `limit` pending entries, `first` (if pending) at its head.
    mutating func startBatch(first: Int?, limit: Int) -> [Int] {
        precondition(running.isEmpty && runningThread == nil, "one batch at a time")
        if let first, entries[first].status == .pending {
            entries[first].status = .running
            running.append(first)
        }
        while running.count < limit, orderHead < order.count {
            let index = order[orderHead]
            orderHead += 1
            if entries[index].status == .pending {
                entries[index].status = .running
                running.append(index)
            }
        }
        if orderHead == order.count || orderHead >= 4_096 {
            order.removeFirst(orderHead)
            orderHead = 0
        }
        runningThread = pthread_self()
        return running
    }

    /// Ends the running batch. On success returns the positions (in the batch) of the entries
    /// still running — not forgotten meanwhile — which are now freed; on failure puts them back
    /// first in line and returns nothing.
    mutating func finishBatch(succeeded: Bool, generatorNanoseconds: UInt64) -> [Int] {
        defer {
            running.removeAll(keepingCapacity: true)
            runningThread = nil
            generation &+= 1
            statistics.generatorNanoseconds += generatorNanoseconds
        }
        let batchSize = running.count
        let kept = running.indices.filter { entries[running[$0]].status == .running }
        if succeeded {
            for position in kept { free(running[position]) }
            statistics.batches += 1
            statistics.materialized += batchSize
            statistics.largestBatch = max(statistics.largestBatch, batchSize)
            return kept
        }
        for position in kept { entries[running[position]].status = .pending }
        order.insert(contentsOf: kept.map { running[$0] }, at: orderHead)
        statistics.failedBatches += 1
        return []
    }

    /// Drops the stub at `address` (retargeted or released by its owner); returns its entry if it
    /// was pending (a running one is dropped when its batch ends).
    mutating func forget(stubAt address: UInt) -> Int? {
        guard let index = byAddress[address] else { return nil }
        switch entries[index].status {
        case .pending:
            free(index)
            return index
        case .running:
            entries[index].status = .free  // skipped when the batch publishes
            byAddress.removeValue(forKey: address)
            freeIndices.append(index)
            return nil
        case .free:
            return nil
        }
    }

    private mutating func free(_ index: Int) {
        byAddress.removeValue(forKey: entries[index].stub.address)
        entries[index].status = .free
        freeIndices.append(index)
    }
}
