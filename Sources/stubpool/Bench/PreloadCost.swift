import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What preloading the libffi drop-in costs a process that never makes a closure: start-up time
/// (wall clock from spawn to exit) and peak resident memory (GNU time's %M), preloaded minus
/// plain, medians of interleaved runs of `/bin/true` and `python3 -c pass`; and the same for a
/// Python process that makes one ctypes callback (the first closure loads the core). The drop-in measured
/// is the one that ships: Examples/CEmbedding/install.sh builds it (plain C, with cc) into a
/// temporary prefix from this executable's build folder.
enum PreloadCost {
    static var buildFolder: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Installs into a temporary prefix; returns the drop-in's path (nil if that failed).
    static func installedDropIn(prefix: URL) -> String? {
        let script = buildFolder.appendingPathComponent("../../../Examples/CEmbedding/install.sh").standardized
        let install = Process()
        install.executableURL = URL(fileURLWithPath: "/bin/bash")
        install.arguments = [script.path, "--prefix", prefix.path, "--from", buildFolder.path]
        install.standardOutput = FileHandle.nullDevice
        guard (try? install.run()) != nil else { return nil }
        install.waitUntilExit()
        let library = prefix.appendingPathComponent("lib/libStubPoolFFI.so").path
        return install.terminationStatus == 0 && FileManager.default.fileExists(atPath: library) ? library : nil
    }

    /// Runs `arguments` under GNU time (environment plus `extra`); returns (milliseconds, peak KB).
    static func spawn(_ arguments: [String], extra: [String: String]) -> (milliseconds: Double, peakKilobytes: Double)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        process.arguments = ["-f", "%M"] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "LD_PRELOAD" }.merging(extra) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let start = ContinuousClock.now
        guard (try? process.run()) != nil else { return nil }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let elapsed = start.duration(to: .now).components
        guard let peak = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isWhitespace).last.flatMap({ Double($0) })
        else { return nil }
        return (Double(elapsed.seconds) * 1e3 + Double(elapsed.attoseconds) / 1e15, peak)
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    static func run(into results: inout HeadlineBenchmark.Results, runs: Int = 200) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { return }
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-preload-\(getpid())")
        defer { try? FileManager.default.removeItem(at: prefix) }
        guard let library = installedDropIn(prefix: prefix) else { return }
        // The last is the other side: a process whose one closure loads the core (a ctypes
        // callback made and called), with no target: what the first closure costs.
        let programs: [(name: String, arguments: [String], runs: Int)] = [
            ("true", ["/bin/true"], runs), ("python", ["/usr/bin/python3", "-c", "pass"], runs),
            ("python_closure", ["/usr/bin/python3", "-c", "import ctypes; ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 1)()"], runs / 4),
        ]
        for program in programs where FileManager.default.isExecutableFile(atPath: program.arguments[0]) {
            var plain: [(Double, Double)] = [], preloaded: [(Double, Double)] = []
            for _ in 0..<program.runs {
                if let outcome = spawn(program.arguments, extra: [:]) { plain.append(outcome) }
                if let outcome = spawn(program.arguments, extra: ["LD_PRELOAD": library]) { preloaded.append(outcome) }
            }
            guard !plain.isEmpty, !preloaded.isEmpty else { continue }
            results.record("preload_\(program.name)_startup_ms", "stubpool",
                           median(preloaded.map(\.0)) - median(plain.map(\.0)))
            results.record("preload_\(program.name)_resident_kb", "stubpool",
                           median(preloaded.map(\.1)) - median(plain.map(\.1)))
        }
    }
}
