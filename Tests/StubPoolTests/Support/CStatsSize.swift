/// A zeroed C statistics struct with its `struct_size` set, as a C caller sets it before
/// `stubpool_*_statistics`.
func sizedStats<Stats>(_ type: Stats.Type) -> Stats {
    let size = MemoryLayout<Stats>.size
    let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<Stats>.alignment)
    defer { raw.deallocate() }
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    raw.storeBytes(of: UInt32(size), as: UInt32.self)
    return raw.load(as: Stats.self)
}
