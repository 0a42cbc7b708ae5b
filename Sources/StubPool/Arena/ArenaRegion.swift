/// One region of the code arena: a memory file mapped twice — a read+write view used only for
/// writing and a read+execute view used only for running. Neither view ever changes protection.
///
/// **fork.** Both views are shared mappings, so after `fork()` parent and child would write into
/// one file that both run. A region therefore remembers the ``ForkGeneration`` its file belongs
/// to; the first write after a fork, in either process, first gives the region a file of its own
/// (``makePrivate()``): a fresh memory file with a copy of the contents, mapped read+execute over
/// the old view at the same address (`MAP_FIXED` replaces it in one step: a thread running the
/// code meanwhile sees the old pages or the identical new ones), and a new writable view. The other
/// process keeps the old file. Code addresses never change; nothing is copied at `fork()` itself.
///
/// Mutable state is guarded by the owning arena's lock.
final class ArenaRegion: @unchecked Sendable {
    let size: Int
    let executable: UInt
    private(set) var writable: UInt
    private var file: FileDescriptor
    private var writer: Mapping
    private let runner: Mapping
    /// The fork generation in which this process last made the file its own.
    private var generation: UInt64

    /// Maps a fresh region of `size` bytes (a page multiple). On failure nothing stays mapped.
    init(size: Int) throws(SystemError) {
        let generation = ForkGeneration.current
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
        self.generation = generation
    }

    /// Gives the region a memory file of its own if a fork happened since it last had one (see the
    /// type's documentation). On failure nothing changed: the region still uses the shared file,
    /// and the caller must not write.
    func makePrivate() throws(SystemError) {
        let current = ForkGeneration.current
        guard generation != current else { return }
        let fresh = FileDescriptor(adopting: try Kernel.createMemoryFile(name: "stubpool-arena"))
        try Kernel.truncate(fresh.raw, size: size)
        let newWriter = Mapping(adopting: try Kernel.mapSharedFile(size: size, protection: Kernel.readWrite, fd: fresh.raw), size: size)
        UnsafeMutableRawPointer(bitPattern: newWriter.base)!
            .copyMemory(from: UnsafeRawPointer(bitPattern: writable)!, byteCount: size)
        try Kernel.mapSharedFile(at: executable, size: size, protection: Kernel.readExecute, fd: fresh.raw)
        writable = newWriter.base
        writer = newWriter
        file = fresh
        generation = current
    }

    /// Copies `bytes` to `offset` through the writable view. The arena calls ``makePrivate()``
    /// (under its lock) first. Not checked here: another thread may fork while this write runs,
    /// and trapping the parent for it would be worse than the write reaching the child's view of a
    /// file whose arena the child inherits locked (see ``CodeArena``).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset <= size && bytes.count <= size - offset)
        UnsafeMutableRawPointer(bitPattern: writable + UInt(offset))!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }

    /// Fills `count` bytes at `offset` with the repeated `pattern`.
    func fill(_ pattern: [UInt8], at offset: Int, count: Int) {
        precondition(offset >= 0 && offset <= size && count <= size - offset)
        let base = UnsafeMutableRawPointer(bitPattern: writable + UInt(offset))!
        for index in 0..<count { base.storeBytes(of: pattern[index % pattern.count], toByteOffset: index, as: UInt8.self) }
    }

    var executableRange: Range<UInt> { executable..<executable + UInt(size) }
}
