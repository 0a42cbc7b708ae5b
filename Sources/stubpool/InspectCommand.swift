import ArgumentParser
import Foundation
import StubPool

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show pools and arenas: chunks, occupancy, stubs (names, targets, contexts) and blobs, as text or JSON.",
        discussion: """
            With FILE: reads JSON a program wrote from StubPool's inspection API (an InspectionReport, \
            a PoolInspection or an ArenaInspection, encoded with JSONEncoder) and prints it. Without: \
            builds a sample pool and arena in this process (--kind, --stubs, --blobs) and prints those, \
            to see how stubs and blobs are laid out.
            """)

    @Argument(help: "A JSON file from pool.inspect(), arena.inspect() or InspectionReport.")
    var file: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Summaries only: no stub or blob lines.")
    var summary = false

    @Option(help: "Sample: stub kind (\(StubKind.allCases.map(\.rawValue).joined(separator: ", "))).")
    var kind: StubKind = .forward

    @Option(help: "Sample: stubs to allocate.")
    var stubs = 8

    @Option(help: "Sample: arena blobs to commit.")
    var blobs = 4

    func run() throws {
        var report = try file.map(Self.read) ?? sample()
        if summary {
            for index in report.pools.indices {
                for chunk in report.pools[index].chunks.indices { report.pools[index].chunks[chunk].stubs = [] }
            }
            for index in report.arenas.indices { report.arenas[index].blobs = [] }
        }
        try printDocument(report, json: json)
    }

    /// Any of the three documents, tried in turn.
    static func read(_ path: String) throws -> InspectionReport {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        if let report = try? decoder.decode(InspectionReport.self, from: data) { return report }
        if let pool = try? decoder.decode(PoolInspection.self, from: data) { return InspectionReport(pools: [pool]) }
        do {
            return InspectionReport(arenas: [try decoder.decode(ArenaInspection.self, from: data)])
        } catch {
            throw ValidationError("\(path): not an InspectionReport, PoolInspection or ArenaInspection: \(error)")
        }
    }

    func sample() throws -> InspectionReport {
        guard stubs >= 0, blobs >= 0 else { throw ValidationError("--stubs and --blobs must not be negative") }
        let arena = CodeArena()
        let ret: [UInt8] = Architecture.host == .x86_64 ? [0xC3] : [0xC0, 0x03, 0x5F, 0xD6]
        let bodies = blobs == 0 ? [] : try arena.commit(Array(repeating: ret, count: blobs), names: (0..<blobs).map { "sample-body#\($0)" })
        let pool = try StubPool(.init(kind: kind, name: "sample-\(kind)"))
        let noop: @convention(c) () -> Void = {}
        let target = bodies.first?.entry ?? unsafeBitCast(noop, to: UnsafeRawPointer.self)
        if stubs > 0 {
            let range = try pool.allocate(count: stubs, target: target, context: 42)
            try pool.setName("sample-named-stub", for: range[0])
        }
        return InspectionReport(pools: [pool.inspect()], arenas: [arena.inspect()])
    }
}
