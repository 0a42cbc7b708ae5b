/// Owner of one mapped address range; unmapping it is the owner's job and happens exactly once.
struct Mapping: ~Copyable, Sendable {
    /// First byte of the range.
    let base: UInt
    /// Length of the range in bytes.
    let size: Int

    /// Takes ownership of a range the caller has just mapped.
    init(adopting base: UInt, size: Int) {
        self.base = base
        self.size = size
    }

    deinit {
        // munmap of a range we own fails only transiently (ENOMEM when splitting mappings hits
        // the map-count limit, or an injected fault): try once more rather than leak it.
        if (try? Kernel.unmap(base, size: size)) == nil { try? Kernel.unmap(base, size: size) }
    }
}

/// Owner of an open file descriptor.
struct FileDescriptor: ~Copyable, Sendable {
    let raw: Int32

    init(adopting raw: Int32) { self.raw = raw }

    deinit { try? Kernel.close(raw) }
}
