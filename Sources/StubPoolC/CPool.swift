import CStubPoolAPI
import StubPool

/// What a `stubpool_pool_t *` points to: the Swift pool and, once attached, its lazy stubs.
final class CPool {
    let pool: StubPool
    /// Set once by `stubpool_lazy_attach`; owned by the pool handle.
    var lazy: CLazy?

    init(_ pool: StubPool) { self.pool = pool }

    static func from(_ handle: OpaquePointer) -> CPool {
        Unmanaged<CPool>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Runs `body` on the handle's pool without retaining it (the caller's handle keeps it alive):
    /// a retain/release pair per call measured ≈10 ns on the closure paths.
    @inline(__always)
    static func withPool<Result>(_ handle: OpaquePointer, _ body: (StubPool) -> Result) -> Result {
        Unmanaged<CPool>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef { body($0.pool) }
    }
}

extension StubPool.Configuration {
    /// The Swift configuration a C one describes; throws for values outside the enums' ranges.
    init(_ c: stubpool_config_t) throws(CConfigurationError) {
        let kind: StubKind = switch c.kind {
        case STUBPOOL_KIND_FORWARD: .forward
        case STUBPOOL_KIND_CONTEXT: .context
        case STUBPOOL_KIND_BIND_FIRST_ARGUMENT: .bindFirstArgument
        default: throw CConfigurationError("unknown kind \(c.kind.rawValue)")
        }
        let placement: Placement = switch c.placement {
        case STUBPOOL_PLACEMENT_PACKED: .packed
        case STUBPOOL_PLACEMENT_PAGE_START: .pageStart
        case STUBPOOL_PLACEMENT_STAGGERED: .staggered
        case STUBPOOL_PLACEMENT_RANDOM: .random(seed: c.random_seed)
        default: throw CConfigurationError("unknown placement \(c.placement.rawValue)")
        }
        let strategy: CodeStrategy = switch c.strategy {
        case STUBPOOL_STRATEGY_SHARED_TEMPLATE: .sharedTemplate
        case STUBPOOL_STRATEGY_PRIVATE_COPY: .privateCopy
        default: throw CConfigurationError("unknown strategy \(c.strategy.rawValue)")
        }
        self.init(
            kind: kind, placement: placement, landingPads: c.landing_pads != 0, strategy: strategy,
            shards: c.shards == 0 ? nil : Int(c.shards),
            codeSize: c.code_size == 0 ? ChunkGeometry.defaultCodeSize : Int(c.code_size),
            lazyBatches: c.lazy_batches != 0, payloadSize: Int(c.payload_size),
            payloadDataOffset: c.payload_data_offset == -1 ? nil : Int(c.payload_data_offset),
            name: c.name.map { String(cString: $0) })
    }
}

struct CConfigurationError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Runs `body` on the pool and the stub named by `stub`, mapping every failure to a status.
private func withStub(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ function: String,
    _ body: (StubPool, Stub) throws(StubPoolError) -> Void
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: function) }
    guard let stub else { return CStatus.null("stub", in: function) }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in try body(pool, try pool.stub(entry: UInt(bitPattern: stub))) }
    }
}

private func pointer(_ address: UInt) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: address)! }

// MARK: Configuration and life cycle

@_cdecl("stubpool_config_init")
public func stubpool_config_init_c(_ config: UnsafeMutablePointer<stubpool_config_t>?) {
    guard let config else { return }
    config.pointee = stubpool_config_t(
        struct_size: UInt32(MemoryLayout<stubpool_config_t>.size), kind: STUBPOOL_KIND_FORWARD,
        placement: STUBPOOL_PLACEMENT_PACKED, strategy: STUBPOOL_STRATEGY_SHARED_TEMPLATE, random_seed: 0,
        landing_pads: 0, lazy_batches: 0, shards: 0, code_size: 0, payload_size: 0, name: nil, payload_data_offset: -1)
}

