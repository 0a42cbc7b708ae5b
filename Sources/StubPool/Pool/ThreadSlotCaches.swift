import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The calling thread's slot caches, one per pool it has used, found from a thread-local pointer
/// (initial-exec TLS in the C shim) without a lock, a hash or a reference count.
///
/// The table is a small array of (pool token, cache) pairs, most recently used first; tokens are
/// never reused, so an entry of a destroyed pool never matches again and is pruned on the next
/// slow path. When the thread exits, a `pthread` key destructor retires every cache: free slots go
/// back to their shards, queued releases to their pools' quarantines.
@usableFromInline
enum ThreadSlotCaches {
    @usableFromInline
    struct Entry {
        @usableFromInline var token: UInt32
        @usableFromInline var cache: Unmanaged<SlotCache>

        init(token: UInt32, cache: Unmanaged<SlotCache>) {
            self.token = token
            self.cache = cache
        }
    }

    @usableFromInline
    struct Table {
        @usableFromInline var count: Int
        var capacity: Int
        @usableFromInline var entries: UnsafeMutablePointer<Entry>
    }

    /// Runs `body` on this thread's cache for the pool with `token`, if it has one.
    @inlinable @inline(__always)
    static func withCache<Result>(token: UInt32, _ body: (SlotCache) -> Result) -> Result? {
        guard let raw = stubpool_thread_caches_get() else { return nil }
        let table = raw.assumingMemoryBound(to: Table.self)
        let first = table.pointee.entries
        if first.pointee.token == token { return first.pointee.cache._withUnsafeGuaranteedRef(body) }
        guard let cache = promote(token: token, in: table) else { return nil }
        return cache._withUnsafeGuaranteedRef(body)
    }

    /// Moves the entry for `token` to the front; nil if there is none.
    @usableFromInline @inline(never)
    static func promote(token: UInt32, in table: UnsafeMutablePointer<Table>) -> Unmanaged<SlotCache>? {
        let entries = table.pointee.entries
        for index in 1..<max(1, table.pointee.count) where entries[index].token == token {
            swap(entries, 0, index)
            return entries[0].cache
        }
        return nil
    }

    /// Installs `cache` as this thread's cache for its pool (the thread has none yet), pruning
    /// caches of destroyed pools.
    static func install(_ cache: SlotCache) {
        let table: UnsafeMutablePointer<Table>
        if let raw = stubpool_thread_caches_get() {
            table = raw.assumingMemoryBound(to: Table.self)
        } else {
            table = .allocate(capacity: 1)
            table.initialize(to: Table(count: 0, capacity: 4, entries: .allocate(capacity: 4)))
            stubpool_thread_caches_set(table)
            pthread_setspecific(exitKey, table)
        }
        prune(table)
        if table.pointee.count == table.pointee.capacity {
            let capacity = table.pointee.capacity * 2
            let entries = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
            entries.moveInitialize(from: table.pointee.entries, count: table.pointee.count)
            table.pointee.entries.deallocate()
            table.pointee.entries = entries
            table.pointee.capacity = capacity
        }
        let entries = table.pointee.entries
        (entries + table.pointee.count).initialize(to: Entry(token: cache.token, cache: .passRetained(cache)))
        swap(entries, 0, table.pointee.count)
        table.pointee.count += 1
    }

    /// Drops the entries whose pool is gone.
    private static func prune(_ table: UnsafeMutablePointer<Table>) {
        var kept = 0
        let entries = table.pointee.entries
        for index in 0..<table.pointee.count {
            if entries[index].cache._withUnsafeGuaranteedRef({ $0.shared.isAlive }) {
                swap(entries, kept, index)
                kept += 1
            } else {
                entries[index].cache.release()
            }
        }
        table.pointee.count = kept
    }

    private static func swap(_ entries: UnsafeMutablePointer<Entry>, _ a: Int, _ b: Int) {
        let saved = entries[a]
        entries[a] = entries[b]
        entries[b] = saved
    }

    /// The key whose destructor retires a thread's caches when it exits.
    private static let exitKey: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            guard let raw else { return }
            ThreadSlotCaches.threadExited(raw.assumingMemoryBound(to: Table.self))
        }
        precondition(status == 0, "stubpool: pthread_key_create failed (\(status))")
        return key
    }()

    private static func threadExited(_ table: UnsafeMutablePointer<Table>) {
        stubpool_thread_caches_set(nil)
        for index in 0..<table.pointee.count {
            let cache = table.pointee.entries[index].cache
            cache._withUnsafeGuaranteedRef { $0.shared.retire($0) }
            cache.release()
        }
        table.pointee.entries.deallocate()
        table.deallocate()
    }
}
