/// The bytes of a batch of blobs to commit: arrays, or spans of one buffer the caller keeps alive
/// for the commit (an image's bytes, so that a restore copies code straight from the file).
protocol BlobBytes {
    /// How many blobs.
    var count: Int { get }
    /// The size of blob `index`, in bytes.
    func size(of index: Int) -> Int
    /// Calls `body` with the bytes of blob `index`.
    func withBytes<Result>(of index: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result
}

extension Array: BlobBytes where Element == [UInt8] {
    @inline(__always)
    func size(of index: Int) -> Int { self[index].count }

    @inline(__always)
    func withBytes<Result>(of index: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        self[index].withUnsafeBytes(body)
    }
}

/// Blobs that are byte ranges of one buffer.
struct BlobSpans: BlobBytes {
    /// The buffer; it must outlive the commit.
    let base: UnsafeRawPointer
    /// Each blob's offset in the buffer and its size.
    let spans: [(offset: Int, size: Int)]

    var count: Int { spans.count }

    @inline(__always)
    func size(of index: Int) -> Int { spans[index].size }

    @inline(__always)
    func withBytes<Result>(of index: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        body(UnsafeRawBufferPointer(start: base + spans[index].offset, count: spans[index].size))
    }
}
