/// A pool operation that can fail for a system reason, as named in ``StubPoolError/system(_:during:)``
/// (the others make no system call that can fail).
public enum PoolOperation: String, Sendable, Hashable, CaseIterable {
    /// ``StubPool/init(_:)``: building the template and the first chunk.
    case createPool
    /// Allocating one stub (``StubPool/allocate(target:context:)``, lazy requests of one).
    case allocate
    /// Allocating a range (``StubPool/allocate(count:target:context:)``, lazy requests of many).
    case allocateBulk
}

/// Why a pool operation failed. A failed operation changes nothing.
public enum StubPoolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A system call failed during `operation`.
    case system(SystemError, during: PoolOperation)
    /// The handle belongs to another pool (or to no live pool).
    case foreignStub(Stub)
    /// The address is not the entry of a stub of this pool.
    case foreignAddress(UInt)
    /// The stub was already released.
    case released(id: UInt64)
    /// A bulk count (stubs, lazy requests, arena blobs or patches) outside `1...StubPool.maximumBulkCount`.
    case invalidCount(Int)
    /// The target lies in the first page of the address space (NULL and its neighbours, which no
    /// code occupies) or is this stub's own released-stub trap.
    case invalidTarget(UInt)
    /// The configuration cannot be built (for example shards out of range).
    case invalidConfiguration(String)
    /// The configuration is valid but this process cannot run it (for example the
    /// ``CodeStrategy/privateCopy`` strategy under `PR_SET_MDWE`).
    case unsupported(String)

    /// A one-line explanation naming the stub, address or reason.
    public var description: String {
        switch self {
        case .system(let error, let operation): "\(operation.rawValue): \(error)"
        case .foreignStub(let stub): "\(stub) does not belong to this pool"
        case .foreignAddress(let address): "0x\(String(address, radix: 16)) is not a stub of this pool"
        case .released(let id): "stub #\(id) was already released"
        case .invalidCount(let count): "invalid count \(count) (1...\(StubPool.maximumBulkCount))"
        case .invalidTarget(let target): "0x\(String(target, radix: 16)) is not a valid target"
        case .invalidConfiguration(let reason): "invalid configuration: \(reason)"
        case .unsupported(let reason): "unsupported here: \(reason)"
        }
    }
}
