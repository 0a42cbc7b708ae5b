import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A system call StubPool makes.
public enum SystemOperation: String, Sendable, Hashable, CaseIterable {
    /// Mapping chunks, arena views and templates, and reserving address space.
    case mmap
    /// Returning chunks, views and reservations to the system.
    case munmap
    /// Turning a private code copy read+execute (the ``CodeStrategy/privateCopy`` strategy only).
    case mprotect
    /// Populating fresh data pages (`MADV_POPULATE_WRITE`) and dropping freed ones.
    case madvise
    /// Creating a template's or an arena's memory file.
    case memfdCreate = "memfd_create"
    /// Sizing a template or growing an arena's file.
    case ftruncate
    /// Sealing a template against writes and resizing.
    case addSeals = "fcntl(F_ADD_SEALS)"
    /// Closing a descriptor.
    case close
    /// Measuring resident pages for statistics.
    case mincore
    /// Making new or patched code visible to every thread's instruction fetch.
    case membarrier
    /// Creating a profiling output file (perf map, jitdump).
    case open
    /// Writing a profiling output file or an image.
    case write
    /// Reading an image file.
    case read
    /// Creating the jitdump directory.
    case mkdir
}

/// A failed system call: which operation and the `errno` it left.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The system call that failed.
    public let operation: SystemOperation
    /// The `errno` value read right after the call.
    public let errno: Int32

    /// A failure of `operation` that left `errno`.
    public init(operation: SystemOperation, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    /// The call, the `strerror` text and the number, e.g. `mmap failed: Cannot allocate memory (errno 12)`.
    public var description: String {
        "\(operation.rawValue) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
