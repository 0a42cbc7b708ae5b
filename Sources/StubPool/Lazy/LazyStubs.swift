import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Lazy stubs of one pool: each ``request(_:)`` returns a callable stub at once; the first call of
/// any pending stub runs the generator once on all pending requests (up to the batch limit),
/// publishes every result, and continues the call with every argument intact.
///
/// Create it with ``StubPool/lazyStubs(of:batchLimit:generator:onFailure:)`` on a pool configured
/// with `kind: .context, lazyBatches: true`.
public struct LazyStubs<Spec: Sendable>: Sendable {
    /// The pool the stubs live in.
    public let pool: StubPool
    let batcher: LazyBatcher<Spec>

    /// A stub that materializes on its first call (or at ``materializeAll()``).
    public func request(_ spec: Spec) throws(StubPoolError) -> Stub {
        try request([spec])[0]
    }

    /// Stubs for every spec, all or nothing.
    public func request(_ specs: [Spec]) throws(StubPoolError) -> [Stub] {
        guard !specs.isEmpty else { throw .invalidCount(0) }
        let placeholder = UnsafeRawPointer(bitPattern: pool.layout.anchorLazy)!
        let stubs = try pool.allocate(count: specs.count, target: placeholder)
        batcher.enqueue(zip(stubs, specs).map { LazyRequest(stub: $0, spec: $1) }, layout: pool.layout)
        return stubs
    }

    /// Runs the generator on every pending request now, in batches of at most the batch limit.
    /// Returns how many stubs were materialized. Throws the generator's error (or a
    /// ``LazyBatchError``); the requests of the failed batch stay pending.
    @discardableResult
    public func materializeAll() throws -> Int { try batcher.materializeAll() }

    public func statistics() -> LazyStatistics { batcher.statistics() }
}

extension StubPool {
    /// Attaches lazy batches to this pool (once per pool).
    ///
    /// - Parameters:
    ///   - batchLimit: most requests one generator call receives.
    ///   - generator: receives pending requests and returns one resolution per request, in order.
    ///     It runs on the thread of the first call (or of ``LazyStubs/materializeAll()``) with no
    ///     pool lock held; it may request more lazy stubs (they join the next batch).
    ///   - onFailure: where a call goes when its batch fails (the generator threw or returned the
    ///     wrong number of results); the stubs stay pending and a later call retries. The default
    ///     prints the stub and the error and aborts.
    public func lazyStubs<Spec: Sendable>(
        of spec: Spec.Type = Spec.self,
        batchLimit: Int = 65_536,
        generator: @escaping @Sendable ([LazyRequest<Spec>]) throws -> [LazyResolution],
        onFailure: @escaping @Sendable (LazyFailure) -> LazyResolution = LazyFailureHandlers.abort
    ) throws(StubPoolError) -> LazyStubs<Spec> {
        guard configuration.lazyBatches else {
            throw .invalidConfiguration("lazy stubs need a pool configured with lazyBatches: true")
        }
        guard batchLimit >= 1 else { throw .invalidConfiguration("batch limit must be at least 1, not \(batchLimit)") }
        let batcher = LazyBatcher<Spec>(batchLimit: batchLimit, generator: generator, onFailure: onFailure)
        guard LazyDispatch.register(batcher, token: layout.token) else {
            throw .invalidConfiguration("this pool already has lazy stubs attached")
        }
        return LazyStubs(pool: self, batcher: batcher)
    }
}

/// Ready-made failure handlers.
public enum LazyFailureHandlers {
    /// Prints the stub and the error to stderr and aborts.
    @Sendable public static func abort(_ failure: LazyFailure) -> LazyResolution {
        var text = "stubpool: \(failure)\n"
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
        Glibc.abort()
    }
}

/// The batching state of one pool's lazy stubs.
final class LazyBatcher<Spec: Sendable>: LazyController {
    struct Pending {
        var request: LazyRequest<Spec>
        var lazyEntry: UInt
    }

    struct State {
        /// Waiting for a batch, by stub address.
        var pending: [UInt: Pending] = [:]
        /// Request order (may hold addresses no longer pending; skipped when batching).
        var order: [UInt] = []
        var orderHead = 0
        /// The batch whose generator is running, by stub address.
        var running: [UInt: Pending] = [:]
        var runningThread: pthread_t?
        /// Counts finished batches; waiters watch it change.
        var generation: UInt64 = 0
        var statistics = LazyStatistics()
    }

    let batchLimit: Int
    let generator: @Sendable ([LazyRequest<Spec>]) throws -> [LazyResolution]
    let onFailure: @Sendable (LazyFailure) -> LazyResolution
    private let state = Locked(State())

    init(batchLimit: Int, generator: @escaping @Sendable ([LazyRequest<Spec>]) throws -> [LazyResolution],
         onFailure: @escaping @Sendable (LazyFailure) -> LazyResolution) {
        self.batchLimit = batchLimit
        self.generator = generator
        self.onFailure = onFailure
    }

    /// Publishes each request's data slot as pending (target: its own lazy entry), then records it.
    func enqueue(_ requests: [LazyRequest<Spec>], layout: PoolLayout) {
        let pending = requests.map { request in
            let entry = layout.lazyEntry(of: request.stub.address)!
            DataSlot(address: request.stub.dataSlot).publish(target: entry, context: 0)
            return Pending(request: request, lazyEntry: entry)
        }
        state.withLock { state in
            for item in pending {
                state.pending[item.request.stub.address] = item
                state.order.append(item.request.stub.address)
            }
        }
    }

    func forget(_ stub: Stub) {
        state.withLock { state in
            state.pending.removeValue(forKey: stub.address)
            state.running.removeValue(forKey: stub.address)
        }
    }