@_cdecl("stubpool_pool_create")
public func stubpool_pool_create_c(
    _ config: UnsafePointer<stubpool_config_t>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> stubpool_status_t {
    guard let out else { return CStatus.null("out_pool", in: "stubpool_pool_create") }
    var c = stubpool_config_t()
    stubpool_config_init_c(&c)
    if let config {
        // Version 2's struct ended before `name`: its callers get the defaults of newer fields.
        let version2Size = MemoryLayout<stubpool_config_t>.offset(of: \stubpool_config_t.name)!
        let given = Int(config.pointee.struct_size)
        guard given >= version2Size else {
            return CStatus.fail(STUBPOOL_E_INVALID_ARGUMENT,
                                "stubpool_pool_create: config.struct_size is \(config.pointee.struct_size); call stubpool_config_init first")
        }
        withUnsafeMutableBytes(of: &c) { copy in
            copy.copyMemory(from: UnsafeRawBufferPointer(start: config, count: min(given, MemoryLayout<stubpool_config_t>.size)))
        }
    }
    do {
        let configuration = try StubPool.Configuration(c)
        let pool = try StubPool(configuration)
        out.pointee = OpaquePointer(Unmanaged.passRetained(CPool(pool)).toOpaque())
        return CStatus.ok
    } catch let error as StubPoolError {
        return CStatus.fail(error)
    } catch let problem as CConfigurationError {
        return CStatus.fail(STUBPOOL_E_INVALID_CONFIGURATION, "invalid configuration: \(problem.message)")
    } catch {
        return CStatus.fail(STUBPOOL_E_INVALID_CONFIGURATION, "\(error)")
    }
}

@_cdecl("stubpool_pool_destroy")
public func stubpool_pool_destroy_c(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<CPool>.fromOpaque(UnsafeRawPointer(handle)).release()
}

@_cdecl("stubpool_max_bulk_count")
public func stubpool_max_bulk_count_c() -> Int { StubPool.maximumBulkCount }

// MARK: Allocation

@_cdecl("stubpool_pool_allocate")
public func stubpool_allocate_c(
    _ handle: OpaquePointer?, _ target: UnsafeRawPointer?, _ context: UInt,
    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_allocate") }
    guard let out else { return CStatus.null("out_stub", in: "stubpool_pool_allocate") }
    guard let target else { return CStatus.fail(.invalidTarget(0)) }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in
            out.pointee = pointer(try pool.allocate(target: target, context: context).address)
        }
    }
}

@_cdecl("stubpool_pool_allocate_with_payload")
public func stubpool_allocate_with_payload_c(
    _ handle: OpaquePointer?, _ target: UnsafeRawPointer?, _ context: UInt,
    _ outStub: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ outPayload: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_allocate_with_payload") }
    guard let outStub else { return CStatus.null("out_stub", in: "stubpool_pool_allocate_with_payload") }
    guard let outPayload else { return CStatus.null("out_payload", in: "stubpool_pool_allocate_with_payload") }
    guard let target else { return CStatus.fail(.invalidTarget(0)) }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in
            let (stub, payload) = try pool.allocateWithPayload(target: target, context: context)
            outStub.pointee = pointer(stub.address)
            outPayload.pointee = payload
        }
    }
}

@_cdecl("stubpool_pool_allocate_closure")
public func stubpool_allocate_closure_c(
    _ handle: OpaquePointer?, _ target: UnsafeRawPointer?,
    _ outStub: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ outPayload: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_allocate_closure") }
    guard let outStub else { return CStatus.null("out_stub", in: "stubpool_pool_allocate_closure") }
    guard let outPayload else { return CStatus.null("out_payload", in: "stubpool_pool_allocate_closure") }
    guard let target else { return CStatus.fail(.invalidTarget(0)) }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in
            let (stub, payload) = try pool.allocateClosure(target: target)
            outStub.pointee = pointer(stub.address)
            outPayload.pointee = payload
        }
    }
}

