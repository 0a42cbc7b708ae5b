/// Several pools and arenas in one document: what a runtime writes (as JSON, with
/// `JSONEncoder`) to be read later by `stubpool inspect FILE`.
///
/// ```swift
/// let report = InspectionReport(pools: [entries.inspect(), thunks.inspect()], arenas: [arena.inspect()])
/// try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: "stubs.json"))
/// ```
public struct InspectionReport: Codable, Sendable, Hashable, CustomStringConvertible {
    public var pools: [PoolInspection]
    public var arenas: [ArenaInspection]

    public init(pools: [PoolInspection] = [], arenas: [ArenaInspection] = []) {
        self.pools = pools
        self.arenas = arenas
    }

    public var description: String {
        (pools.map(\.description) + arenas.map(\.description)).joined()
    }
}