    func statistics() -> LazyStatistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.pending = state.pending.count + state.running.count
            return statistics
        }
    }

    private enum Step {
        case done(stubpool_lazy_continuation_t)
        case wait(generation: UInt64)
        case run([Pending])
        case fail(LazyFailure)
    }

    /// Takes the next batch (with `first` at its head, if given); called with the state locked.
    private func takeBatch(_ state: inout State, first: UInt?) -> [Pending] {
        var batch: [Pending] = []
        if let first, let item = state.pending.removeValue(forKey: first) { batch.append(item) }
        while batch.count < batchLimit, state.orderHead < state.order.count {
            let address = state.order[state.orderHead]
            state.orderHead += 1
            if let item = state.pending.removeValue(forKey: address) { batch.append(item) }
        }
        if state.orderHead == state.order.count || state.orderHead > 4096 {
            state.order.removeFirst(state.orderHead)
            state.orderHead = 0
        }
        for item in batch { state.running[item.request.stub.address] = item }
        state.runningThread = pthread_self()
        return batch
    }

    /// Runs the generator on `batch` and publishes the results; on failure returns the batch to
    /// the pending set. Returns the results, or the error.
    private func run(_ batch: [Pending]) -> Result<[LazyResolution], any Error> {
        let start = ContinuousClock.now
        let outcome = Result { try generator(batch.map(\.request)) }
        let elapsed = start.duration(to: .now)
        let nanoseconds = UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
        return state.withLock { state in
            defer {
                state.running.removeAll(keepingCapacity: true)
                state.runningThread = nil
                state.generation &+= 1
                state.statistics.generatorNanoseconds += nanoseconds
            }
            switch outcome {
            case .success(let results) where results.count == batch.count:
                for (item, result) in zip(batch, results) where state.running[item.request.stub.address] != nil {
                    DataSlot(address: item.request.stub.dataSlot).publish(target: result.target, context: result.context)
                }
                state.statistics.batches += 1
                state.statistics.materialized += batch.count
                state.statistics.largestBatch = max(state.statistics.largestBatch, batch.count)
                return .success(results)
            case .success(let results):
                restore(batch, into: &state)
                return .failure(LazyBatchError.wrongResultCount(expected: batch.count, got: results.count))
            case .failure(let error):
                restore(batch, into: &state)
                return .failure(error)
            }
        }
    }

    /// Puts a failed batch back, first in line, except stubs forgotten meanwhile.
    private func restore(_ batch: [Pending], into state: inout State) {
        let kept = batch.filter { state.running[$0.request.stub.address] != nil }
        for item in kept { state.pending[item.request.stub.address] = item }
        state.order.insert(contentsOf: kept.map(\.request.stub.address), at: state.orderHead)
        state.statistics.failedBatches += 1
    }

    func resolve(entry: UInt) -> stubpool_lazy_continuation_t {
        while true {
            let step: Step = state.withLock { state in
                if state.pending[entry] == nil && state.running[entry] == nil {
                    // Materialized by another batch (or retargeted) after this call loaded its target.
                    let slot = DataSlot(address: dataSlot(ofEntry: entry, state: state))
                    let target = slot.target
                    return .done(stubpool_lazy_continuation_t(target: target, context: slot.context))
                }
                if let thread = state.runningThread {
                    if pthread_equal(thread, pthread_self()) != 0 {
                        let stub = (state.pending[entry] ?? state.running[entry])!.request.stub
                        return .fail(LazyFailure(stub: stub, error: LazyBatchError.calledFromGenerator))
                    }
                    return .wait(generation: state.generation)
                }
                return .run(takeBatch(&state, first: entry))
            }
            switch step {
            case .done(let continuation):
                return continuation
            case .fail(let failure):
                return continuation(onFailure(failure))
            case .wait(let generation):
                while state.withLock({ $0.generation }) == generation { stubpool_yield() }
            case .run(let batch):
                switch run(batch) {
                case .success(let results):
                    return continuation(results[0])
                case .failure(let error):
                    return continuation(onFailure(LazyFailure(stub: batch[0].request.stub, error: error)))
                }
            }
        }
    }

    /// The data slot of the stub at `entry`: every stub this batcher has seen is recorded with
    /// its handle, but a materialized one no longer is, so the address comes from the registry.
    private func dataSlot(ofEntry entry: UInt, state: borrowing State) -> UInt {
        let chunk = ChunkRegistry.chunk(containing: entry)!
        let physical = Int(entry - chunk.base) / chunk.layout.geometry.slotSize
        return chunk.base + UInt(chunk.layout.geometry.dataOffset(ofSlot: physical))
    }

    private func continuation(_ resolution: LazyResolution) -> stubpool_lazy_continuation_t {
        stubpool_lazy_continuation_t(target: resolution.target, context: resolution.context)
    }

    func materializeAll() throws -> Int {
        var materialized = 0
        while true {
            let step: Step = state.withLock { state in
                if let thread = state.runningThread {
                    if pthread_equal(thread, pthread_self()) != 0 {
                        return .fail(LazyFailure(stub: state.running.values.first!.request.stub, error: LazyBatchError.calledFromGenerator))
                    }
                    return .wait(generation: state.generation)
                }
                if state.pending.isEmpty { return .done(stubpool_lazy_continuation_t()) }
                return .run(takeBatch(&state, first: nil))
            }
            switch step {
            case .done: return materialized
            case .fail(let failure): throw failure.error
            case .wait(let generation):
                while state.withLock({ $0.generation }) == generation { stubpool_yield() }
            case .run(let batch):
                switch run(batch) {
                case .success: materialized += batch.count
                case .failure(let error): throw error
                }
            }
        }
    }
}
