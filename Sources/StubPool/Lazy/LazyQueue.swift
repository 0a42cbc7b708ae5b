#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One stub of a batch: its handle and where its request lives (block and position in it).
@usableFromInline
struct LazyMember: Sendable {
    @usableFromInline let stub: Stub
    @usableFromInline let block: UInt32
    @usableFromInline let position: UInt32
}

/// The bookkeeping of one pool's lazy stubs, free of the runtime's spec type so that it runs as
/// specialized code whatever `Spec` is (the specs live beside it, one array per block).
///
/// Each `request` is one block: its stub range, one status byte per stub, a cursor. Nothing is
/// stored per stub beyond that byte: a pending stub's data slot holds its own lazy entry as target
/// and a ticket (block << 32 | position) as context, so a call finds its request in O(1) through
/// the slot it was called through. A request costs O(1) heap allocations, a batch O(1) more.
/// All methods run under the batcher's lock.
struct LazyQueue {
    enum Status: UInt8 { case pending, running, settled }

    struct Block {
        let stubs: StubRange
        var status: [Status]
        /// Stubs not yet settled (materialized, retargeted or released).
        var remaining: Int
        /// Positions below it were handed to a batch or settled: batches scan from it.
        var cursor = 0
        let serial: UInt64
    }

    private(set) var blocks: [Block?] = []
    private var freeBlocks: [Int] = []
    /// Blocks with stubs not yet handed to a batch, in request order (entries whose serial no
    /// longer matches are stale).
    private var order: [(block: Int, serial: UInt64)] = []
    private var orderHead = 0
    /// Members of failed batches: first in line for the next batch.
    private var retry: [LazyMember] = []
    /// Blocks that became settled while a batch ran: freed when it ends (its members name them).
    private var settledDuringBatch: [Int] = []
    private var nextSerial: UInt64 = 0
    /// The batch whose generator is running.
    private(set) var running: [LazyMember] = []
    private(set) var runningThread: pthread_t?
    /// Counts finished batches; waiters watch it change.
    private(set) var generation: UInt64 = 0
    private(set) var pendingCount = 0
    var statistics = LazyStatistics()

    /// Records `stubs` as one block and publishes each stub's data slot as pending (target: its
    /// lazy entry, context: its ticket). Returns the block's index (the specs' index too).
    mutating func add(_ stubs: StubRange, layout: PoolLayout) -> Int {
        let block = freeBlocks.popLast() ?? { blocks.append(nil); return blocks.count - 1 }()
        nextSerial &+= 1
        blocks[block] = Block(stubs: stubs, status: Array(repeating: .pending, count: stubs.count),
                              remaining: stubs.count, serial: nextSerial)
        order.append((block, nextSerial))
        pendingCount += stubs.count
        let lazyOffset = UInt(layout.lazyEntryOffset!)
        let ticketBase = UInt(block) << 32
        layout.forEachDataSlot(of: stubs) { index, entry, data in
            data.publish(target: entry &+ lazyOffset, context: ticketBase | UInt(index))
        }
        return block
    }

    /// The pending or running member whose stub's entry is `entry` and whose data slot holds
    /// `target` and `context`; nil once it settled.
    func member(entry: UInt, target: UInt, context: UInt, layout: PoolLayout) -> LazyMember? {
        guard let lazyEntry = layout.lazyEntry(of: entry), target == lazyEntry else { return nil }
        let block = Int(context >> 32), position = Int(context & 0xffff_ffff)
        guard block < blocks.count, let found = blocks[block], position < found.stubs.count,
              found.status[position] != .settled else { return nil }
        let stub = found.stubs[position]
        guard stub.address == entry else { return nil }
        return LazyMember(stub: stub, block: UInt32(block), position: UInt32(position))
    }

    func status(of member: LazyMember) -> Status { blocks[Int(member.block)]!.status[Int(member.position)] }

    /// Whether a member put back by a failed batch is still pending: its block may have settled
    /// meanwhile and its index been reused.
    private func stillPending(_ member: LazyMember) -> Bool {
        let position = Int(member.position)
        guard let block = blocks[Int(member.block)], position < block.stubs.count else { return false }
        return block.status[position] == .pending && block.stubs[position].address == member.stub.address
    }

    /// Whether a batch runs, and whether on the calling thread.
    var batchRunning: Bool { runningThread != nil }
    var batchRunningOnThisThread: Bool { runningThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }

