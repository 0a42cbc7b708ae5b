/// Why an arena operation failed. A failed operation changes nothing.
public enum CodeArenaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A commit of no blobs.
    case emptyBatch
    /// Blob `index` of the batch has no bytes.
    case emptyBlob(index: Int)
    /// Blob `index` of the batch has `size` bytes, more than ``CodeArena/maximumBlobSize``.
    case blobTooLarge(index: Int, size: Int)
    /// No live blob of this arena starts at the address.
    case notLive(UInt)
    /// A patch of `count` bytes at `offset` does not fit in its `size`-byte blob (or is empty).
    case outOfBounds(offset: Int, count: Int, size: Int)
    /// ``CodeArena/commit(_:names:)-([[UInt8]],_)`` got a different number of names than blobs.
    case nameCountMismatch(blobs: Int, names: Int)
    /// A relocation of blob `blob` of the batch cannot be applied.
    case relocation(CodeRelocationError, blob: Int)
    /// The ``CodeBody/frame`` of blob `blob` cannot describe its body (the reason says why).
    case invalidFrame(String, blob: Int)
    /// A system call failed: mapping or growing the arena's file during a commit, or giving the
    /// arena files of its own after a `fork()` before a commit, write or free.
    case system(SystemError, during: ArenaOperation)

    /// The operation that failed: a commit, or a write or free that first had to give the arena
    /// memory files of its own after a `fork()` (see ``CodeArena``).
    public enum ArenaOperation: String, Sendable, Hashable {
        /// ``CodeArena/commit(_:names:)-([[UInt8]],_)`` and the other commits.
        case commit
        /// ``CodeArena/write(_:)`` and ``CodeArena/write(_:into:at:)``.
        case write
        /// ``CodeArena/free(_:)-(CodeBlob)``, ``CodeArena/free(_:)-([CodeBlob])`` and ``CodeArena/free(address:)``.
        case free
    }

    /// A one-line explanation naming the blob index, address or system call.
    public var description: String {
        switch self {
        case .emptyBatch: "commit of no blobs"
        case .emptyBlob(let index): "blob #\(index) is empty"
        case .blobTooLarge(let index, let size): "blob #\(index) has \(size) bytes, more than \(CodeArena.maximumBlobSize)"
        case .notLive(let address): "no live blob of this arena at 0x\(String(address, radix: 16))"
        case .outOfBounds(let offset, let count, let size): "writing \(count) bytes at \(offset) leaves a \(size)-byte blob"
        case .nameCountMismatch(let blobs, let names): "\(names) names for \(blobs) blobs"
        case .relocation(let problem, let blob): "blob #\(blob): \(problem)"
        case .invalidFrame(let reason, let blob): "blob #\(blob): \(reason)"
        case .system(let error, let operation): "\(operation.rawValue): \(error)"
        }
    }
}
