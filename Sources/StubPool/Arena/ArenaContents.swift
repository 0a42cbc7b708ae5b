/// One consistent view of a code arena's contents, taken under its lock: what the layers above
/// (images, inspection) read of an arena, so that none of them reaches into its state.
struct ArenaContents {
    /// A live blob, its size class (nil for a page-granular blob), name and address fields.
    struct Blob {
        let blob: CodeBlob
        let sizeClass: Int?
        let name: String?
        /// Empty unless the view was taken with `fields`.
        let fields: [ArenaState.AddressField]
    }

    let statistics: CodeArenaStatistics
    /// Per size class: slot size, regions, slots and free slots.
    let classes: [(size: Int, regions: Int, slots: Int, free: Int)]
    /// Each mapping's executable and writable views.
    let mappings: [(executable: Range<UInt>, writable: Range<UInt>)]
    /// Every live blob, in no particular order.
    let blobs: [Blob]
}

extension CodeArena {
    /// The arena's contents at one instant (its lock held while they are read); each blob's
    /// address fields with `fields`.
    func contents(fields: Bool) -> ArenaContents {
        state.withLock { state in
            ArenaContents(
                statistics: state.currentStatistics(),
                classes: state.classOccupancy(),
                mappings: state.space.views.map { ($0.executable, $0.writable) },
                blobs: state.liveBlobs().map { blob, sizeClass in
                    ArenaContents.Blob(blob: blob, sizeClass: sizeClass, name: state.names[blob.address],
                                       fields: fields ? state.addressFields(of: blob) : [])
                })
        }
    }
}
