import Synchronization

/// Executable memory for generated code blobs of any size, many per page.
///
/// Small blobs (up to 4 KiB) are served by size class (classes at most 25% apart); each class
/// has its own 64 KiB regions and an occupancy bitmap per region, kept outside executable
/// memory (the pool's slot allocator). Larger blobs get whole pages each. All of it lives in
/// **one** memory file per arena, mapped in 64 MiB pieces, twice each: written only through a
/// read+write view, run only through a read+execute view; live code never changes protection. An
/// arena holds one file descriptor and two mappings per 64 MiB whatever its blobs (see
/// `ArenaSpace`). ``commit(_:names:)-([[UInt8]],_)`` copies a whole batch and performs instruction-cache maintenance
/// once for it.
///
/// **fork.** After `fork()` neither process can change code the other runs: the first commit,
/// write or free in either process (under the arena's lock) gives the arena a memory file of its
/// own — a copy of the shared one, mapped at the same executable addresses — and the other
/// process keeps the old file. `fork()` itself copies nothing (cost of a first write after a fork:
/// proportional to the code written; `fork` + `exec` and `posix_spawn` pay nothing for it). If that
/// copy fails (no descriptor or memory), the operation throws ``CodeArenaError/system(_:during:)``
/// and changes nothing. A fork while another thread is inside an arena operation leaves the
/// child's arena locked, as for any lock, and that one operation's bytes may still reach the file
/// the child maps.
public final class CodeArena: Sendable {
    /// Where blobs of one class go inside its regions.
    public enum BlobPlacement: Sendable, Hashable {
        /// Lowest free address first.
        case packed
        /// Within each region of a class: one blob per page before any page gets a second, each
        /// page's first blob one cache line further in than the previous page's. A class's
        /// region (64 KiB) holds 16 pages of 4 KiB, so from the 17th blob on pages are shared
        /// (unlike a pool's ``Placement/staggered``, which gives every stub a page of its own).
        case spread
    }

    /// The largest blob ``commit(_:names:)-([[UInt8]],_)`` accepts.
    public static let maximumBlobSize = 1 << 20
    /// Bytes of one small-class region.
    public static let regionSize = ChunkGeometry.regionGranularity

    /// Where this arena puts blobs inside each size class's regions.
    public let placement: BlobPlacement
    /// The architecture of the code the arena runs (the host's).
    public let architecture: Architecture = .host
    private let trapFill: [UInt8]
    let state: Locked<ArenaState>
    /// Registration for core-serializing membarriers is per process: done once, by the first arena.
    private static let syncCoreRegistered = Kernel.registerSyncCore()

    /// An empty arena. Nothing is mapped and no descriptor is opened until the first commit.
    /// Starts profiling if `STUBPOOL_PERF` asks for it (see ``Profiling``).
    ///
    /// - Parameter placement: where blobs go inside each size class's regions.
    public init(placement: BlobPlacement = .packed) {
        self.placement = placement
        self.trapFill = Architecture.host.encoder.trapFill
        self.state = Locked(ArenaState(classCount: SizeClasses.sizes.count, placement: placement), rank: .arena, waiting: .block)
        Profiling.startFromEnvironment()
    }

    deinit {
        if Profiling.isActive { Profiling.forget(owner: .arena(ObjectIdentifier(self))) }
    }

    // MARK: Commit

    /// Copies every blob into the arena and makes the batch executable: one instruction-cache
    /// maintenance pass over the touched ranges and (where the kernel has it) one
    /// core-serializing membarrier for the whole batch. All or nothing.
    ///
    /// - Parameters:
    ///   - blobs: the code, each 1 byte to ``maximumBlobSize``, position-independent or patched
    ///     later (use ``commit(_:names:)-([CodeBody],_)`` for code with addresses in it).
    ///   - names: the blobs' names in profiles and debuggers (see ``Profiling``) and in
    ///     ``inspect(includeBlobs:)``, one per blob, or `nil` for `stubpool:blob#<n>` in profiles.
    ///     Kept with each blob until it is freed.
    /// - Returns: the blobs, in the order given.
    /// - Throws: ``CodeArenaError``; nothing is committed.
    public func commit(_ blobs: [[UInt8]], names: [String]? = nil) throws(CodeArenaError) -> [CodeBlob] {
        try commit(blobs, relocations: nil, names: names)
    }

