import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A system call StubPool makes.
public enum SystemOperation: String, Sendable, Hashable, CaseIterable {
    case mmap
    case munmap
    case mprotect
    case madvise
    case memfdCreate = "memfd_create"
    case ftruncate
    case addSeals = "fcntl(F_ADD_SEALS)"
    case close
    case mincore
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

    public init(operation: SystemOperation, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(operation.rawValue) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
