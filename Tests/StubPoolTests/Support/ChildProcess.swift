import Foundation
import Synchronization
@testable import StubPool

/// Runs child processes: sibling executables of the test bundle (built by `swift test` as test
/// dependencies) and external tools.
enum ChildProcess {
    struct Outcome {
        var standardOutput: String
        var standardError: String
        var terminationStatus: Int32
        var terminatedBySignal: Bool
    }

    static func executable(named name: String) -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? bundle.path
        return URL(fileURLWithPath: selfPath).deletingLastPathComponent().appendingPathComponent(name)
    }

    static func run(_ name: String, arguments: [String], environment extra: [String: String] = [:],
                    timeout: Double = 300) throws -> Outcome {
        try run(executable(named: name), arguments: arguments, environment: extra, timeout: timeout)
    }

    /// Runs `executable` with `extra` added to this process's environment, terminating it if it
    /// runs longer than `timeout` seconds.
    static func run(_ executable: URL, arguments: [String], environment extra: [String: String] = [:],
                    timeout: Double = 300) throws -> Outcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        // Children that are meant to die do so at once: no Swift backtracer (which also trips
        // over ThreadSanitizer's fork handling).
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        environment.merge(extra) { $1 }
        process.environment = environment
        // The child inherits the spawning thread's signal mask, and test threads block most
        // signals: gdb then never sees SIGCHLD from its inferior (it hung), and the watchdog's
        // SIGTERM would wait forever. Spawn with nothing blocked, as a shell would.
        var everything = sigset_t(), previous = sigset_t()
        sigemptyset(&everything)
        pthread_sigmask(SIG_SETMASK, &everything, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        // (Shared state in the tests sits behind the pool's `Locked`, not `Synchronization.Mutex`:
        // ThreadSanitizer, which CI runs these tests under, cannot see the Mutex's locking.)
        // Drain stderr on another thread so a child that writes a lot there (a sanitizer report)
        // cannot block on a full pipe while we wait for its stdout.
        let errorData = Locked(Data())
        let drained = DispatchSemaphore(value: 0)
        let errorHandle = error.fileHandleForReading
        DispatchQueue.global().async {
            let data = errorHandle.readDataToEndOfFile()
            errorData.withLock { $0 = data }
            drained.signal()
        }
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        let errData = errorData.withLock { $0 }
        process.waitUntilExit()
        return Outcome(
            standardOutput: String(decoding: outData, as: UTF8.self),
            standardError: String(decoding: errData, as: UTF8.self),
            terminationStatus: process.terminationStatus,
            terminatedBySignal: process.terminationReason == .uncaughtSignal)
    }
}
