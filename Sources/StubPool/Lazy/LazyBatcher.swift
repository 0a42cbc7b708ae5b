import CStubPoolShim

/// The batching state of one pool's lazy stubs: a ``LazyQueue`` plus the specs beside it, one
/// array per request (stored as the caller passed it: no per-stub copy).
final class LazyBatcher<Spec: Sendable>: LazyController {
    struct State {
        var queue = LazyQueue()
        /// Specs by queue block.
        var specs: [[Spec]] = []
    }

    /// The pool's layout: data slots of the stubs by arithmetic, lazy entries.
    let layout: PoolLayout
    let batchLimit: Int
    let generator: @Sendable (LazyBatch<Spec>) throws -> [LazyResolution]
    let onFailure: @Sendable (LazyFailure) -> LazyResolution
    private let state = Locked(State(), rank: .lazyBatcher) { state in
        for block in state.queue.abandonBatchOfVanishedThread() { state.specs[block] = [] }
    }

    init(layout: PoolLayout, batchLimit: Int, generator: @escaping @Sendable (LazyBatch<Spec>) throws -> [LazyResolution],
         onFailure: @escaping @Sendable (LazyFailure) -> LazyResolution) {
        self.layout = layout
        self.batchLimit = batchLimit
        self.generator = generator
        self.onFailure = onFailure
    }

    /// Publishes each stub's data slot as pending and records the request.
    func enqueue(_ stubs: StubRange, specs: [Spec]) {
        state.withLock { state in
            let block = state.queue.add(stubs, layout: layout)
            if block == state.specs.count { state.specs.append(specs) } else { state.specs[block] = specs }
        }
    }

    func poolDidEnd() {
        LazyDispatch.unregister(token: layout.token)
    }

    func forget(_ stub: Stub) {
        state.withLock { state in forget(stub, in: &state) }
    }

    func forget(_ stubs: StubRange) {
        state.withLock { state in for stub in stubs { forget(stub, in: &state) } }
    }

    private func forget(_ stub: Stub, in state: inout State) {
        let data = DataSlot(address: layout.dataSlot(of: stub))
        if let freed = state.queue.forget(entry: stub.address, data: data, layout: layout) { state.specs[freed] = [] }
    }

    /// The spec of every stub not yet settled (pending, or in a batch whose generator is still
    /// running), by entry address: what a ``StubImage`` saves.
    func unsettledSpecs() -> [UInt: Spec] {
        state.withLock { state in
            var specs: [UInt: Spec] = [:]
            for (index, block) in state.queue.blocks.enumerated() {
                guard let block else { continue }
                for position in block.status.indices where block.status[position] != .settled {
                    specs[block.stubs[position].address] = state.specs[index][position]
                }
            }
            return specs
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
        case run(LazyBatch<Spec>)
        case fail(LazyFailure)
    }

    /// Starts a batch (called with the state locked).
    private func start(_ state: inout State, first: LazyMember?) -> Step {
        let members = state.queue.startBatch(first: first, limit: batchLimit)
        return .run(LazyBatch(members: members, specs: state.specs))
    }

    /// Runs the generator and publishes what it returned; on failure the batch stays pending.
    private func run(_ batch: LazyBatch<Spec>) -> Result<[LazyResolution], any Error> {
        let start = ContinuousClock.now
        var outcome = Result { try generator(batch) }
        if case .success(let results) = outcome, results.count != batch.count {
            outcome = .failure(LazyBatchError.wrongResultCount(expected: batch.count, got: results.count))
        }
        let elapsed = start.duration(to: .now).components
        let nanoseconds = UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000)
        let results = try? outcome.get()
        state.withLock { state in
            let freed = state.queue.finishBatch(results: results, generatorNanoseconds: nanoseconds, layout: layout)
            for block in freed { state.specs[block] = [] }
        }
        return outcome
    }

    func resolve(entry: UInt, dataSlot: UInt) -> stubpool_lazy_continuation_t {
        let data = DataSlot(address: dataSlot)
        while true {
            let step: Step = state.withLock { state in
                let target = data.target, context = data.context
                guard let member = state.queue.member(entry: entry, target: target, context: context, layout: layout) else {
                    // Materialized by another batch (or retargeted) after this call loaded its target.
                    return .done(stubpool_lazy_continuation_t(target: target, context: context))
                }
                if state.queue.batchRunningOnThisThread {
                    return .fail(LazyFailure(stub: member.stub, error: LazyBatchError.calledFromGenerator))
                }
                if state.queue.batchRunning { return .wait(generation: state.queue.generation) }
                return start(&state, first: member)
            }
            switch step {
            case .done(let continuation):
                return continuation
            case .fail(let failure):
                return continuation(onFailure(failure))
            case .wait(let generation):
                while state.withLock({ $0.queue.generation }) == generation { stubpool_yield() }
            case .run(let batch):
                switch run(batch) {
                case .success(let results):
                    return continuation(results[0])
                case .failure(let error):
                    return continuation(onFailure(LazyFailure(stub: batch[0].stub, error: error)))
                }
            }
        }
    }

    private func continuation(_ resolution: LazyResolution) -> stubpool_lazy_continuation_t {
        stubpool_lazy_continuation_t(target: resolution.target, context: resolution.context)
    }

    func materializeAll() throws -> Int {
        var materialized = 0
        while true {
            let step: Step = state.withLock { state in
                if state.queue.batchRunningOnThisThread {
                    return .fail(LazyFailure(stub: state.queue.running[0].stub, error: LazyBatchError.calledFromGenerator))
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
            case .run(let batch):
                switch run(batch) {
                case .success: materialized += batch.count
                case .failure(let error): throw error
                }
            }
        }
    }
}
