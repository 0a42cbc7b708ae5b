/// What an image holds, counted: ``StubImage/summary(encodedSize:)``. `Codable`, printable.
public struct ImageSummary: Codable, Sendable, Hashable, CustomStringConvertible {
    /// One saved pool.
    public struct PoolEntry: Codable, Sendable, Hashable {
        /// The pool's position in the image (what ``StubImage/stubIndex(pool:id:)`` takes).
        public var index: Int
        /// The pool's configured name, if any.
        public var name: String?
        /// The pool's stub kind.
        public var kind: StubKind
        /// The pool's placement, as text.
        public var placement: String
        /// Whether the pool's stubs begin with landing pads.
        public var landingPads: Bool
        /// Whether the pool hands out lazy stubs.
        public var lazyBatches: Bool
        /// Live stubs saved.
        public var live: Int
        /// Pending lazy stubs saved (with their specs).
        public var pending: Int
        /// Stubs with names given by the runtime.
        public var named: Int
        /// The hash of the pool's stub code the image was made with, in hexadecimal: a restore
        /// refuses a pool whose encoder produces different code.
        public var templateHash: String
    }

    /// The binary format's version.
    public var formatVersion: UInt32
    /// The architecture the image was made on (`x86_64`, `arm64`).
    public var architecture: String
    /// The page size the image was made with.
    public var pageSize: Int
    /// Bytes of the encoded image.
    public var bytes: Int
    /// Every saved pool, in image order.
    public var pools: [PoolEntry]
    /// Live and pending stubs by kind.
    public var stubsByKind: [String: Int]
    /// Arena blobs saved.
    public var blobs: Int
    /// Bytes of code in those blobs.
    public var blobBytes: Int
    /// Address-valued fields of blobs.
    public var blobFields: Int
    /// Targets, contexts and fields by what they refer to: `stub`, `blob`, `symbol`, `plain`.
    public var referencesByKind: [String: Int]
    /// Symbols by rule: `exported`, `objectOffset`, `runtime`.
    public var symbolsByKind: [String: Int]
    /// The loaded objects named by build-id.
    public var objects: [ObjectEntry]

    /// A loaded object (executable or shared library) that addresses are offsets into.
    public struct ObjectEntry: Codable, Sendable, Hashable {
        /// The object's path when the image was made (informative: restore matches the build-id).
        public var path: String
        /// Hexadecimal.
        public var buildID: String
    }

    /// Image bytes per saved stub, blobs and tables included (0 for an image without stubs).
    public var bytesPerStub: Double {
        let stubs = pools.reduce(0) { $0 + $1.live + $1.pending }
        return stubs == 0 ? 0 : Double(bytes) / Double(stubs)
    }

    /// A few lines: format, counts, pools and objects.
    public var description: String {
        func counts(_ values: [String: Int]) -> String {
            values.isEmpty ? "none" : values.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        }
        var text = "StubPool image v\(formatVersion), \(architecture), \(pageSize)-byte pages, \(bytes) bytes"
        text += " (\((bytesPerStub * 10).rounded() / 10) per stub)\n"
        for pool in pools {
            text += "  pool \(pool.index) \(pool.name ?? "(unnamed)"): \(pool.kind.rawValue), \(pool.placement)"
            text += (pool.landingPads ? ", landing pads" : "") + (pool.lazyBatches ? ", lazy" : "")
            text += ": \(pool.live) live, \(pool.pending) pending, \(pool.named) named, template \(pool.templateHash)\n"
        }
        text += "  stubs by kind: \(counts(stubsByKind))\n"
        text += "  blobs: \(blobs) (\(blobBytes) bytes, \(blobFields) address fields)\n"
        text += "  references: \(counts(referencesByKind))\n"
        text += "  symbols: \(counts(symbolsByKind))\n"
        for object in objects { text += "  object \(object.path) build-id \(object.buildID)\n" }
        return text
    }
}

extension StubImage {
    /// Counts of what the image holds (`encodedSize`: the size of its file, if known).
    public func summary(encodedSize: Int? = nil) -> ImageSummary {
        var references: [String: Int] = [:]
        func count(_ reference: ImageReference) {
            let key = switch reference {
            case .plain: "plain"
            case .stub: "stub"
            case .blob: "blob"
            case .symbol: "symbol"
            }
            references[key, default: 0] += 1
        }
        var entries = pools.enumerated().map { index, pool in
            ImageSummary.PoolEntry(index: index, name: pool.name, kind: pool.kind, placement: pool.placement.description,
                                   landingPads: pool.landingPads, lazyBatches: pool.lazyBatches, live: 0, pending: 0, named: 0,
                                   templateHash: "0x" + String(pool.templateHash, radix: 16))
        }
        var byKind: [String: Int] = [:]
        for (index, stub) in stubs.enumerated() {
            if stub.isPending { entries[stub.pool].pending += 1 } else {
                entries[stub.pool].live += 1
                count(stub.target)
                count(stub.context)
            }
            if stubNames[index] != nil { entries[stub.pool].named += 1 }
            byKind[pools[stub.pool].kind.rawValue, default: 0] += 1
        }
        for blob in blobs { for field in blob.fields { count(field.value) } }
        var symbolKinds: [String: Int] = [:]
        for symbol in symbols {
            let key = switch symbol {
            case .exported: "exported"
            case .objectOffset: "objectOffset"
            case .runtime: "runtime"
            }
            symbolKinds[key, default: 0] += 1
        }
        return ImageSummary(
            formatVersion: Self.formatVersion, architecture: architecture.rawValue, pageSize: pageSize,
            bytes: encodedSize ?? encoded().count, pools: entries, stubsByKind: byKind, blobs: blobs.count,
            blobBytes: blobs.reduce(0) { $0 + $1.bytes.count }, blobFields: blobs.reduce(0) { $0 + $1.fields.count },
            referencesByKind: references, symbolsByKind: symbolKinds,
            objects: objects.map { ImageSummary.ObjectEntry(path: $0.path, buildID: $0.buildID.hexadecimal) })
    }
}

extension [UInt8] {
    /// Two lowercase hex digits per byte.
    var hexadecimal: String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
