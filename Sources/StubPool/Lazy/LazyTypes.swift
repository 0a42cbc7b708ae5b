/// One pending lazy stub handed to a batch generator: the stub and the runtime's own spec.
public struct LazyRequest<Spec: Sendable>: Sendable {
    /// The pending stub: its address is what callers already hold.
    public let stub: Stub
    /// What the runtime asked for with ``LazyStubs/request(_:)->Stub``.
    public let spec: Spec

    @inlinable init(stub: Stub, spec: Spec) {
        self.stub = stub
        self.spec = spec
    }
}

/// What a generator returns for one request: where the stub jumps and the context it loads.
public struct LazyResolution: Sendable, Hashable {
    /// The address the stub jumps to from now on.
    public let target: UInt
    /// The context the stub loads (ignored by ``StubKind/forward`` stubs).
    public let context: UInt

    /// A resolution to `target` with `context`.
    public init(target: UnsafeRawPointer, context: UInt) {
        self.init(targetAddress: UInt(bitPattern: target), context: context)
    }

    /// A resolution from the target's address, for generators that keep addresses as integers
    /// (pointers are not `Sendable`).
    public init(targetAddress: UInt, context: UInt) {
        self.target = targetAddress
        self.context = context
    }
}

/// Why a call of a pending lazy stub could not be materialized. The stub stays pending.
public struct LazyFailure: Error, Sendable, CustomStringConvertible {
    /// The stub whose call failed.
    public let stub: Stub
    /// The generator's error, or a ``LazyBatchError``.
    public let error: any Error

    /// The stub and the error, in one line.
    public var description: String { "lazy \(stub) could not be materialized: \(error)" }
}

/// Errors of the lazy-batch machinery itself.
public enum LazyBatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The generator returned `got` results for `expected` requests.
    case wrongResultCount(expected: Int, got: Int)
    /// A pending stub was called, or ``LazyStubs/materializeAll()`` was used, from inside the
    /// generator of the batch that is running: that stub cannot be ready before the batch ends.
    case calledFromGenerator

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .wrongResultCount(let expected, let got): "the generator returned \(got) results for \(expected) requests"
        case .calledFromGenerator: "a pending lazy stub was needed from inside the running batch generator"
        }
    }
}

/// Counters of one pool's lazy batches.
public struct LazyStatistics: Sendable, Hashable {
    /// Batches whose generator succeeded.
    public var batches = 0
    /// Batches whose generator threw or returned the wrong number of results.
    public var failedBatches = 0
    /// Stubs materialized by successful batches.
    public var materialized = 0
    /// The largest successful batch.
    public var largestBatch = 0
    /// Nanoseconds spent inside generators, failed batches included.
    public var generatorNanoseconds: UInt64 = 0
    /// Stubs still waiting for a batch.
    public var pending = 0

    /// Mean stubs per successful batch.
    public var stubsPerBatch: Double { batches == 0 ? 0 : Double(materialized) / Double(batches) }
}
