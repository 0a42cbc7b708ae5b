import ArgumentParser
import Foundation
import StubPoolPeers

/// libffi closures from Debian's libffi ("libffi") against StubPool's closures (`stubpool_ffi_*`,
/// what the drop-in serves; "stubpool"), same cif and handler: allocate+prepare and free per
/// closure with 100,000 and with 1,000 live, resident bytes per live closure at both sizes, and a
/// hot call.
///
/// Each peer is measured in a fresh process of this executable (`stubpool closure-life`), five
/// times, alternating: in the benchmark's own process, libffi's closures would come out of heap
/// memory earlier phases had freed, and their resident cost would look smaller than a program's.
/// Times keep each peer's fastest process, resident bytes the median: this machine runs whole
/// processes at two speeds (≈30 and ≈50 ns per allocate+prepare, for either peer), and a median
/// of five can land on the slow speed for one peer and the fast for the other — one run's
/// ratios then went from 0.69× to 1.05× with no change in the code.
enum ClosureLifeCycle {
    struct Figures: Codable {
        var allocPrepNanoseconds: [String: Double] = [:]
        var freeNanoseconds: [String: Double] = [:]
        var residentBytes: [String: Double] = [:]
        var callNanoseconds = 0.0
    }

    // 1,000 first: its resident figure needs pages no earlier round touched.
    static let sizes: [(live: Int, rounds: Int, suffix: String)] = [(1_000, 201, "_1k"), (100_000, 5, "")]

    /// Measures one peer in this process. One closure is made and freed first, so that the figures
    /// are what each further closure costs, not the first pool or trampoline table.
    static func measure(_ peer: LibffiPeer) -> Figures {
        var figures = Figures()
        peer.free(peer.make().closure)
        for (live, rounds, suffix) in sizes {
            var allocations: [Double] = [], frees: [Double] = []
            var closures: [UnsafeMutableRawPointer] = []
            closures.reserveCapacity(live)
            for round in 0..<rounds {
                let residentBefore = processResidentBytes()
                let start = ContinuousClock.now
                for _ in 0..<live { closures.append(peer.make().closure) }
                allocations.append(nanoseconds(ContinuousClock.now - start) / Double(live))
                // The first round maps fresh memory: what a live closure costs (the array of
                // closures, touched for the first time too, not counted).
                if round == 0 {
                    figures.residentBytes[suffix] = Double(processResidentBytes() - residentBefore - live * 8) / Double(live)
                }
                let freeStart = ContinuousClock.now
                for closure in closures { peer.free(closure) }
                frees.append(nanoseconds(ContinuousClock.now - freeStart) / Double(live))
                closures.removeAll(keepingCapacity: true)
            }
            figures.allocPrepNanoseconds[suffix] = median(allocations)
            figures.freeNanoseconds[suffix] = median(frees)
        }
        let (closure, code) = peer.make()
        let calls = 2_000_000
        figures.callNanoseconds = nanosecondsPerOperation(operations: calls) { blackHole(callLoop(code, count: calls)) }
        peer.free(closure)
        return figures
    }

    /// Runs both peers in child processes, alternating, and records the fastest times and the
    /// median resident bytes.
    static func run(into results: inout HeadlineBenchmark.Results, repeats: Int = 5) throws {
        var samples: [String: [Figures]] = [:]
        for _ in 0..<repeats {
            for subject in ["libffi", "stubpool"] { samples[subject, default: []].append(try child(subject)) }
        }
        for (subject, figures) in samples.sorted(by: { $0.key < $1.key }) {
            for (_, _, suffix) in sizes {
                results.record("closure_alloc_prep\(suffix)_ns", subject, figures.compactMap { $0.allocPrepNanoseconds[suffix] }.min() ?? 0)
                results.record("closure_free\(suffix)_ns", subject, figures.compactMap { $0.freeNanoseconds[suffix] }.min() ?? 0)
                results.record("closure_resident\(suffix)_bytes", subject, median(figures.compactMap { $0.residentBytes[suffix] }))
            }
            results.record("closure_call_ns", subject, figures.map(\.callNanoseconds).min() ?? 0)
        }
    }

    private static func child(_ subject: String) throws -> Figures {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["closure-life", "--peer", subject]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ChildFailed(subject: subject, status: process.terminationStatus) }
        return try JSONDecoder().decode(Figures.self, from: data)
    }

    struct ChildFailed: Error, CustomStringConvertible {
        let subject: String, status: Int32
        var description: String { "stubpool closure-life --peer \(subject) exited with \(status)" }
    }
}

/// `stubpool closure-life --peer libffi|stubpool`: one peer's closure figures as JSON, for the
/// headline (``ClosureLifeCycle``), which runs it in fresh processes.
struct ClosureLifeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closure-life",
        abstract: "One peer's libffi closure life cycle, as JSON (the headline runs it in fresh processes).",
        shouldDisplay: false)

    enum Peer: String, ExpressibleByArgument { case libffi, stubpool }

    @Option(help: "libffi (Debian's closures) or stubpool (the drop-in's).")
    var peer: Peer

    func run() throws {
        let figures = ClosureLifeCycle.measure(LibffiPeer(allocator: peer == .libffi ? .system : .stubPool))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        print(String(decoding: try encoder.encode(figures), as: UTF8.self))
    }
}