    /// Commits bodies with relocations: like ``commit(_:names:)``, then before the batch's one
    /// cache-maintenance pass every field receives its operand's value (a
    /// ``CodeOperand/blob(_:offset:)`` of this batch gets that blob's new address). Fields that
    /// hold addresses (``CodeOperand/address(_:)``, ``CodeOperand/blob(_:offset:)``) are kept with
    /// the blob for ``StubImage``. All or nothing: a malformed or out-of-range field throws
    /// ``CodeArenaError/relocation(_:blob:)`` and nothing is committed.
    public func commit(_ bodies: [CodeBody], names: [String]? = nil) throws(CodeArenaError) -> [CodeBlob] {
        var relocated = false, framed = false
        for (index, body) in bodies.enumerated() {
            if let frame = body.frame {
                if let problem = frame.problem(bodySize: body.bytes.count) { throw .invalidFrame(problem, blob: index) }
                framed = true
            }
            guard !body.relocations.isEmpty else { continue }
            do throws(CodeRelocationError) { try body.validate(architecture: architecture, batch: bodies.count) } catch {
                throw .relocation(error, blob: index)
            }
            relocated = true
        }
        return try commit(bodies.map(\.bytes), relocations: relocated ? .flat(bodies.map(\.relocations)) : nil, names: names,
                          frames: framed ? bodies.map(\.frame) : nil)
    }

    /// Instantiates a template `arguments.count` times in one commit (one cache-maintenance pass):
    /// instance `i` is `template` with each ``CodeOperand/parameter(_:)`` `k` replaced by
    /// `arguments[i][k]` (which may name another instance with ``CodeOperand/blob(_:offset:)``).
    /// The template's bytes are shared until placed, so an instance costs a copy of its bytes and
    /// its fields, not an emission.
    public func instantiate(_ template: CodeBody, arguments: [[CodeOperand]], names: [String]? = nil) throws(CodeArenaError) -> [CodeBlob] {
        // The template's fields are checked once; each instance only for its arguments. Every
        // instance shares the template's bytes until they are copied into place, and its fields
        // are filled straight from `arguments`: no body is built per instance.
        do throws(CodeRelocationError) {
            try template.validateFields(architecture: architecture)
        } catch {
            throw .relocation(error, blob: 0)
        }
        for (index, values) in arguments.enumerated() {
            do throws(CodeRelocationError) {
                for relocation in template.relocations {
                    var operand = relocation.operand
                    if case .parameter(let parameter) = operand {
                        guard parameter >= 0, parameter < values.count else { throw .unfilledParameter(parameter) }
                        operand = values[parameter]
                    }
                    try operand.check(batch: arguments.count)
                }
            } catch {
                throw .relocation(error, blob: index)
            }
        }
        if let problem = template.frame?.problem(bodySize: template.bytes.count) { throw .invalidFrame(problem, blob: 0) }
        return try commit(Array(repeating: template.bytes, count: arguments.count),
                          relocations: .template(template.relocations, arguments: arguments), names: names,
                          frames: template.frame.map { Array(repeating: $0, count: arguments.count) })
    }

    /// Fields to fill in a batch, validated.
    enum BatchRelocations {
        /// Every blob's own fields, in one list: blob `i` has `fields[starts[i]..<starts[i + 1]]`.
        case perBlob(fields: [CodeRelocation], starts: [Int])
        /// The same fields in every blob; a ``CodeOperand/parameter(_:)`` `k` of blob `i` takes
        /// `arguments[i][k]`.
        case template([CodeRelocation], arguments: [[CodeOperand]])

        /// One list per blob, joined.
        static func flat(_ lists: [[CodeRelocation]]) -> Self {
            var fields: [CodeRelocation] = [], starts = [0]
            fields.reserveCapacity(lists.reduce(0) { $0 + $1.count })
            starts.reserveCapacity(lists.count + 1)
            for list in lists {
                fields += list
                starts.append(fields.count)
            }
            return .perBlob(fields: fields, starts: starts)
        }
    }