@_cdecl("stubpool_pool_allocate_closures")
public func stubpool_allocate_closures_c(
    _ handle: OpaquePointer?, _ count: Int, _ target: UnsafeRawPointer?,
    _ outStubs: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ outPayloads: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_allocate_closures") }
    guard let outStubs else { return CStatus.null("out_stubs", in: "stubpool_pool_allocate_closures") }
    guard let outPayloads else { return CStatus.null("out_payloads", in: "stubpool_pool_allocate_closures") }
    guard let target else { return CStatus.fail(.invalidTarget(0)) }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in
            // First: a size_t beyond Int.max reads negative, which no buffer may be made with.
            try StubPool.checkBulkCount(count)
            try pool.allocateClosures(target: target, stubs: .init(start: outStubs, count: count),
                                      payloads: .init(start: outPayloads, count: count))
        }
    }
}

@_cdecl("stubpool_pool_payload")
public func stubpool_payload_c(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let out else { return CStatus.null("out_payload", in: "stubpool_pool_payload") }
    return withStub(handle, stub, "stubpool_pool_payload") { (pool, stub) throws(StubPoolError) in
        out.pointee = try pool.payload(of: stub)
    }
}

@_cdecl("stubpool_pool_payload_owner")
public func stubpool_payload_owner_c(
    _ handle: OpaquePointer?, _ payload: UnsafeRawPointer?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    let address = UInt(bitPattern: payload)
    return answerLookup(handle, out, in: "stubpool_pool_payload_owner",
                        notFound: "stubpool_pool_payload_owner: 0x\(String(address, radix: 16)) is not the payload of a stub of this pool") {
        $0.stub(payload: address)
    }
}

@_cdecl("stubpool_pool_payload_release")
public func stubpool_payload_release_c(_ handle: OpaquePointer?, _ payload: UnsafeRawPointer?) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_payload_release") }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in try pool.release(payload: UInt(bitPattern: payload)) }
    }
}

@_cdecl("stubpool_pool_payload_release_each")
public func stubpool_payload_release_each_c(
    _ handle: OpaquePointer?, _ count: Int, _ payloads: UnsafePointer<UnsafeRawPointer?>?,
    _ outStatuses: UnsafeMutablePointer<stubpool_status_t>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_payload_release_each") }
    guard let payloads else { return CStatus.null("payloads", in: "stubpool_pool_payload_release_each") }
    guard let outStatuses else { return CStatus.null("out_statuses", in: "stubpool_pool_payload_release_each") }
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in
            try StubPool.checkBulkCount(count)  // first: a size_t beyond Int.max reads negative
            // A pointer's bits are its address: the array is read as addresses, in place.
            let addresses = UnsafeRawPointer(payloads).assumingMemoryBound(to: UInt.self)
            let failure = withUnsafeTemporaryAllocation(of: StubPool.PayloadReleaseOutcome.self, capacity: count) {
                outcomes -> StubPoolError? in
                do throws(StubPoolError) {
                    try pool.releaseEach(payloads: UnsafeBufferPointer(start: addresses, count: count), outcomes: outcomes)
                } catch {
                    return error
                }
                for index in 0..<count {
                    outStatuses[index] = switch outcomes[index] {
                    case .released: STUBPOOL_OK
                    case .foreign: STUBPOOL_E_FOREIGN_STUB
                    case .alreadyReleased: STUBPOOL_E_RELEASED
                    }
                }
                return nil
            }
            if let failure { throw failure }
        }
    }
}

/// A lookup's answer: the stub `find` returns written to `out` (its id to `outID`), or
/// NOT_FOUND with `notFound`.
private func answerLookup(
    _ handle: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    id outID: UnsafeMutablePointer<UInt64>? = nil, in function: String, notFound: @autoclosure () -> String,
    _ find: (StubPool) -> Stub?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: function) }
    guard let out else { return CStatus.null("out_stub", in: function) }
    guard let stub = CPool.withPool(handle, find) else { return CStatus.fail(STUBPOOL_E_NOT_FOUND, notFound()) }
    out.pointee = pointer(stub.address)
    outID?.pointee = stub.id
    return CStatus.ok
}

