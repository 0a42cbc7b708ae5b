import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Counts the `fork()` calls this process took part in, as parent or as child (`pthread_atfork`
/// handlers bump it on both sides). Memory files shared across a fork compare the generation they
/// were made private in against it: a changed generation means another process may map them too.
/// `posix_spawn` and `vfork` run no fork handlers and share nothing that could be written.
enum ForkGeneration {
    private static let counter = Atomic<UInt64>(0)

    /// Installs the handlers (once per process); true if they are installed.
    static let installed: Bool = {
        pthread_atfork(nil, { ForkGeneration.bump() }, { ForkGeneration.bump() }) == 0
    }()

    private static func bump() { counter.add(1, ordering: .releasing) }

    /// The current generation (installing the handlers first if needed).
    static var current: UInt64 {
        _ = installed
        return counter.load(ordering: .acquiring)
    }
}
