/// Why an image could not be taken, loaded or restored. Nothing is mapped or changed when one is
/// thrown: loading validates everything before restoring creates anything, and a restore that
/// fails later (out of memory, say) drops every pool and blob it made.
public enum StubImageError: Error, Sendable, Hashable, CustomStringConvertible {
    // Snapshot
    /// No rule names the address: not a stub or blob of the image, not known to the runtime's
    /// symbolizer, not inside a loaded object with an exported symbol or a build-id.
    case unnameableAddress(UInt, referrer: String)
    /// A pool has pending lazy stubs but its source has no spec encoder.
    case pendingWithoutEncoder(pool: Int)
    /// The runtime's spec encoder threw.
    case specEncoding(pool: Int, id: UInt64, message: String)
    /// The same pool was given twice.
    case duplicatePool(Int)
    /// Pool `pool` keeps its data slots in its stubs' payloads (``StubPool/Configuration/payloadDataOffset``),
    /// which images do not save.
    case payloadDataSlots(pool: Int)

    // Loading
    /// The image ends `needed` bytes into what it was `reading`, with `available` left.
    case truncated(needed: Int, available: Int, reading: String)
    /// The data does not begin with the image magic: not a StubPool image.
    case badMagic
    /// An image format version this build cannot read (it reads ``StubImage/formatVersion``).
    case unsupportedVersion(UInt32)
    /// The image was made for another architecture (named).
    case foreignArchitecture(String)
    /// The image was made with another page size than this process's.
    case pageSizeMismatch(image: Int, host: Int)
    /// The payload's checksum is not the one the header stores: the file was damaged.
    case checksumMismatch(stored: UInt64, computed: UInt64)
    /// The image is well framed but its content is invalid (an index out of range, an unknown
    /// kind, a malformed field).
    case corrupt(String)
    /// A pool's stubs were built by a different stub encoder than this build's.
    case templateMismatch(pool: Int, variant: String)

    // Restore
    /// `dlsym` found no exported symbol of this name.
    case unresolvedSymbol(String)
    /// No loaded object has this build-id.
    case objectNotLoaded(path: String, buildID: String)
    /// The runtime's resolver had no address for this name (or there was no resolver).
    case unresolvedRuntimeSymbol(String)
    /// A pool has pending lazy stubs and the restore was given nothing to attach them to.
    case missingLazyStubs(pool: Int)
    /// Attaching lazy stubs to a restored pool threw.
    case lazyAttachment(pool: Int, message: String)
    /// The runtime's spec decoder threw.
    case specDecoding(pool: Int, id: UInt64, message: String)
    /// A resolved target lies in the first page (a null or near-null function pointer).
    case invalidTarget(stub: Int, address: UInt)
    /// Creating a pool or allocating its stubs failed.
    case pool(StubPoolError)
    /// Committing the blobs failed.
    case arena(CodeArenaError)
    /// Reading or writing an image file.
    case system(SystemError)

    /// A one-line explanation naming the pool, stub, symbol or offset concerned.
    public var description: String {
        switch self {
        case .unnameableAddress(let address, let referrer):
            "\(referrer): no rule names 0x\(String(address, radix: 16)) (not a stub or blob of the image, not a runtime symbol, not in a loaded object with an exported symbol or build-id)"
        case .pendingWithoutEncoder(let pool): "pool \(pool) has pending lazy stubs but no spec encoder"
        case .specEncoding(let pool, let id, let message): "pool \(pool) stub #\(id): encoding its lazy spec failed: \(message)"
        case .duplicatePool(let pool): "pool \(pool) was given twice"
        case .payloadDataSlots(let pool): "pool \(pool) keeps its data slots in its payloads, which images do not save"
        case .truncated(let needed, let available, let reading):
            "truncated image: \(reading) needs \(needed) bytes, \(available) left"
        case .badMagic: "not a StubPool image (bad magic)"
        case .unsupportedVersion(let version): "image format version \(version), this build reads \(StubImage.formatVersion)"
        case .foreignArchitecture(let architecture): "image for \(architecture), this process runs \(Architecture.host.rawValue)"
        case .pageSizeMismatch(let image, let host): "image taken with \(image)-byte pages, this process has \(host)"
        case .checksumMismatch(let stored, let computed):
            "image checksum 0x\(String(stored, radix: 16)) does not match its content (0x\(String(computed, radix: 16)))"
        case .corrupt(let message): "corrupt image: \(message)"
        case .templateMismatch(let pool, let variant): "pool \(pool): \(variant) stubs of this build differ from the image's"
        case .unresolvedSymbol(let name): "no loaded object exports \(name)"
        case .objectNotLoaded(let path, let buildID): "no loaded object has build-id \(buildID) (was \(path))"
        case .unresolvedRuntimeSymbol(let name): "the runtime's resolver has no address for \(name)"
        case .missingLazyStubs(let pool): "pool \(pool) has pending lazy stubs but no lazy stubs to attach them to"
        case .lazyAttachment(let pool, let message): "pool \(pool): attaching lazy stubs failed: \(message)"
        case .specDecoding(let pool, let id, let message): "pool \(pool) stub #\(id): decoding its lazy spec failed: \(message)"
        case .invalidTarget(let stub, let address): "stub \(stub) of the image resolves to 0x\(String(address, radix: 16))"
        case .pool(let error): "\(error)"
        case .arena(let error): "\(error)"
        case .system(let error): "\(error)"
        }
    }
}