@_cdecl("stubpool_pool_allocate_n")
public func stubpool_allocate_n_c(
    _ handle: OpaquePointer?, _ count: Int, _ target: UnsafeRawPointer?, _ context: UInt,
    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_allocate_n") }
    guard let out else { return CStatus.null("out_stubs", in: "stubpool_pool_allocate_n") }
    guard let target else { return CStatus.fail(.invalidTarget(0)) }
    return CStatus.run { () throws(StubPoolError) in
        let stubs = try CPool.from(handle).pool.allocate(count: count, target: target, context: context)
        for (index, stub) in stubs.enumerated() { out[index] = pointer(stub.address) }
    }
}

// MARK: Retargeting

@_cdecl("stubpool_pool_retarget")
public func stubpool_retarget_c(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ target: UnsafeRawPointer?, _ context: UInt
) -> stubpool_status_t {
    withStub(handle, stub, "stubpool_pool_retarget") { (pool, stub) throws(StubPoolError) in
        guard let target else { throw .invalidTarget(0) }
        try pool.retarget(stub, to: target, context: context)
    }
}

@_cdecl("stubpool_pool_set_target")
public func stubpool_set_target_c(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ target: UnsafeRawPointer?
) -> stubpool_status_t {
    withStub(handle, stub, "stubpool_pool_set_target") { (pool, stub) throws(StubPoolError) in
        guard let target else { throw .invalidTarget(0) }
        try pool.retarget(stub, to: target)
    }
}

@_cdecl("stubpool_pool_set_context")
public func stubpool_set_context_c(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ context: UInt
) -> stubpool_status_t {
    withStub(handle, stub, "stubpool_pool_set_context") { (pool, stub) throws(StubPoolError) in
        try pool.setContext(context, for: stub)
    }
}

@_cdecl("stubpool_pool_get_target")
public func stubpool_get_target_c(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?,
    _ outTarget: UnsafeMutablePointer<UnsafeRawPointer?>?, _ outContext: UnsafeMutablePointer<UInt>?
) -> stubpool_status_t {
    withStub(handle, stub, "stubpool_pool_get_target") { (pool, stub) throws(StubPoolError) in
        let target = try pool.target(of: stub)
        let context = try pool.context(of: stub)
        outTarget?.pointee = target
        outContext?.pointee = context
    }
}

// MARK: Release, reclaim, lookup, statistics

@_cdecl("stubpool_pool_release")
public func stubpool_release_c(_ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_release") }
    guard let stub else { return CStatus.null("stub", in: "stubpool_pool_release") }
    // By address: one lookup in the chunk index (a handle first, then release, would be two).
    return CPool.withPool(handle) { pool in
        CStatus.run { () throws(StubPoolError) in try pool.release(address: UInt(bitPattern: stub)) }
    }
}

@_cdecl("stubpool_pool_reclaim")
public func stubpool_reclaim_c(_ handle: OpaquePointer?) -> Int {
    guard let handle else { return 0 }
    return CPool.from(handle).pool.reclaim()
}

@_cdecl("stubpool_pool_lookup")
public func stubpool_lookup_c(
    _ handle: OpaquePointer?, _ address: UnsafeRawPointer?,
    _ outStub: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ outID: UnsafeMutablePointer<UInt64>?
) -> stubpool_status_t {
    let address = UInt(bitPattern: address)
    return answerLookup(handle, outStub, id: outID, in: "stubpool_pool_lookup",
                        notFound: "no live stub of this pool contains 0x\(String(address, radix: 16))") {
        $0.stub(containing: address)
    }
}

@_cdecl("stubpool_pool_statistics")
public func stubpool_pool_statistics_c(
    _ handle: OpaquePointer?, _ out: UnsafeMutablePointer<stubpool_pool_stats_t>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_statistics") }
    let s = CPool.from(handle).pool.statistics()
    return CStats.fill(out, with: stubpool_pool_stats_t(
        struct_size: 0, live_stubs: s.liveStubs, quarantined_stubs: s.quarantinedStubs, chunks: s.chunks,
        code_bytes_mapped: s.codeBytesMapped, data_bytes_mapped: s.dataBytesMapped,
        resident_code_bytes: s.residentCodeBytes, resident_data_bytes: s.residentDataBytes,
        metadata_bytes: s.metadataBytes, mappings: s.mappings), in: "stubpool_pool_statistics")
}
