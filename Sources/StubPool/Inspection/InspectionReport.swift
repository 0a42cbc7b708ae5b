/// Several pools and arenas in one document: what a runtime writes (as JSON, with
/// `JSONEncoder`) to be read later by `stubpool inspect FILE`.
///
/// ```swift
/// let report = InspectionReport(pools: [entries.inspect(), thunks.inspect()], arenas: [arena.inspect()])
/// try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: "stubs.json"))
/// ```
public struct InspectionReport: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The pools, in the order given.
    public var pools: [PoolInspection]
    /// The arenas, in the order given.
    public var arenas: [ArenaInspection]

    /// A report of `pools` and `arenas`.
    public init(pools: [PoolInspection] = [], arenas: [ArenaInspection] = []) {
        self.pools = pools
        self.arenas = arenas
    }

    /// Every pool's text, then every arena's.
    public var description: String {
        (pools.map(\.description) + arenas.map(\.description)).joined()
    }
}
