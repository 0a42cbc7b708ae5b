import StubPool
import StubPoolPeers

/// What a chain is made of: pool trampolines or arena-generated bodies.
enum HopKind: String, CaseIterable, Sendable {
    /// `forward` pool stubs: each reads the next stub's address from its data slot.
    case forward
    /// Code-arena bodies `movabs r11, next; jmp r11` (`CodeEmitter.bindConstants` with no constants).
    case arena
}

/// Where a chain's stubs sit in code memory.
enum HopPlacement: String, CaseIterable, Sendable {
    case packed, pageStart, staggered, random
}

/// N stubs, each jumping to the next; the last one jumps to ``benchmarkTarget``, which returns.
/// Calling ``entry`` runs N hops and one return. Keeps the memory it runs from alive.
struct HopChain {
    let entry: UnsafeRawPointer
    let stubs: Int
    /// The pool or arena the chain lives in.
    private let owner: AnyObject

    static let seed: UInt64 = 0x5EED_1CAC

    init(kind: HopKind, placement: HopPlacement, stubs: Int) throws {
        precondition(stubs > 0)
        self.stubs = stubs
        switch kind {
        case .forward:
            (entry, owner) = try Self.forwardChain(placement: placement, stubs: stubs)
        case .arena:
            (entry, owner) = try Self.arenaChain(placement: placement, stubs: stubs)
        }
    }

    /// A pool with the placement itself; visiting order is allocation order (for `random`, a
    /// random walk over the chunk).
    private static func forwardChain(placement: HopPlacement, stubs count: Int) throws -> (UnsafeRawPointer, AnyObject) {
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
        return (stubs[0].entry, pool)
    }

    /// Arena bodies. `packed` and `staggered` are the arena's own placements; `pageStart` commits
    /// each body padded to a whole page (the 4 KiB class: one blob per page, at offset 0);
    /// `random` picks the chain's blobs at random, in random order, among four times as many
    /// (at least 4,096) packed blobs.
    private static func arenaChain(placement: HopPlacement, stubs count: Int) throws -> (UnsafeRawPointer, AnyObject) {
        let architecture = Architecture.host
        let arena = CodeArena(placement: placement == .staggered ? .staggered : .packed)
        let placeholder = CodeEmitter.returnConstant(0, architecture: architecture)
        let bodyBytes = try body(to: 0, architecture: architecture).count
        let blobSize = placement == .pageStart ? PagePerStubPeer.pageSize : max(bodyBytes, placeholder.count)
        let padded = placeholder + architecture.trapBytes(blobSize - placeholder.count)
        let committed = placement == .random ? max(4 * count, 4_096) : count
        var blobs = try arena.commit([[UInt8]](repeating: padded, count: committed))
        if placement == .random {
            var generator = SplitMix64(seed: seed)
            blobs.shuffle(using: &generator)
            blobs.removeLast(committed - count)
        }
        for (index, blob) in blobs.enumerated() {
            let next = index + 1 < blobs.count ? blobs[index + 1].address : UInt(bitPattern: benchmarkTargetAddress)
            try arena.write(try body(to: next, architecture: architecture), into: blob, at: 0)
        }
        return (blobs[0].entry, arena)
    }

    private static func body(to target: UInt, architecture: Architecture) throws -> [UInt8] {
        try CodeEmitter.bindConstants([], afterArguments: 0, target: target, architecture: architecture)
    }
}
