import ArgumentParser
import StubPoolPeers

extension HopKind: ExpressibleByArgument {}
extension HopPlacement: ExpressibleByArgument {}

struct IcacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "icache",
        abstract: "Chains of hot stubs (each stub jumps to the next) over placements and kinds: ns per hop.",
        discussion: """
            Prints CSV (placement,kind,stubs,ns_per_hop,l1i_misses,itlb_misses); miss columns are \
            misses per hop, empty (null in JSON) where hardware counters are unsupported. \
            Plot with Benchmarks/plot_icache.py.
            """)

    @Flag(help: "Print {\"points\": [...]} instead of CSV.")
    var json = false

    @Option(help: "Longest chain; chains double from 1 up to it.")
    var maxStubs = 16_384

    @Option(parsing: .upToNextOption, help: "Kinds: forward, arena.")
    var kinds: [HopKind] = HopKind.allCases

    @Option(parsing: .upToNextOption, help: "Placements: packed, pageStart, staggered, random.")
    var placements: [HopPlacement] = HopPlacement.allCases

    @Option(help: "Timed runs per point (the median is reported).")
    var repeats = 9

    @Option(help: "Hops per timed run.")
    var hops = 2_000_000

    func validate() throws {
        guard maxStubs >= 1, maxStubs <= 1 << 20 else { throw ValidationError("--max-stubs must be in 1...1048576") }
        guard repeats >= 1, hops >= 1 else { throw ValidationError("--repeats and --hops must be positive") }
    }

    func run() throws {
        let sizes = sequence(first: 1) { $0 * 2 }.prefix { $0 <= maxStubs }
        let counters: HardwareCounters?
        switch HardwareCounters.open() {
        case .success(let opened): counters = consume opened
        case .failure(let error):
            progress("icache: hardware counters unsupported here (\(error)); miss columns left empty")
            counters = nil
        }
        let experiment = IcacheExperiment(kinds: kinds, placements: placements, sizes: Array(sizes),
                                          repeats: repeats, hopsPerRun: hops)
        let points = try experiment.run(counters: counters)
        IcacheExperiment.summary(points).forEach { progress("icache: " + $0) }
        print(json ? IcacheExperiment.json(points) : IcacheExperiment.csv(points))
    }
}
