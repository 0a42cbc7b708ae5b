import StubPool

/// What a chain is made of: pool trampolines or arena-generated bodies.
public enum HopKind: String, CaseIterable, Sendable {
    /// `forward` pool stubs: each reads the next stub's address from its data slot.
    case forward
    /// Code-arena bodies `movabs r11, next; jmp r11` (`CodeEmitter.bindConstants` with no constants).
    case arena
}

/// Where a chain's stubs sit in code memory.
public enum HopPlacement: String, CaseIterable, Sendable {
    case packed, pageStart, staggered, random
}

/// The icache experiment's fixture: N stubs, each jumping to the next; the last one jumps to
/// ``benchmarkTarget``, which returns. Calling ``entry`` as a ``Target3`` runs N hops and one
/// return. Keeps the memory it runs from alive.
public struct HopChain: @unchecked Sendable {
    /// The first stub's address.
    public var entry: UnsafeRawPointer { UnsafeRawPointer(bitPattern: addresses[0])! }
    /// Every stub's address, in the order a call visits them.
    public let addresses: [UInt]
    /// The pool or arena the chain lives in (both are `Sendable`).
    private let owner: AnyObject

    static let seed: UInt64 = 0x5EED_1CAC

    /// Builds a chain of `stubs` stubs (at least one).
    public init(kind: HopKind, placement: HopPlacement, stubs: Int) throws {
        precondition(stubs > 0)
        switch kind {
        case .forward:
            (addresses, owner) = try Self.forwardChain(placement: placement, stubs: stubs)
        case .arena:
            (addresses, owner) = try Self.arenaChain(placement: placement, stubs: stubs)
        }
    }

    /// A pool with the placement itself; visiting order is allocation order (for `random`, a
    /// random walk over the chunk).
    private static func forwardChain(placement: HopPlacement, stubs count: Int) throws -> ([UInt], AnyObject) {
        let poolPlacement: Placement = switch placement {
        case .packed: .packed
        case .pageStart: .pageStart
        case .staggered: .staggered
        case .random: .random(seed: seed)
        }
        let pool = try StubPool(.init(kind: .forward, placement: poolPlacement, shards: 1))
        let stubs = try pool.allocate(count: count, target: benchmarkTargetAddress)
        for (stub, next) in zip(stubs, stubs.dropFirst()) {
            try pool.retarget(stub, to: next.entry)
        }
        return (stubs.map { UInt(bitPattern: $0.entry) }, pool)
    }

    /// Arena bodies. `packed` is the arena's own placement; `pageStart` and `staggered` commit one
    /// page-sized blob per body (the 4 KiB class: each blob is a page) and write the body at
    /// offset 0, or one 64-byte line further into each successive page, like the pool's placements;
    /// `random` picks the chain's blobs at random, in random order, among four times as many (at
    /// least 4,096) packed blobs.
    private static func arenaChain(placement: HopPlacement, stubs count: Int) throws -> ([UInt], AnyObject) {
        let architecture = Architecture.host
        let arena = CodeArena(placement: .packed)
        let placeholder = CodeEmitter.returnConstant(0, architecture: architecture)
        let bodyBytes = try body(to: 0, architecture: architecture).count
        let pagePerBody = placement == .pageStart || placement == .staggered
        let blobSize = pagePerBody ? PagePerStubPeer.pageSize : max(bodyBytes, placeholder.count)
        let padded = placeholder + architecture.trapBytes(blobSize - placeholder.count)
        let committed = placement == .random ? max(4 * count, 4_096) : count
        var blobs = try arena.commit([[UInt8]](repeating: padded, count: committed))
        if placement == .random {
            var generator = SplitMix64(seed: seed)
            blobs.shuffle(using: &generator)
            blobs.removeLast(committed - count)
        }
        let lines = PagePerStubPeer.pageSize / 64
        let offsets = blobs.indices.map { placement == .staggered ? ($0 % lines) * 64 : 0 }
        let addresses = zip(blobs, offsets).map { $0.address + UInt($1) }
        let patches = try blobs.indices.map { index in
            let next = index + 1 < blobs.count ? addresses[index + 1] : UInt(bitPattern: benchmarkTargetAddress)
            return CodePatch(blob: blobs[index], offset: offsets[index], bytes: try body(to: next, architecture: architecture))
        }
        try arena.write(patches)  // one maintenance pass for the whole chain
        return (addresses, arena)
    }

    private static func body(to target: UInt, architecture: Architecture) throws -> [UInt8] {
        try CodeEmitter.bindConstants([], afterArguments: 0, target: target, architecture: architecture)
    }
}
