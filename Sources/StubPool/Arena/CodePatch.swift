/// Bytes to write into a live blob at an offset, for ``CodeArena/write(_:)``.
public struct CodePatch: Sendable, Hashable {
    /// The live blob to patch.
    public var blob: CodeBlob
    /// Where in the blob the bytes go, from its start.
    public var offset: Int
    /// The new bytes; `offset + bytes.count` must not exceed the blob's ``CodeBlob/size``.
    public var bytes: [UInt8]

    /// A patch of `bytes` at `offset` of `blob`. Checked when applied by ``CodeArena/write(_:)``.
    public init(blob: CodeBlob, offset: Int, bytes: [UInt8]) {
        self.blob = blob
        self.offset = offset
        self.bytes = bytes
    }
}
