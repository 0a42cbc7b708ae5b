import Testing
@testable import StubPool

/// The code region is the slot-by-slot reference: each stub's code padded with trap bytes from
/// the end of its code, the anchor and the remainder trap bytes.
@Suite struct TemplateBuilderTests {
    static func reference(encoder: any StubEncoder, variant: StubVariant, geometry: ChunkGeometry, data: DataPlacement?) -> [UInt8] {
        var bytes: [UInt8] = []
        for slot in 0..<geometry.physicalSlots {
            bytes += slot == geometry.anchorSlot
                ? encoder.trapBytes(geometry.slotSize)
                : encoder.encodeSlot(variant, layout: geometry.layout(ofSlot: slot, data: data))
        }
        return bytes + encoder.trapBytes(geometry.codeSize - bytes.count)
    }

    @Test(arguments: Architecture.allCases)
    func everyVariantMatchesTheSlotBySlotReference(architecture: Architecture) throws {
        let encoder = architecture.encoder
        for kind in StubKind.allCases {
            for landingPad in [false, true] {
                for lazyEntry in kind == .context ? [false, true] : [false] {
                    let variant = StubVariant(kind: kind, landingPad: landingPad, lazyEntry: lazyEntry)
                    let slotSize = encoder.slotSize(for: variant)
                    for codeSize in [64 * 1024, ChunkGeometry.defaultCodeSize] {
                        let geometry = try ChunkGeometry(pageSize: 4096, slotSize: slotSize, codeSize: codeSize)
                        var placements: [DataPlacement?] = [nil]
                        let inPayloads = geometry.dataInPayloads(payloadSize: 56, offset: 16)
                        if kind != .forward && !lazyEntry && geometry.farthestDataReference(inPayloads) <= encoder.dataReach {
                            placements.append(inPayloads)  // as pools allow it
                        }
                        for data in placements {
                            let built = TemplateBuilder.codeRegion(encoder: encoder, variant: variant, geometry: geometry, data: data)
                            #expect(built == Self.reference(encoder: encoder, variant: variant, geometry: geometry, data: data),
                                    "\(architecture) \(variant) \(codeSize) \(data.map { "\($0)" } ?? "data region")")
                        }
                    }
                }
            }
        }
    }
}
