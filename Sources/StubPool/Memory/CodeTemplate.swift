
/// How a chunk's code pages come to be executable. Either way no page is ever writable and
/// executable at once.
public enum CodeStrategy: String, Sendable, Hashable, CaseIterable {
    /// The code is written once into a sealed memory file (memfd) per stub variant; every chunk
    /// maps that file read+execute, so code costs physical memory once per process. Code pages are
    /// never writable.
    case sharedTemplate
    /// For systems without memfd: each chunk's code is written into fresh private read+write pages,
    /// which one `mprotect` turns read+execute before any stub is handed out.
    case privateCopy
}

/// The code region every chunk of one (architecture, variant, geometry) maps: its bytes and, for
/// the shared strategy, the sealed memory file holding them.
final class CodeTemplate: Sendable {
    let bytes: [UInt8]
    /// The sealed memory file (shared strategy only).
    let file: TemplateFile?

    final class TemplateFile: Sendable {
        let descriptor: FileDescriptor
        init(_ descriptor: consuming FileDescriptor) { self.descriptor = descriptor }
    }

    private init(bytes: [UInt8], file: TemplateFile?) {
        self.bytes = bytes
        self.file = file
    }

    struct Key: Hashable, Sendable {
        var architecture: Architecture
        var variant: StubVariant
        var geometry: ChunkGeometry
        var strategy: CodeStrategy
        /// Where the stubs' data slots lie (nil: the data region).
        var data: DataPlacement? = nil
    }

    /// Templates are built once per key and kept for the life of the process (a handful of
    /// 256 KiB memory files at most; no mappings). Behind the pool's own lock, whose atomics
    /// ThreadSanitizer sees (it cannot see inside the prebuilt `Synchronization.Mutex`, and
    /// reported the cache as racing).
    private static let cache = Locked<[Key: CodeTemplate]>([:], rank: .codeTemplates, waiting: .block)

    /// The template for `key`, building it on first use.
    static func template(for key: Key, encoder: any StubEncoder) throws(SystemError) -> CodeTemplate {
        try cache.withLock { (cache) throws(SystemError) -> CodeTemplate in
            if let template = cache[key] { return template }
            let bytes = TemplateBuilder.codeRegion(
                encoder: encoder, variant: key.variant, geometry: key.geometry, data: key.data)
            let template: CodeTemplate
            switch key.strategy {
            case .privateCopy:
                template = CodeTemplate(bytes: bytes, file: nil)
            case .sharedTemplate:
                template = CodeTemplate(bytes: bytes, file: try writeSealedFile(bytes, name: "stubpool-\(key.variant)"))
            }
            cache[key] = template
            return template
        }
    }

    /// Writes `bytes` into a new memory file through a temporary writable (never executable)
    /// mapping, then seals the file against any further write.
    private static func writeSealedFile(_ bytes: [UInt8], name: String) throws(SystemError) -> TemplateFile {
        let descriptor = FileDescriptor(adopting: try Kernel.createMemoryFile(name: name))
        try Kernel.truncate(descriptor.raw, size: bytes.count)
        do {
            let writer = Mapping(
                adopting: try Kernel.mapSharedFile(size: bytes.count, protection: Kernel.readWrite, fd: descriptor.raw),
                size: bytes.count)
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawPointer(bitPattern: writer.base)!.copyMemory(
                    from: source.baseAddress!, byteCount: bytes.count)
            }
            _ = consume writer  // unmapped here: sealing needs no writable mapping left
        }
        try Kernel.sealAgainstWrites(descriptor.raw)
        return TemplateFile(descriptor)
    }
}
