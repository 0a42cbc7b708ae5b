/// What an image holds, counted: ``StubImage/summary(encodedSize:)``. `Codable`, printable.
public struct ImageSummary: Codable, Sendable, Hashable, CustomStringConvertible {
    public struct PoolEntry: Codable, Sendable, Hashable {
        public var index: Int
        public var name: String?
        public var kind: StubKind
        public var placement: String
        public var landingPads: Bool
        public var lazyBatches: Bool
        public var live: Int
        public var pending: Int
        /// Stubs with names given by the runtime.
        public var named: Int
        public var templateHash: String
    }

    public var formatVersion: UInt32
    public var architecture: String
    public var pageSize: Int
    /// Bytes of the encoded image.
    public var bytes: Int
    public var pools: [PoolEntry]
    /// Live and pending stubs by kind.
    public var stubsByKind: [String: Int]
    public var blobs: Int
    public var blobBytes: Int
    /// Address-valued fields of blobs.
    public var blobFields: Int
    /// Targets, contexts and fields by what they refer to: `stub`, `blob`, `symbol`, `plain`.
    public var referencesByKind: [String: Int]
    /// Symbols by rule: `exported`, `objectOffset`, `runtime`.
    public var symbolsByKind: [String: Int]
    /// The loaded objects named by build-id.
    public var objects: [ObjectEntry]

    public struct ObjectEntry: Codable, Sendable, Hashable {
        public var path: String
        /// Hexadecimal.
        public var buildID: String
    }

    public var bytesPerStub: Double {
        let stubs = pools.reduce(0) { $0 + $1.live + $1.pending }
        return stubs == 0 ? 0 : Double(bytes) / Double(stubs)
    }

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
