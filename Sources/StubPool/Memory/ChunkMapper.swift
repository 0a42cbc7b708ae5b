/// Maps chunks: a code region from a template followed by an anonymous read+write data region
/// (and the stubs' payloads, if any).
enum ChunkMapper {
    /// Maps one chunk. `initializeData` fills the data region (given its first byte) before any
    /// code is executable; `populateData` faults all of it in first, for one that writes it all.
    /// With `guarded`, code pages are BTI-guarded where the host supports it (templates with
    /// landing pads). On failure nothing stays mapped.
    static func map(
        template: CodeTemplate,
        geometry: ChunkGeometry,
        payloadBytes: Int,
        strategy: CodeStrategy,
        guarded: Bool,
        populateData: Bool = true,
        initializeData: (UnsafeMutableRawPointer) -> Void
    ) throws(SystemError) -> Mapping {
        // One anonymous read+write reservation for the whole chunk; the code part is replaced or
        // protected below before it is ever executable.
        let size = geometry.chunkSize + payloadBytes
        let mapping = Mapping(adopting: try Kernel.mapAnonymous(size: size, protection: Kernel.readWrite), size: size)
        let base = UnsafeMutableRawPointer(bitPattern: mapping.base)!
        // Every data page is written next (unless the data slots live in the payloads): one
        // populate call instead of a fault per page. Kernels before 5.14 (EINVAL) and a refused
        // populate simply fault as before.
        if populateData { try? Kernel.populate(mapping.base + UInt(geometry.codeSize), size: geometry.dataSize) }
        initializeData(base + geometry.codeSize)
        let protection = guarded ? Kernel.readExecuteGuarded : Kernel.readExecute
        switch strategy {
        case .sharedTemplate:
            guard let file = template.file else { preconditionFailure("shared strategy needs a template file") }
            try Kernel.mapSharedFile(
                at: mapping.base, size: geometry.codeSize, protection: protection, fd: file.descriptor.raw)
        case .privateCopy:
            template.bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: geometry.codeSize) }
            try Kernel.protect(mapping.base, size: geometry.codeSize, protection: protection)
            Kernel.flushInstructionCache(mapping.base, size: geometry.codeSize)
        }
        return mapping
    }
}
