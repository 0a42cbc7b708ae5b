#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds per operation of `body`, which performs `operations` operations: the median of
/// `repeats` runs after one warm-up.
func nanosecondsPerOperation(operations: Int, repeats: Int = 5, _ body: () throws -> Void) rethrows -> Double {
    try nanosecondsPerOperation(operations: operations, repeats: repeats, untimed: {}, body)
}

/// As above, with `untimed` run after each run, outside the measurement (to undo what `body` did).
func nanosecondsPerOperation(
    operations: Int, repeats: Int = 5, untimed: () throws -> Void, _ body: () throws -> Void
) rethrows -> Double {
    try body()
    try untimed()
    var samples: [Double] = []
    for _ in 0..<repeats {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        try untimed()
        let (seconds, attoseconds) = elapsed.components
        samples.append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(operations))
    }
    return median(samples)
}

/// The middle value (the upper middle for an even count) of a non-empty list.
func median(_ values: [Double]) -> Double {
    values.sorted()[values.count / 2]
}

/// Keeps a value alive and opaque to the optimizer.
@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Progress on stderr.
func progress(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Resident bytes of the whole process (from /proc/self/statm).
func processResidentBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { sizePointer in
        withUnsafeMutablePointer(to: &resident) { residentPointer in
            withVaList([sizePointer, residentPointer]) { vfscanf(file, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Lines of /proc/self/maps: the number of mappings.
func processMappingCount() -> Int {
    guard let file = fopen("/proc/self/maps", "r") else { return 0 }
    defer { fclose(file) }
    var count = 0
    while true {
        let character = fgetc(file)
        if character == EOF { break }
        if character == 10 { count += 1 }
    }
    return count
}
