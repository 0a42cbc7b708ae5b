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
        let l1iMissesPerHop: Double?
        let itlbMissesPerHop: Double?
        /// ns per hop of each round, in round order: rounds are paired across placements.
        let samples: [Double]
        var nanosecondsPerHop: Double { median(samples) }
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
                    points.append(Point(placement: placement, kind: kind, stubs: size,
                                        l1iMissesPerHop: reading.map { Double($0.l1iMisses) / hops },
                                        itlbMissesPerHop: reading.map { Double($0.itlbMisses) / hops },
                                        samples: samples[index]))
                }
            }
        }
        return points
    }

    /// The icache targets, checked against one run: packed ≥ 10× faster than pageStart
    /// at 64 stubs, and the default placement within 5% of every other placement at every size.
    /// The machine's speed drifts in episodes longer than a round, so placements are compared on
    /// paired rounds: the median over rounds of one's time ÷ the other's.
    static func summary(_ points: [Point]) -> [String] {
        var lines: [String] = []
        for kind in HopKind.allCases {
            let mine = points.filter { $0.kind == kind }
            func ratio(_ numerator: HopPlacement, _ denominator: HopPlacement, at stubs: Int) -> Double? {
                guard let top = mine.first(where: { $0.placement == numerator && $0.stubs == stubs }),
                      let bottom = mine.first(where: { $0.placement == denominator && $0.stubs == stubs }) else { return nil }
                return median(zip(top.samples, bottom.samples).map { $0 / $1 })
            }
            if let slower = ratio(.pageStart, .packed, at: 64) {
                lines.append("\(kind.rawValue): at 64 stubs pageStart ÷ packed = \(format(slower, decimals: 2))× (target ≥ 10×)")
            }
            var worst: (stubs: Int, behind: Double, other: HopPlacement)?
            for stubs in Set(mine.map(\.stubs)).sorted() {
                for other in HopPlacement.allCases where other != defaultPlacement {
                    guard let behind = ratio(defaultPlacement, other, at: stubs).map({ $0 - 1 }) else { continue }
                    if worst == nil || behind > worst!.behind { worst = (stubs, behind, other) }
                }
            }
            if let worst {
                lines.append("\(kind.rawValue): default (\(defaultPlacement.rawValue)) at most \(format(worst.behind * 100, decimals: 1))% behind another placement (at \(worst.stubs) stubs, vs \(worst.other.rawValue); target ≤ 5%)")
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
