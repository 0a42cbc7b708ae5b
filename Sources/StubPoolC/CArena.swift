import CStubPoolAPI
import StubPool

private func arena(_ handle: OpaquePointer) -> CodeArena {
    Unmanaged<CodeArena>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

@_cdecl("stubpool_arena_create")
public func stubpool_arena_create_c(
    _ placement: stubpool_arena_placement_t, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> stubpool_status_t {
    guard let out else { return CStatus.null("out_arena", in: "stubpool_arena_create") }
    let swiftPlacement: CodeArena.BlobPlacement
    switch placement {
    case STUBPOOL_ARENA_PACKED: swiftPlacement = .packed
    case STUBPOOL_ARENA_SPREAD: swiftPlacement = .spread
    default: return CStatus.fail(STUBPOOL_E_INVALID_ARGUMENT, "stubpool_arena_create: unknown placement \(placement.rawValue)")
    }
    out.pointee = OpaquePointer(Unmanaged.passRetained(CodeArena(placement: swiftPlacement)).toOpaque())
    return CStatus.ok
}

@_cdecl("stubpool_arena_destroy")
public func stubpool_arena_destroy_c(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<CodeArena>.fromOpaque(UnsafeRawPointer(handle)).release()
}

@_cdecl("stubpool_arena_max_blob_size")
public func stubpool_arena_max_blob_size_c() -> Int { CodeArena.maximumBlobSize }

@_cdecl("stubpool_arena_commit")
public func stubpool_arena_commit_c(
    _ handle: OpaquePointer?, _ blobs: UnsafePointer<stubpool_code_t>?, _ count: Int,
    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    commit(handle, blobs, names: nil, count, out, in: "stubpool_arena_commit")
}

@_cdecl("stubpool_arena_commit_named")
public func stubpool_arena_commit_named_c(
    _ handle: OpaquePointer?, _ blobs: UnsafePointer<stubpool_code_t>?, _ names: UnsafePointer<UnsafePointer<CChar>?>?,
    _ count: Int, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> stubpool_status_t {
    guard let names else { return CStatus.null("names", in: "stubpool_arena_commit_named") }
    return commit(handle, blobs, names: names, count, out, in: "stubpool_arena_commit_named")
}

private func commit(
    _ handle: OpaquePointer?, _ blobs: UnsafePointer<stubpool_code_t>?, names: UnsafePointer<UnsafePointer<CChar>?>?,
    _ count: Int, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, in function: String
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("arena", in: function) }
    guard let blobs else { return CStatus.null("blobs", in: function) }
    guard let out else { return CStatus.null("out_entries", in: function) }
    do throws(StubPoolError) { try StubPool.checkBulkCount(count) } catch { return CStatus.fail(error) }
    var swiftNames: [String]?
    if let names {
        swiftNames = []
        for index in 0..<count {
            guard let name = names[index] else { return CStatus.null("names[\(index)]", in: function) }
            swiftNames!.append(String(cString: name))
        }
    }
    var copies: [[UInt8]] = []
    copies.reserveCapacity(count)
    for index in 0..<count {
        let blob = blobs[index]
        guard blob.size >= 0, blob.size <= CodeArena.maximumBlobSize else { return CStatus.fail(.blobTooLarge(index: index, size: blob.size < 0 ? Int.max : blob.size)) }
        guard blob.size == 0 || blob.bytes != nil else { return CStatus.null("blobs[\(index)].bytes", in: function) }
        copies.append(blob.size == 0 ? [] : Array(UnsafeRawBufferPointer(start: blob.bytes, count: blob.size)))
    }
    return CStatus.run { () throws(CodeArenaError) in
        let placed = try arena(handle).commit(copies, names: swiftNames)
        for (index, blob) in placed.enumerated() { out[index] = UnsafeMutableRawPointer(bitPattern: blob.address) }
    }
}

@_cdecl("stubpool_arena_patch")
public func stubpool_arena_patch_c(
    _ handle: OpaquePointer?, _ patches: UnsafePointer<stubpool_patch_t>?, _ count: Int
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("arena", in: "stubpool_arena_patch") }
    do throws(StubPoolError) { try StubPool.checkBulkCount(count) } catch { return CStatus.fail(error) }
    guard let patches else { return CStatus.null("patches", in: "stubpool_arena_patch") }
    let arena = arena(handle)
    var swiftPatches: [CodePatch] = []
    swiftPatches.reserveCapacity(count)
    for index in 0..<count {
        let patch = patches[index]
        let address = UInt(bitPattern: patch.blob)
        guard let blob = arena.blob(at: address) else { return CStatus.fail(.notLive(address)) }
        do throws(CodeArenaError) {
            try CodeArena.checkPatchBounds(offset: patch.offset, count: patch.size, blobSize: blob.size)
        } catch {
            return CStatus.fail(error)
        }
        guard let bytes = patch.bytes else { return CStatus.null("patches[\(index)].bytes", in: "stubpool_arena_patch") }
        swiftPatches.append(CodePatch(blob: blob, offset: patch.offset, bytes: Array(UnsafeRawBufferPointer(start: bytes, count: patch.size))))
    }
    return CStatus.run { () throws(CodeArenaError) in
        try arena.write(swiftPatches)
    }
}

@_cdecl("stubpool_arena_free")
public func stubpool_arena_free_c(_ handle: OpaquePointer?, _ blob: UnsafeMutableRawPointer?) -> stubpool_status_t {
    guard let handle else { return CStatus.null("arena", in: "stubpool_arena_free") }
    return CStatus.run { () throws(CodeArenaError) in
        try arena(handle).free(address: UInt(bitPattern: blob))
    }
}

@_cdecl("stubpool_arena_lookup")
public func stubpool_arena_lookup_c(
    _ handle: OpaquePointer?, _ address: UnsafeRawPointer?, _ outSize: UnsafeMutablePointer<Int>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("arena", in: "stubpool_arena_lookup") }
    let address = UInt(bitPattern: address)
    guard let blob = arena(handle).blob(at: address) else {
        return CStatus.fail(STUBPOOL_E_NOT_FOUND, "no live blob of this arena starts at 0x\(String(address, radix: 16))")
    }
    outSize?.pointee = blob.size
    return CStatus.ok
}

@_cdecl("stubpool_arena_statistics")
public func stubpool_arena_statistics_c(
    _ handle: OpaquePointer?, _ out: UnsafeMutablePointer<stubpool_arena_stats_t>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("arena", in: "stubpool_arena_statistics") }
    let s = arena(handle).statistics()
    return CStats.fill(out, with: stubpool_arena_stats_t(
        struct_size: 0, live_blobs: s.liveBlobs, live_bytes: s.liveBytes, mapped_bytes: s.mappedBytes, regions: s.regions,
        mappings: s.mappings, commits: s.commits, cache_maintenance_passes: s.cacheMaintenancePasses), in: "stubpool_arena_statistics")
}

@_cdecl("stubpool_arena_describe")
public func stubpool_arena_describe_c(
    _ handle: OpaquePointer?, _ includeBlobs: Int32, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int,
    _ outLength: UnsafeMutablePointer<Int>?
) -> stubpool_status_t {
    CText.describe(handle, "arena", into: buffer, size: size, length: outLength, in: "stubpool_arena_describe") {
        arena($0).inspect(includeBlobs: includeBlobs != 0).description
    }
}
