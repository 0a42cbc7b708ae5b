import TextTable

/// The targets the headline's rows are held to, printed under the table with what this run
/// measured: allocation, release, retarget and bulk allocation against the floor (the least such
/// an allocator must do, in C, same run), the two-thread speedup against the machine's ceiling,
/// image restore against building the same state one call at a time, the drop-in's closure life
/// cycle against Debian's libffi (a ratio libffi ÷ StubPool of at least 1.0: no slower, no
/// bigger), and the cost of preloading the drop-in into a process that makes no closure.
struct HeadlineTarget {
    enum Bound {
        /// libffi's value over StubPool's must be at least this.
        case libffiRatioAtLeast(Double)
        /// StubPool's value must be at most this.
        case atMost(Double, unit: String)
        /// StubPool's value must be at least this.
        case atLeast(Double, unit: String)
        /// StubPool's value over the floor's must be at most this (times the floor).
        case floorRatioAtMost(Double)
        /// StubPool's value over the floor's must be at least this (a share of the ceiling).
        case floorRatioAtLeast(Double)
        /// StubPool's value over its value in another row must be at most this (a switch's cost).
        case rowRatioAtMost(String, Double)
    }

    let metric: String
    let bound: Bound

    static let all: [HeadlineTarget] = [
        .init(metric: "alloc_single_ns", bound: .floorRatioAtMost(1.5)),
        .init(metric: "release_ns", bound: .floorRatioAtMost(1.5)),
        .init(metric: "retarget_ns", bound: .floorRatioAtMost(1.5)),
        .init(metric: "retarget_ns", bound: .atMost(2, unit: "ns")),
        .init(metric: "alloc_bulk_ns_per_stub", bound: .floorRatioAtMost(1.3)),
        .init(metric: "alloc_bulk_gdb_ns_per_stub", bound: .rowRatioAtMost("alloc_bulk_ns_per_stub", 3)),
        .init(metric: "alloc_two_thread_speedup", bound: .floorRatioAtLeast(0.9)),
        .init(metric: "image_restore_speedup", bound: .atLeast(5, unit: "×")),
        .init(metric: "image_snapshot_100k_10k_ms", bound: .atMost(20, unit: "ms")),
        .init(metric: "arena_batch_free_10k_ns_per_blob", bound: .atMost(20, unit: "ns")),
        .init(metric: "closure_alloc_prep_ns", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "closure_alloc_prep_1k_ns", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "closure_free_ns", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "closure_free_1k_ns", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "closure_call_ns", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "closure_resident_bytes", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "closure_resident_1k_bytes", bound: .libffiRatioAtLeast(1.0)),
        .init(metric: "preload_true_startup_ms", bound: .atMost(0.5, unit: "ms")),
        .init(metric: "preload_true_resident_kb", bound: .atMost(512, unit: "KB")),
        .init(metric: "preload_python_startup_ms", bound: .atMost(0.5, unit: "ms")),
        .init(metric: "preload_python_resident_kb", bound: .atMost(512, unit: "KB")),
    ]

    /// What this run measured for the target, and whether it is met; nil if a value is missing.
    func verdict(in results: HeadlineBenchmark.Results) -> (measured: String, met: Bool)? {
        guard let mine = results.value(metric, "stubpool") else { return nil }
        switch bound {
        case .libffiRatioAtLeast(let least):
            guard let theirs = results.value(metric, "libffi"), mine > 0 else { return nil }
            let ratio = theirs / mine
            return (format(ratio, decimals: 2) + "×", ratio >= least)
        case .atMost(let most, let unit):
            return (format(mine, decimals: 2) + " " + unit, mine <= most)
        case .atLeast(let least, let unit):
            return (format(mine, decimals: 2) + " " + unit, mine >= least)
        case .floorRatioAtMost(let most):
            guard let ratio = results.floorRatio(metric) else { return nil }
            return (format(ratio, decimals: 2) + "× floor", ratio <= most)
        case .floorRatioAtLeast(let least):
            guard let ratio = results.floorRatio(metric) else { return nil }
            return (format(ratio, decimals: 2) + "× ceiling", ratio >= least)
        case .rowRatioAtMost(let row, let most):
            guard let other = results.value(row, "stubpool"), other > 0 else { return nil }
            let ratio = mine / other
            return (format(ratio, decimals: 2) + "×", ratio <= most)
        }
    }

    var wanted: String {
        switch bound {
        case .libffiRatioAtLeast(let least): "libffi ÷ stubpool ≥ " + format(least, decimals: 1) + "×"
        case .atMost(let most, let unit): "≤ " + format(most, decimals: most < 10 ? 1 : 0) + " " + unit
        case .atLeast(let least, let unit): "≥ " + format(least, decimals: least < 10 ? 1 : 0) + " " + unit
        case .floorRatioAtMost(let most): "stubpool ÷ floor ≤ " + format(most, decimals: 1) + "×"
        case .floorRatioAtLeast(let least): "≥ " + format(least, decimals: 1) + "× the two-thread ceiling"
        case .rowRatioAtMost(let row, let most): "≤ " + format(most, decimals: 1) + "× " + row
        }
    }

    /// The targets as a table (TextTable), those without a measurement left out.
    static func table(for results: HeadlineBenchmark.Results) -> String {
        let rows = all.compactMap { target in target.verdict(in: results).map { (target, $0.measured, $0.met) } }
        let table = TextTable<(HeadlineTarget, String, Bool)> { row in
            [Column(title: "target", value: row.0.metric), Column(title: "wanted", value: row.0.wanted),
             Column(title: "measured", value: row.1, align: .right), Column(title: "met", value: row.2 ? "yes" : "no")]
        }
        return table.string(for: rows) ?? ""
    }
}