    /// The commit itself; `relocations` (validated, one list per blob) are applied after placement.
    /// Image restores call it directly: their fields were validated when the image was loaded.
    func commit(_ blobs: some BlobBytes, relocations: BatchRelocations?, names: [String]?,
                frames: [CodeFrame?]? = nil) throws(CodeArenaError) -> [CodeBlob] {
        guard blobs.count > 0 else { throw .emptyBatch }
        if let names, names.count != blobs.count { throw .nameCountMismatch(blobs: blobs.count, names: names.count) }
        for index in 0..<blobs.count {
            let size = blobs.size(of: index)
            guard size > 0 else { throw .emptyBlob(index: index) }
            guard size <= Self.maximumBlobSize else { throw .blobTooLarge(index: index, size: size) }
        }
        let trapFill = self.trapFill
        let (placed, checkpoint) = try state.withLock { (state) throws(CodeArenaError) -> ([CodeBlob], ArenaState.Checkpoint) in
            let committed: ([CodeBlob], ArenaState.Checkpoint)
            do throws(SystemError) {
                try state.makePrivateAfterFork()
                committed = try state.commit(blobs, trapFill: trapFill)
            } catch {
                throw .system(error, during: .commit)
            }
            if let relocations, let failure = state.relocate(committed.0, relocations) {
                state.takeBack(committed.0, to: committed.1, trapFill: trapFill)
                throw failure
            }
            state.statistics.commits += 1
            return committed
        }
        Self.flushInstructionCache(placed)
        if Self.syncCoreRegistered {
            do throws(SystemError) {
                try Kernel.syncCore()
            } catch {
                // Other threads might not see the new code: take the whole batch back.
                state.withLock { state in
                    state.takeBack(placed, to: checkpoint, trapFill: trapFill)
                    state.statistics.commits -= 1
                }
                throw .system(error, during: .commit)
            }
        }
        state.withLock { state in
            state.statistics.cacheMaintenancePasses += 1
            if let names {
                for (blob, name) in zip(placed, names) { state.names[blob.address] = name }
            }
            if let frames { state.registerFrames(of: placed, frames, architecture: architecture) }
        }
        if Profiling.isActive {
            let first = Self.nextBlobNumber.add(UInt64(placed.count), ordering: .relaxed).oldValue
            let name = { (index: Int) -> CodeName in names.map { .text($0[index]) } ?? .numbered("stubpool:blob#", first + UInt64(index)) }
            Profiling.record(count: placed.count, piece: { (placed[$0].address, placed[$0].size) }, name: name)
            Profiling.describe(owner: .arena(ObjectIdentifier(self)), count: placed.count) { index in
                let blob = placed[index]
                return SymbolFile.Piece(address: blob.address, size: blob.size, extent: blob.capacity, name: name(index))
            }
        }
        return placed
    }

    /// Numbers of unnamed blobs in profiles, process-wide.
    private static let nextBlobNumber = Atomic<UInt64>(0)

    /// Instruction-cache maintenance for `blobs`: one call per run of adjacent blobs (a packed
    /// batch of one class is mostly contiguous), not one per blob.
    private static func flushInstructionCache(_ blobs: [CodeBlob]) {
        var start: UInt = 0, end: UInt = 0
        for blob in blobs {
            if blob.address == end && end != 0 {
                end += UInt(blob.capacity)
                continue
            }
            if end > start { Kernel.flushInstructionCache(start, size: Int(end - start)) }
            start = blob.address
            end = blob.address + UInt(blob.capacity)
        }
        if end > start { Kernel.flushInstructionCache(start, size: Int(end - start)) }
    }

    /// The one check of a patch's bounds, for the Swift API and the C API alike: `count` bytes
    /// (at least one) at `offset` inside a blob of `blobSize` bytes. Compared without adding, so
    /// that no value (a C `size_t` beyond `Int.max` arrives negative) can overflow the check.
    package static func checkPatchBounds(offset: Int, count: Int, blobSize: Int) throws(CodeArenaError) {
        guard offset >= 0, count > 0, count <= blobSize, offset <= blobSize - count else {
            throw .outOfBounds(offset: offset, count: count, size: blobSize)
        }
    }

