/// Builds the code region of a chunk: every slot encoded for its own data slot (where `data`
/// places it; by default in the data region), the anchor slot
/// and any remainder filled with trap bytes. Every chunk of one geometry gets identical bytes.
enum TemplateBuilder {
    // One buffer filled with the trap pattern, each stub's code copied over its slot: a pool's
    // first stub waits for this. Padding every slot with its own trap array and appending it
    // took 13-17 ms per template (16,383 slots), most of a process's first libffi closure.
    static func codeRegion(encoder: any StubEncoder, variant: StubVariant, geometry: ChunkGeometry,
                           data: DataPlacement? = nil) -> [UInt8] {
        let fill = encoder.trapFill
        let slotSize = encoder.slotSize(for: variant)
        precondition(slotSize <= geometry.slotSize && geometry.slotSize % fill.count == 0)
        // The pattern by absolute offset is each slot's padding started afresh: the fill's length
        // divides the slot size and every stub's code length (checked below).
        var bytes = [UInt8](repeating: 0, count: geometry.codeSize)
        bytes.withUnsafeMutableBufferPointer { region in
            for start in stride(from: 0, to: region.count, by: fill.count) {
                for (index, byte) in fill.enumerated() { region[start + index] = byte }
            }
            for slot in 0..<geometry.physicalSlots where slot != geometry.anchorSlot {
                let code = encoder.code(variant, layout: geometry.layout(ofSlot: slot, data: data))
                precondition(code.count <= slotSize, "stub code (\(code.count) B) exceeds its slot (\(slotSize) B)")
                precondition(code.count % fill.count == 0, "stub code (\(code.count) B) is not whole instructions")
                let start = slot * geometry.slotSize
                _ = UnsafeMutableBufferPointer(rebasing: region[start..<start + code.count]).initialize(from: code)
            }
        }
        return bytes
    }
}
