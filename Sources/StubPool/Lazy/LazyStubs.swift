import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Lazy stubs of one pool: each ``request(_:)->Stub`` returns a callable stub at once; the first call of
/// any pending stub runs the generator once on all pending requests (up to the batch limit),
/// publishes every result, and continues the call with every argument intact.
///
/// Create it with ``StubPool/lazyStubs(of:batchLimit:generator:onFailure:)`` on a pool configured
/// with `lazyBatches: true`, of any kind: the first call of a pending stub arrives at its target
/// exactly as a call through the materialized stub would (a `bindFirstArgument` stub's target gets
/// the resolved context first and the caller's arguments after it). A pending stub's first call
/// writes the scratch registers its lazy entry uses (x86-64: `r11`, the slot's address;
/// AArch64: `x17`, the slot's address, and `x16`, the resolver's), which matters only to forward
/// stubs: materialized forward stubs write no register.
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
        try StubPool.checkBulkCount(specs.count)
        let stubs = try pool.reserveRange(count: specs.count)
        batcher.enqueue(stubs, specs: specs)
        return stubs
    }

    /// Runs the generator on every pending request now, in batches of at most the batch limit.
    /// Returns how many stubs were materialized. Throws the generator's error (or a
    /// ``LazyBatchError``); the requests of the failed batch stay pending.
    @discardableResult
    public func materializeAll() throws -> Int { try batcher.materializeAll() }

    /// Batches, failures, stubs materialized and pending, and generator time, now.
    public func statistics() -> LazyStatistics { batcher.statistics() }
}

extension StubPool {
    /// The most requests one generator call receives unless ``lazyStubs(of:batchLimit:generator:onFailure:)``
    /// is given another limit (the C API's `batch_limit` of 0 means this too).
    public static let defaultLazyBatchLimit = 65_536

    /// Attaches lazy batches to this pool (once per pool).
    ///
    /// - Parameters:
    ///   - spec: the runtime's description of a stub to build (any `Sendable` type).
    ///   - batchLimit: most requests one generator call receives (default
    ///     ``StubPool/defaultLazyBatchLimit``).
    ///   - generator: receives pending requests and returns one resolution per request, in order.
    ///     It runs on the thread of the first call (or of ``LazyStubs/materializeAll()``) with no
    ///     pool lock held; it may request more lazy stubs (they join the next batch).
    ///   - onFailure: where a call goes when its batch fails (the generator threw or returned the
    ///     wrong number of results); the stubs stay pending and a later call retries. The default
    ///     prints the stub and the error and aborts.
    public func lazyStubs<Spec: Sendable>(
        of spec: Spec.Type = Spec.self,
        batchLimit: Int = StubPool.defaultLazyBatchLimit,
        generator: @escaping @Sendable (LazyBatch<Spec>) throws -> [LazyResolution],
        onFailure: @escaping @Sendable (LazyFailure) -> LazyResolution = LazyFailureHandlers.abort
    ) throws(StubPoolError) -> LazyStubs<Spec> {
        guard configuration.lazyBatches else {
            throw .invalidConfiguration("lazy stubs need a pool configured with lazyBatches: true")
        }
        guard batchLimit >= 1 else { throw .invalidConfiguration("batch limit must be at least 1, not \(batchLimit)") }
        let batcher = LazyBatcher<Spec>(layout: layout, batchLimit: batchLimit, generator: generator, onFailure: onFailure)
        guard lazyController.attach(batcher) else {
            throw .invalidConfiguration("this pool already has lazy stubs attached")
        }
        LazyDispatch.register(batcher, token: layout.token)
        return LazyStubs(pool: self, batcher: batcher)
    }
}

/// Ready-made failure handlers.
public enum LazyFailureHandlers {
    /// Prints the stub and the error to stderr and aborts.
    @Sendable public static func abort(_ failure: LazyFailure) -> LazyResolution {
        StandardError.emit("stubpool: \(failure)\n")
        Glibc.abort()
    }
}
