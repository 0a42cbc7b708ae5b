/// One region of the code arena: a memory file mapped twice — a read+write view used only for
/// writing and a read+execute view used only for running. Neither view ever changes protection.
final class ArenaRegion: Sendable {
    let size: Int
    let writable: UInt
    let executable: UInt
    private let file: FileDescriptor
    private let writer: Mapping
    private let runner: Mapping

    /// Maps a fresh region of `size` bytes (a page multiple). On failure nothing stays mapped.
    init(size: Int) throws(SystemError) {
        let file = FileDescriptor(adopting: try Kernel.createMemoryFile(name: "stubpool-arena"))
        try Kernel.truncate(file.raw, size: size)
        let writer = Mapping(adopting: try Kernel.mapSharedFile(size: size, protection: Kernel.readWrite, fd: file.raw), size: size)
        let runner = Mapping(adopting: try Kernel.mapSharedFile(size: size, protection: Kernel.readExecute, fd: file.raw), size: size)
        self.size = size
        self.writable = writer.base
        self.executable = runner.base
        self.file = file
        self.writer = writer
        self.runner = runner
    }

    /// Copies `bytes` to `offset` through the writable view.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + bytes.count <= size)
        UnsafeMutableRawPointer(bitPattern: writable + UInt(offset))!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }

    /// Fills `count` bytes at `offset` with the repeated `pattern`.
    func fill(_ pattern: [UInt8], at offset: Int, count: Int) {
        precondition(offset >= 0 && offset + count <= size)
        let base = UnsafeMutableRawPointer(bitPattern: writable + UInt(offset))!
        for index in 0..<count { base.storeBytes(of: pattern[index % pattern.count], toByteOffset: index, as: UInt8.self) }
    }

    var executableRange: Range<UInt> { executable..<executable + UInt(size) }
}
