extension ChunkGeometry {
    /// The chunk shape for code slots of `slotSize` bytes in a `codeSize`-byte code region.
    ///
    /// - Throws: ``StubPoolError/invalidConfiguration(_:)`` for a slot size that is not a power of
    ///   two (16...4096), a page size other than 4, 16 or 64 KiB, or a code size no chunk can have.
    public init(pageSize: Int, slotSize: Int, codeSize: Int = ChunkGeometry.defaultCodeSize) throws(StubPoolError) {
        if let problem = Self.problem(pageSize: pageSize, slotSize: slotSize, codeSize: codeSize) {
            throw .invalidConfiguration(problem)
        }
        self.init(valid: pageSize, slotSize: slotSize, codeSize: codeSize)
    }
}
