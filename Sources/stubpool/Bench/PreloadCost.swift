import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What preloading the libffi drop-in costs a process that never makes a closure: start-up time
/// (wall clock from spawn to exit) and peak resident memory, preloaded minus plain, medians of
/// interleaved runs of `/bin/true` and `python3 -c pass`.
enum PreloadCost {
    /// The drop-in beside this executable (`swift build` puts them in one folder).
    static var dropIn: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("libStubPoolFFI.so").path
    }

    /// Spawns `arguments` (environment plus `extra`), waits, returns (milliseconds, peak KB).
    static func spawn(_ arguments: [String], extra: [String]) -> (milliseconds: Double, peakKilobytes: Double)? {
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != "LD_PRELOAD" }.map { "\($0.key)=\($0.value)" } + extra
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings(arguments), envp = cStrings(environment)
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let start = ContinuousClock.now
        guard posix_spawn(&pid, arguments[0], nil, nil, argv, envp) == 0 else { return nil }
        var status: Int32 = 0
        var usage = rusage()
        guard wait4(pid, &status, 0, &usage) == pid else { return nil }
        let elapsed = start.duration(to: .now).components
        return (Double(elapsed.seconds) * 1e3 + Double(elapsed.attoseconds) / 1e15, Double(usage.ru_maxrss))
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    static func run(into results: inout HeadlineBenchmark.Results, runs: Int = 200) {
        let library = dropIn
        guard FileManager.default.fileExists(atPath: library) else { return }
        let programs: [(name: String, arguments: [String])] = [("true", ["/bin/true"]), ("python", ["/usr/bin/python3", "-c", "pass"])]
        for program in programs where FileManager.default.isExecutableFile(atPath: program.arguments[0]) {
            var plain: [(Double, Double)] = [], preloaded: [(Double, Double)] = []
            for _ in 0..<runs {
                if let outcome = spawn(program.arguments, extra: []) { plain.append(outcome) }
                if let outcome = spawn(program.arguments, extra: ["LD_PRELOAD=\(library)"]) { preloaded.append(outcome) }
            }
            guard !plain.isEmpty, !preloaded.isEmpty else { continue }
            results.record("preload_\(program.name)_startup_ms", "stubpool",
                           median(preloaded.map(\.0)) - median(plain.map(\.0)))
            results.record("preload_\(program.name)_resident_kb", "stubpool",
                           median(preloaded.map(\.1)) - median(plain.map(\.1)))
        }
    }
}
