// Inputs that begin with the image magic ("STUBPIMG") go to the image loader instead of the
// operation interpreter: decoded as they are, and again with the checksum rewritten so that
// mutations get past it to the structural checks. Every outcome must be a decoded image or a
// StubImageError; a decoded image must restore or throw one, and a restored image must hold what
// the image says.
import StubPool

enum ImageFuzz {
    static let magic = Array("STUBPIMG".utf8)

    static func accepts(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= magic.count && Array(bytes.prefix(magic.count)) == magic
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var input = Array(bytes)
        check(input)
        guard input.count >= 64 else { return }
        guard let checksum = StubImage.checksum(ofEncoded: input) else { return }
        withUnsafeBytes(of: checksum.littleEndian) { input.replaceSubrange(56..<64, with: $0) }
        check(input)
    }

    static func check(_ bytes: [UInt8]) {
        let image: StubImage
        do throws(StubImageError) { image = try StubImage(decoding: bytes) } catch { return }
        // Bound the work one input can ask for (a valid image may describe millions of stubs).
        guard image.stubs.count <= 100_000, image.blobs.count <= 10_000 else { return }
        let restored: RestoredImage
        do throws(StubImageError) {
            restored = try image.restore(resolver: { _ in nil }, lazy: { _, pool in
                StubImage.LazySink(try pool.lazyStubs(of: [UInt8].self) { batch in
                    batch.map { _ in LazyResolution(targetAddress: 0x1000, context: 0) }
                }, decode: { $0 })
            })
        } catch {
            return
        }
        if restored.stubs.count != image.stubs.count || restored.blobs.count != image.blobs.count {
            FuzzDriver.violation("restored \(restored.stubs.count) stubs, \(restored.blobs.count) blobs of \(image.stubs.count), \(image.blobs.count)")
        }
        let statistics = restored.pools.map { $0.statistics() }
        let live = statistics.reduce(0) { $0 + $1.liveStubs }
        if live != image.stubs.count {
            FuzzDriver.violation("\(live) live stubs after restoring \(image.stubs.count)")
        }
        if let arena = restored.arena { for blob in restored.blobs { try? arena.free(blob) } }
    }
}
