import CStubPoolAPI
import StubPool

/// What a `stubpool_lazy_t *` points to: the pool's lazy stubs, with specs as plain words.
final class CLazy {
    let stubs: LazyStubs<UInt>
    init(_ stubs: LazyStubs<UInt>) { self.stubs = stubs }

    static func from(_ handle: OpaquePointer) -> CLazy {
        Unmanaged<CLazy>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }
}

/// The C callbacks and their user pointer. The runtime promises they may be called from any
/// thread (the header says so), which is what makes this `Sendable`.
private struct CLazyCallbacks: @unchecked Sendable {
    let generator: stubpool_lazy_generator_t
    let onFailure: stubpool_lazy_failure_t?
    let user: UnsafeMutableRawPointer?

    /// Calls the C generator with one request array and one result array for the whole batch.
    func generate(_ requests: LazyBatch<UInt>) throws -> [LazyResolution] {
        let cRequests = requests.map {
            stubpool_lazy_request_t(stub: UnsafeMutableRawPointer(bitPattern: $0.stub.address), spec: $0.spec)
        }
        var results = [stubpool_lazy_resolution_t](repeating: .init(), count: requests.count)
        let status = cRequests.withUnsafeBufferPointer { requests in
            results.withUnsafeMutableBufferPointer { results in
                generator(user, requests.baseAddress, requests.count, results.baseAddress)
            }
        }
        guard status == 0 else { throw CGeneratorFailure(status: status) }
        return results.map { LazyResolution(targetAddress: UInt(bitPattern: $0.target), context: $0.context) }
    }

    func failure(_ failure: LazyFailure) -> LazyResolution {
        guard let onFailure else { return LazyFailureHandlers.abort(failure) }
        let status = (failure.error as? CGeneratorFailure)?.status ?? -1
        let resolution = onFailure(user, UnsafeMutableRawPointer(bitPattern: failure.stub.address), status)
        return LazyResolution(targetAddress: UInt(bitPattern: resolution.target), context: resolution.context)
    }
}

/// A C generator returned non-zero.
struct CGeneratorFailure: Error, CustomStringConvertible {
    let status: Int32
    var description: String { "the generator returned \(status)" }
}

@_cdecl("stubpool_lazy_attach")
public func stubpool_lazy_attach_c(
    _ handle: OpaquePointer?, _ batchLimit: Int, _ generator: stubpool_lazy_generator_t?,
    _ onFailure: stubpool_lazy_failure_t?, _ user: UnsafeMutableRawPointer?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_lazy_attach") }
    guard let generator else { return CStatus.null("generator", in: "stubpool_lazy_attach") }
    guard let out else { return CStatus.null("out_lazy", in: "stubpool_lazy_attach") }
    let owner = CPool.from(handle)
    let callbacks = CLazyCallbacks(generator: generator, onFailure: onFailure, user: user)
    return CStatus.run { () throws(StubPoolError) in
        let stubs = try owner.pool.lazyStubs(
            of: UInt.self, batchLimit: batchLimit == 0 ? StubPool.defaultLazyBatchLimit : batchLimit,
            generator: { try callbacks.generate($0) }, onFailure: { callbacks.failure($0) })
        let lazy = CLazy(stubs)
        owner.lazy = lazy
        out.pointee = OpaquePointer(Unmanaged.passUnretained(lazy).toOpaque())
    }
}

@_cdecl("stubpool_lazy_request")
public func stubpool_lazy_request_c(
    _ handle: OpaquePointer?, _ spec: UInt, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    withUnsafePointer(to: spec) { stubpool_lazy_request_n_c(handle, 1, $0, out) }
}

@_cdecl("stubpool_lazy_request_n")
public func stubpool_lazy_request_n_c(
    _ handle: OpaquePointer?, _ count: Int, _ specs: UnsafePointer<UInt>?,
    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("lazy", in: "stubpool_lazy_request") }
    guard let specs else { return CStatus.null("specs", in: "stubpool_lazy_request") }
    guard let out else { return CStatus.null("out_stubs", in: "stubpool_lazy_request") }
    return CStatus.run { () throws(StubPoolError) in
        try StubPool.checkBulkCount(count)
        let stubs = try CLazy.from(handle).stubs.request(Array(UnsafeBufferPointer(start: specs, count: count)))
        for (index, stub) in stubs.enumerated() { out[index] = UnsafeMutableRawPointer(bitPattern: stub.address) }
    }
}

@_cdecl("stubpool_lazy_materialize_all")
public func stubpool_lazy_materialize_all_c(_ handle: OpaquePointer?, _ outCount: UnsafeMutablePointer<Int>?) -> stubpool_status_t {
    guard let handle else { return CStatus.null("lazy", in: "stubpool_lazy_materialize_all") }
    do {
        let count = try CLazy.from(handle).stubs.materializeAll()
        outCount?.pointee = count
        return CStatus.ok
    } catch {
        return CStatus.fail(STUBPOOL_E_GENERATOR, "stubpool_lazy_materialize_all: \(error)")
    }
}

@_cdecl("stubpool_lazy_statistics")
public func stubpool_lazy_statistics_c(
    _ handle: OpaquePointer?, _ out: UnsafeMutablePointer<stubpool_lazy_stats_t>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("lazy", in: "stubpool_lazy_statistics") }
    let s = CLazy.from(handle).stubs.statistics()
    return CStats.fill(out, with: stubpool_lazy_stats_t(
        struct_size: 0, batches: s.batches, failed_batches: s.failedBatches, materialized: s.materialized,
        largest_batch: s.largestBatch, pending: s.pending, generator_nanoseconds: s.generatorNanoseconds), in: "stubpool_lazy_statistics")
}
