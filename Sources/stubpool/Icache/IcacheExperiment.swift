import StubPool
import StubPoolPeers

/// Chains of hot stubs over placements and kinds: nanoseconds per hop and, where available,
/// L1I / iTLB misses per hop.
struct IcacheExperiment {
    var kinds: [HopKind]
    var placements: [HopPlacement]
    var sizes: [Int]
    var repeats: Int
    /// Hops per timed run (the call count is this divided by the chain length, at least one).
    var hopsPerRun: Int

    struct Point {
        let placement: HopPlacement
        let kind: HopKind
        let stubs: Int
        let nanosecondsPerHop: Double
        let l1iMissesPerHop: Double?
        let itlbMissesPerHop: Double?
    }

    /// The placement a pool or arena uses unless told otherwise.
    static let defaultPlacement = HopPlacement.packed

    /// Each repeat builds a fresh chain per placement (earlier ones stay alive, so the new one
    /// lands at other addresses: branch-predictor and cache aliasing luck of one layout averages
    /// out) and times it after one warm-up call; placements take turns, so drift in the machine's
    /// speed hits them alike. Each point is the median of `repeats` runs.
    func run(counters: borrowing HardwareCounters?) throws -> [Point] {
        var points: [Point] = []
        for kind in kinds {
            progress("icache: \(kind.rawValue) chains…")
            for size in sizes {
                let calls = max(1, hopsPerRun / size)
                let hops = Double(calls * size)
                var samples = [[Double]](repeating: [], count: placements.count)
                var chains: [[HopChain]] = placements.map { _ in [] }
                for _ in 0..<repeats {
                    for (index, placement) in placements.enumerated() {
                        let chain = try HopChain(kind: kind, placement: placement, stubs: size)
                        chains[index].append(chain)
                        blackHole(callLoop(chain.entry, count: calls))
                        let start = ContinuousClock.now
                        blackHole(callLoop(chain.entry, count: calls))
                        samples[index].append(nanoseconds(ContinuousClock.now - start) / hops)
                    }
                }
                for (index, placement) in placements.enumerated() {
                    let chain = chains[index][0]
                    let reading = counters?.measure { blackHole(callLoop(chain.entry, count: calls)) }
                    let sorted = samples[index].sorted()
                    points.append(Point(placement: placement, kind: kind, stubs: size,
                                        nanosecondsPerHop: sorted[sorted.count / 2],
                                        l1iMissesPerHop: reading.map { Double($0.l1iMisses) / hops },
                                        itlbMissesPerHop: reading.map { Double($0.itlbMisses) / hops }))
                }
            }
        }
        return points
    }

    /// The icache targets, checked against one run: packed ≥ 10× faster than pageStart
    /// at 64 stubs, and the default placement within 5% of the best at every size.
    static func summary(_ points: [Point]) -> [String] {
        var lines: [String] = []
        for kind in HopKind.allCases {
            let mine = points.filter { $0.kind == kind }
            func value(_ placement: HopPlacement, _ stubs: Int) -> Double? {
                mine.first { $0.placement == placement && $0.stubs == stubs }?.nanosecondsPerHop
            }
            if let packed = value(.packed, 64), let pageStart = value(.pageStart, 64) {
                lines.append("\(kind.rawValue): at 64 stubs pageStart/packed = \(format(pageStart / packed, decimals: 2))× (target ≥ 10×)")
            }
            var worst: (stubs: Int, behind: Double, best: HopPlacement)?
            for stubs in Set(mine.map(\.stubs)).sorted() {
                guard let mineValue = value(defaultPlacement, stubs) else { continue }
                let at = mine.filter { $0.stubs == stubs }
                guard let best = at.min(by: { $0.nanosecondsPerHop < $1.nanosecondsPerHop }) else { continue }
                let behind = mineValue / best.nanosecondsPerHop - 1
                if worst == nil || behind > worst!.behind { worst = (stubs, behind, best.placement) }
            }
            if let worst {
                lines.append("\(kind.rawValue): default (\(defaultPlacement.rawValue)) at most \(format(worst.behind * 100, decimals: 1))% behind the best placement (at \(worst.stubs) stubs, best \(worst.best.rawValue); target ≤ 5%)")
            }
        }
        return lines
    }

    static func csv(_ points: [Point]) -> String {
        var lines = ["placement,kind,stubs,ns_per_hop,l1i_misses,itlb_misses"]
        for point in points {
            lines.append([point.placement.rawValue, point.kind.rawValue, String(point.stubs),
                          format(point.nanosecondsPerHop, decimals: 3),
                          point.l1iMissesPerHop.map { format($0, decimals: 4) } ?? "",
                          point.itlbMissesPerHop.map { format($0, decimals: 4) } ?? ""].joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ points: [Point]) -> String {
        let body = points.map { point in
            let l1i = point.l1iMissesPerHop.map { format($0, decimals: 4) } ?? "null"
            let itlb = point.itlbMissesPerHop.map { format($0, decimals: 4) } ?? "null"
            return "{\"placement\": \"\(point.placement.rawValue)\", \"kind\": \"\(point.kind.rawValue)\", \"stubs\": \(point.stubs), \"ns_per_hop\": \(format(point.nanosecondsPerHop, decimals: 3)), \"l1i_misses\": \(l1i), \"itlb_misses\": \(itlb)}"
        }
        return "{\"points\": [\n  " + body.joined(separator: ",\n  ") + "\n]}"
    }
}
