/// The code StubPool generates for one architecture and stub variant, for tools, documentation
/// and cross-checks. Works on any host: an x86-64 machine can inspect AArch64 templates.
public struct TemplateInspection: Sendable {
    /// The architecture whose code this is.
    public let architecture: Architecture
    /// The stub variant whose code this is.
    public let variant: StubVariant
    /// The chunk shape the template is built for.
    public let geometry: ChunkGeometry
    private let encoder: any StubEncoder

    /// The template of `variant` for `architecture`, in a chunk of `codeSize` bytes of code laid
    /// out for `pageSize`-byte pages.
    ///
    /// - Throws: ``StubPoolError/invalidConfiguration(_:)`` for a code size no chunk can have, or
    ///   an unsupported page size.
    public init(architecture: Architecture, variant: StubVariant,
                codeSize: Int = ChunkGeometry.defaultCodeSize, pageSize: Int = 4096) throws(StubPoolError) {
        let encoder = architecture.encoder
        let slotSize = encoder.slotSize(for: variant)
        self.architecture = architecture
        self.variant = variant
        self.encoder = encoder
        self.geometry = try ChunkGeometry(pageSize: pageSize, slotSize: slotSize, codeSize: codeSize)
    }

    /// Bytes of one code slot.
    public var slotSize: Int { geometry.slotSize }

    /// The bytes of code slot `index` of the chunk, trap fill included.
    /// - Throws: ``StubPoolError/invalidConfiguration(_:)`` for an index that is not a stub slot.
    public func slot(_ index: Int = 0) throws(StubPoolError) -> [UInt8] {
        guard (0..<geometry.anchorSlot).contains(index) else {
            throw .invalidConfiguration("slot \(index) is not a stub slot (0..<\(geometry.anchorSlot))")
        }
        return encoder.encodeSlot(variant, layout: geometry.layout(ofSlot: index))
    }

    /// The whole code region every chunk maps.
    public var codeRegion: [UInt8] { TemplateBuilder.codeRegion(encoder: encoder, variant: variant, geometry: geometry) }

    /// Offset inside a slot of the released entry, for kinds that have one.
    public var releasedEntryOffset: Int? { encoder.releasedEntryOffset(for: variant) }

    /// Offset inside a slot of the lazy entry, for lazy-capable context stubs.
    public var lazyEntryOffset: Int? { encoder.lazyEntryOffset(for: variant) }
}
