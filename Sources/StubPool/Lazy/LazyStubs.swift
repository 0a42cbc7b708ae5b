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

    /// Stubs for every spec, all or nothing, in the order of `specs`.
    public func request(_ specs: [Spec]) throws(StubPoolError) -> StubRange {
        guard !specs.isEmpty else { throw .invalidCount(0) }
        let placeholder = UnsafeRawPointer(bitPattern: pool.layout.anchorLazy)!
        let stubs = try pool.allocate(count: specs.count, target: placeholder)
        batcher.enqueue(stubs, specs: specs)
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
        let batcher = LazyBatcher<Spec>(layout: layout, batchLimit: batchLimit, generator: generator, onFailure: onFailure)
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

/// The batching state of one pool's lazy stubs: a ``LazyQueue`` plus the specs beside it.
final class LazyBatcher<Spec: Sendable>: LazyController {
    struct State {
        var queue = LazyQueue()
        /// Specs by queue entry index.
        var specs: [Spec?] = []
    }

    /// The pool's layout: pending entries and data slots of the stubs, by arithmetic.
    let layout: PoolLayout
    let batchLimit: Int
    let generator: @Sendable ([LazyRequest<Spec>]) throws -> [LazyResolution]
    let onFailure: @Sendable (LazyFailure) -> LazyResolution
    private let state = Locked(State())

    init(layout: PoolLayout, batchLimit: Int, generator: @escaping @Sendable ([LazyRequest<Spec>]) throws -> [LazyResolution],
         onFailure: @escaping @Sendable (LazyFailure) -> LazyResolution) {
        self.layout = layout
        self.batchLimit = batchLimit
        self.generator = generator
        self.onFailure = onFailure
    }

    /// Publishes each stub's data slot as pending (target: its own lazy entry), then records it.
    func enqueue(_ stubs: StubRange, specs: [Spec]) {
        let lazyEntries = stubs.map { layout.lazyEntry(of: $0.address)! }
        for (stub, entry) in zip(stubs, lazyEntries) {
            DataSlot(address: layout.dataSlot(of: stub)).publish(target: entry, context: 0)
        }
        state.withLock { state in
            let indices = state.queue.enqueue(stubs, lazyEntries: lazyEntries)
            if state.specs.count < state.queue.entries.count {
                state.specs.append(contentsOf: repeatElement(nil, count: state.queue.entries.count - state.specs.count))
            }
            for (index, spec) in zip(indices, specs) { state.specs[index] = spec }
        }
    }

    func forget(_ stub: Stub) {
        state.withLock { state in
            if let index = state.queue.forget(stubAt: stub.address) { state.specs[index] = nil }
        }
    }

    func statistics() -> LazyStatistics {
        state.withLock { state in
            var statistics = state.queue.statistics
            statistics.pending = state.queue.pendingCount
            return statistics
        }
    }

    private enum Step {
        case done(stubpool_lazy_continuation_t)
        case wait(generation: UInt64)
        case run(indices: [Int], requests: [LazyRequest<Spec>])
        case fail(LazyFailure)
    }

    /// Starts a batch (called with the state locked).
    private func start(_ state: inout State, first: Int?) -> Step {
        let indices = state.queue.startBatch(first: first, limit: batchLimit)
        let entries = state.queue.entries
        let specs = state.specs
        let requests = indices.map { LazyRequest(stub: entries[$0].stub, spec: specs[$0]!) }
        return .run(indices: indices, requests: requests)
    }

    /// Runs the generator and publishes what it returned; on failure the batch stays pending.
    private func run(indices: [Int], requests: [LazyRequest<Spec>]) -> Result<[LazyResolution], any Error> {
        let start = ContinuousClock.now
        var outcome = Result { try generator(requests) }
        if case .success(let results) = outcome, results.count != requests.count {
            outcome = .failure(LazyBatchError.wrongResultCount(expected: requests.count, got: results.count))
        }
        let elapsed = start.duration(to: .now).components
        let nanoseconds = UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000)
        state.withLock { state in
            switch outcome {
            case .success(let results):
                // Published under the lock, so a concurrent retarget or release wins.
                let kept = state.queue.finishBatch(succeeded: true, generatorNanoseconds: nanoseconds)
                for position in kept {
                    let result = results[position]
                    DataSlot(address: layout.dataSlot(of: requests[position].stub)).publish(target: result.target, context: result.context)
                    state.specs[indices[position]] = nil
                }
            case .failure:
                _ = state.queue.finishBatch(succeeded: false, generatorNanoseconds: nanoseconds)
            }
        }
        return outcome
    }

    func resolve(entry: UInt) -> stubpool_lazy_continuation_t {
        while true {
            let step: Step = state.withLock { state in
                guard let index = state.queue.index(ofStubAt: entry) else {
                    // Materialized by another batch (or retargeted) after this call loaded its target.
                    let slot = DataSlot(address: dataSlot(ofEntry: entry))
                    let target = slot.target
                    return .done(stubpool_lazy_continuation_t(target: target, context: slot.context))
                }
                if state.queue.batchRunningOnThisThread {
                    let stub = state.queue.entries[index].stub
                    return .fail(LazyFailure(stub: stub, error: LazyBatchError.calledFromGenerator))
                }
                if state.queue.batchRunning { return .wait(generation: state.queue.generation) }
                return start(&state, first: index)
            }
            switch step {
            case .done(let continuation):
                return continuation
            case .fail(let failure):
                return continuation(onFailure(failure))
            case .wait(let generation):
                while state.withLock({ $0.queue.generation }) == generation { stubpool_yield() }
            case .run(let indices, let requests):
                switch run(indices: indices, requests: requests) {
                case .success(let results):
                    return continuation(results[0])
                case .failure(let error):
                    return continuation(onFailure(LazyFailure(stub: requests[0].stub, error: error)))
                }
            }
        }
    }

    /// The data slot of the stub whose entry is `entry`.
    private func dataSlot(ofEntry entry: UInt) -> UInt {
        ChunkRegistry.withChunk(containing: entry) { $0.slot(ofEntry: entry)?.dataSlot }!
    }

    private func continuation(_ resolution: LazyResolution) -> stubpool_lazy_continuation_t {
        stubpool_lazy_continuation_t(target: resolution.target, context: resolution.context)
    }

    func materializeAll() throws -> Int {
        var materialized = 0
        while true {
            let step: Step = state.withLock { state in
                if state.queue.batchRunningOnThisThread {
                    let stub = state.queue.entries[state.queue.running[0]].stub
                    return .fail(LazyFailure(stub: stub, error: LazyBatchError.calledFromGenerator))
                }
                if state.queue.batchRunning { return .wait(generation: state.queue.generation) }
                if state.queue.pendingCount == 0 { return .done(stubpool_lazy_continuation_t()) }
                return start(&state, first: nil)
            }
            switch step {
            case .done: return materialized
            case .fail(let failure): throw failure.error
            case .wait(let generation):
                while state.withLock({ $0.queue.generation }) == generation { stubpool_yield() }
            case .run(let indices, let requests):
                switch run(indices: indices, requests: requests) {
                case .success: materialized += requests.count
                case .failure(let error): throw error
                }
            }
        }
    }
}