    /// Starts a batch of at most `limit` pending stubs, `first` (if pending) at its head, then
    /// failed batches' stubs, then requests in order.
    mutating func startBatch(first: LazyMember?, limit: Int) -> [LazyMember] {
        precondition(running.isEmpty && runningThread == nil, "one batch at a time")
        running.reserveCapacity(min(limit, pendingCount))
        if let first, status(of: first) == .pending { take(first) }
        var retried = 0
        while running.count < limit, retried < retry.count {
            let member = retry[retried]
            retried += 1
            if stillPending(member) { take(member) }
        }
        retry.removeFirst(retried)
        while running.count < limit, orderHead < order.count {
            let (index, serial) = order[orderHead]
            guard blocks[index]?.serial == serial else { orderHead += 1; continue }
            var block = blocks[index]!
            blocks[index] = nil  // uniquely referenced while its status bytes change
            while running.count < limit, block.cursor < block.stubs.count {
                let position = block.cursor
                block.cursor += 1
                if block.status[position] == .pending {
                    block.status[position] = .running
                    running.append(LazyMember(stub: block.stubs[position], block: UInt32(index), position: UInt32(position)))
                }
            }
            let exhausted = block.cursor == block.stubs.count
            blocks[index] = block
            if exhausted { orderHead += 1 }
        }
        if orderHead == order.count || orderHead >= 4_096 {
            order.removeFirst(orderHead)
            orderHead = 0
        }
        pendingCount -= running.count
        runningThread = pthread_self()
        return running
    }

    private mutating func take(_ member: LazyMember) {
        blocks[Int(member.block)]!.status[Int(member.position)] = .running
        running.append(member)
    }

    /// Ends the running batch. On success publishes `results[i]` into every member still running
    /// (not settled meanwhile by a retarget or release), and returns the blocks now free (their
    /// specs can go); on failure puts the members back first in line.
    mutating func finishBatch(results: [LazyResolution]?, generatorNanoseconds: UInt64, layout: PoolLayout) -> [Int] {
        defer {
            running.removeAll(keepingCapacity: running.capacity <= 4_096)
            runningThread = nil
            generation &+= 1
            statistics.generatorNanoseconds += generatorNanoseconds
        }
        var freed: [Int] = []
        if let results {
            for (member, result) in zip(running, results) where status(of: member) == .running {
                // Published under the batcher's lock, so a concurrent retarget or release wins.
                DataSlot(address: layout.dataSlot(of: member.stub)).publish(target: result.target, context: result.context)
                if settle(member) { freed.append(Int(member.block)) }
            }
            statistics.batches += 1
            statistics.materialized += running.count
            statistics.largestBatch = max(statistics.largestBatch, running.count)
        } else {
            putBackRunning()
            statistics.failedBatches += 1
        }
        // Blocks whose last stubs were retargeted or released while the batch ran (all their
        // members settled then, so none is among those settled above).
        freed += settledDuringBatch
        settledDuringBatch.removeAll()
        for block in freed { freeBlock(block) }
        return freed
    }

    /// Makes the running batch's unsettled members pending again, first in line.
    private mutating func putBackRunning() {
        let back = running.filter { status(of: $0) == .running }
        for member in back { blocks[Int(member.block)]!.status[Int(member.position)] = .pending }
        retry.insert(contentsOf: back, at: 0)
        pendingCount += back.count
    }

    /// In a forked child: a batch whose generator was running on another thread (a thread the
    /// child does not have) will never finish there; its members go back to pending, for the
    /// child to generate when it calls them. Returns the blocks that became free.
    mutating func abandonBatchOfVanishedThread() -> [Int] {
        guard let thread = runningThread, pthread_equal(thread, pthread_self()) == 0 else { return [] }
        putBackRunning()
        running.removeAll()
        runningThread = nil
        generation &+= 1
        let freed = settledDuringBatch
        settledDuringBatch.removeAll()
        for block in freed { freeBlock(block) }
        return freed
    }

    /// Marks `member` settled; true if that settled its whole block.
    private mutating func settle(_ member: LazyMember) -> Bool {
        let index = Int(member.block)
        blocks[index]!.status[Int(member.position)] = .settled
        blocks[index]!.remaining -= 1
        return blocks[index]!.remaining == 0
    }

    /// Drops the stub at `entry` (retargeted or released by its owner) if it is pending or
    /// running (a running one is skipped when its batch publishes). Returns the block freed by
    /// it, if any.
    mutating func forget(entry: UInt, data: DataSlot, layout: PoolLayout) -> Int? {
        guard let member = member(entry: entry, target: data.target, context: data.context, layout: layout) else { return nil }
        if status(of: member) == .pending { pendingCount -= 1 }
        guard settle(member) else { return nil }
        if batchRunning {
            settledDuringBatch.append(Int(member.block))  // the running batch may name it
            return nil
        }
        freeBlock(Int(member.block))
        return Int(member.block)
    }

    private mutating func freeBlock(_ index: Int) {
        blocks[index] = nil
        freeBlocks.append(index)
    }
}
