// Swift helpers shared by the test targets (the unit tests, the crash probe, the fuzz driver).
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new thread and returns once that thread has exited, its TLS destructors
/// included (`pthread_join` returns only then): what tests of thread-exit paths need.
public func onExitingThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let status = pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(status == 0, "pthread_create failed (\(status))")
    pthread_join(thread, nil)
}
