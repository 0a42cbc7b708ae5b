/// Builds the code region of a chunk: every slot encoded for its own data slot (where `data`
/// places it; by default in the data region), the anchor slot
/// and any remainder filled with trap bytes. Every chunk of one geometry gets identical bytes.
enum TemplateBuilder {
    static func codeRegion(encoder: any StubEncoder, variant: StubVariant, geometry: ChunkGeometry,
                           data: DataPlacement? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(geometry.codeSize)
        for slot in 0..<geometry.physicalSlots {
            if slot == geometry.anchorSlot {
                bytes += encoder.trapBytes(geometry.slotSize)
            } else {
                bytes += encoder.encodeSlot(variant, layout: geometry.layout(ofSlot: slot, data: data))
            }
        }
        bytes += encoder.trapBytes(geometry.codeSize - bytes.count)
        return bytes
    }
}