    /// Overwrites part of a live blob (patching a constant, say) and performs cache maintenance
    /// for it. Throws, changing nothing, if the bytes would leave the blob.
    public func write(_ bytes: [UInt8], into blob: CodeBlob, at offset: Int) throws(CodeArenaError) {
        try write([CodePatch(blob: blob, offset: offset, bytes: bytes)])
    }

    /// Applies every patch (relinking many blobs at once, say), then one instruction-cache
    /// maintenance pass and one core-serializing membarrier for all of them. Throws, changing
    /// nothing, if any patch names a blob that is not live or would leave its blob.
    public func write(_ patches: [CodePatch]) throws(CodeArenaError) {
        guard !patches.isEmpty else { return }
        try state.withLock { (state) throws(CodeArenaError) in
            for patch in patches {
                guard state.isLive(patch.blob) else { throw .notLive(patch.blob.address) }
                try Self.checkPatchBounds(offset: patch.offset, count: patch.bytes.count, blobSize: patch.blob.size)
            }
            do throws(SystemError) { try state.makePrivateAfterFork() } catch { throw .system(error, during: .write) }
            for patch in patches {
                patch.bytes.withUnsafeBytes { state.space.write($0, at: state.fileOffset(of: patch.blob) + patch.offset) }
            }
        }
        for patch in patches {
            Kernel.flushInstructionCache(patch.blob.address + UInt(patch.offset), size: patch.bytes.count)
        }
        if Self.syncCoreRegistered { try? Kernel.syncCore() }
        state.withLock { $0.statistics.cacheMaintenancePasses += 1 }
    }

    // MARK: Free

    /// Refills the blob with trap bytes and makes its space reusable. Only when no thread can
    /// still be running it and no caller will call it again.
    public func free(_ blob: CodeBlob) throws(CodeArenaError) {
        try state.withLock { (state) throws(CodeArenaError) in
            guard state.isLive(blob) else { throw .notLive(blob.address) }
            do throws(SystemError) { try state.makePrivateAfterFork() } catch { throw .system(error, during: .free) }
            state.forgetFrame(ofBlobAt: blob.address)
            state.space.fill(trapFill, at: state.fileOffset(of: blob), count: blob.capacity)
            state.release(blob)
        }
        if Profiling.isActive { Profiling.forget(blobAt: blob.address) }
    }

    /// Frees every blob of `blobs` under one lock, as ``free(_:)-(CodeBlob)`` does each: all of
    /// them, or none (``CodeArenaError/notLive(_:)`` for the first blob that is not live, or that
    /// appears twice).
    public func free(_ blobs: [CodeBlob]) throws(CodeArenaError) {
        guard !blobs.isEmpty else { return }
        try state.withLock { (state) throws(CodeArenaError) in
            for blob in blobs where !state.isLive(blob) { throw .notLive(blob.address) }
            // Twice in the list: addresses that are not strictly increasing (in commit order they
            // usually are) are checked with a set.
            if !zip(blobs, blobs.dropFirst()).allSatisfy({ $0.address < $1.address }) {
                var seen = Set<UInt>(minimumCapacity: blobs.count)
                for blob in blobs where !seen.insert(blob.address).inserted { throw .notLive(blob.address) }
            }
            do throws(SystemError) { try state.makePrivateAfterFork() } catch { throw .system(error, during: .free) }
            state.free(blobs, trapFill: trapFill)
        }
        if Profiling.isActive { for blob in blobs { Profiling.forget(blobAt: blob.address) } }
    }

    /// Frees the blob whose executable address is `address`.
    public func free(address: UInt) throws(CodeArenaError) {
        guard let blob = self.blob(at: address) else { throw .notLive(address) }
        try free(blob)
    }

    /// The live blob starting at `address`, if any.
    public func blob(at address: UInt) -> CodeBlob? {
        state.withLock { $0.liveBlob(at: address) }
    }

    // MARK: Inspection

    /// The arena's counters now. Takes the arena's lock; O(size classes).
    public func statistics() -> CodeArenaStatistics { state.withLock { $0.currentStatistics() } }

    /// Executable and writable address ranges of every mapped piece (64 MiB each; see
    /// ``CodeArenaStatistics/mappings``).
    public func mappedRegions() -> [(executable: Range<UInt>, writable: Range<UInt>)] {
        state.withLock { $0.space.views }
    }
}
