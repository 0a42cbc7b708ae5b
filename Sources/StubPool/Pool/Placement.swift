/// Where a pool puts its stubs in code memory.
public enum Placement: Sendable, Hashable, CustomStringConvertible {
    /// Lowest free address first, many stubs per page: dense and instruction-cache friendly.
    case packed
    /// Each stub alone at offset 0 of its own code page: today's one-stub-per-page engines.
    case pageStart
    /// Each stub on its own code page, its page offset advancing one 64-byte cache line per stub.
    case staggered
    /// A pseudo-random free slot within the chunks mapped so far (a new chunk only when all are
    /// full), reproducible from `seed`.
    case random(seed: UInt64)

    /// The case as written in Swift, e.g. `random(seed: 7)`.
    public var description: String {
        switch self {
        case .packed: "packed"
        case .pageStart: "pageStart"
        case .staggered: "staggered"
        case .random(let seed): "random(seed: \(seed))"
        }
    }

    /// Cache-line size the staggered placement advances by.
    static let cacheLineSize = 64
}

/// Maps a chunk's logical slots (what the allocator hands out, densely numbered) to physical code
/// slots for one placement and geometry.
struct SlotPlacement: Sendable, Hashable {
    let placement: Placement
    let geometry: ChunkGeometry

    /// Logical slots per chunk: every physical slot but the anchor (the chunk's last slot), or a
    /// slot per code page. The last page's slot is the anchor when pages hold one slot
    /// (`pageStart`) or when the staggered offset reaches the page's last line with slots of a
    /// cache line or more: that page then holds no stub.
    var capacity: Int {
        switch placement {
        case .packed, .random: geometry.physicalSlots - 1
        case .pageStart, .staggered: geometry.codePages - (physical(geometry.codePages - 1) == geometry.anchorSlot ? 1 : 0)
        }
    }

    private var slotsPerLine: Int { max(1, Placement.cacheLineSize / geometry.slotSize) }
    private var linesPerPage: Int { max(1, geometry.pageSize / max(Placement.cacheLineSize, geometry.slotSize)) }

    /// The placement's rule as numbers.
    var spacing: SlotSpacing {
        switch placement {
        case .packed, .random: .dense
        case .pageStart: SlotSpacing(stride: geometry.slotsPerPage, cycle: 1, step: 0)
        case .staggered: SlotSpacing(stride: geometry.slotsPerPage, cycle: linesPerPage, step: slotsPerLine)
        }
    }

    func physical(_ logical: Int) -> Int { spacing.physical(logical) }

    /// The logical slot of physical slot `physical`, or `nil` if this placement never uses it.
    func logical(_ physical: Int) -> Int? {
        guard physical >= 0 && physical < geometry.physicalSlots && physical != geometry.anchorSlot else { return nil }
        switch placement {
        case .packed, .random:
            return physical
        case .pageStart, .staggered:
            let page = physical / geometry.slotsPerPage
            return self.physical(page) == physical ? page : nil
        }
    }
}
