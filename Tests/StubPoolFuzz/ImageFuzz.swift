// Inputs that begin with the image magic ("STUBPIMG") go to the image loader instead of the
// operation interpreter: decoded as they are, and again with the checksum rewritten so that
// mutations get past it to the structural checks. Every outcome must be a decoded image or a
// StubImageError; a decoded image must restore or throw one, and a restored image must hold what
// the image says. Restoring straight from the bytes must agree with decoding and restoring.
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
        do throws(StubImageError) { image = try StubImage(decoding: bytes) } catch {
            // Restoring straight from the bytes refuses what decoding refuses, the same way.
            do throws(StubImageError) {
                _ = try StubImage.restore(encoded: bytes, resolver: { _ in nil }, lazy: lazySink)
                FuzzDriver.violation("restored from bytes that decoding refused (\(error))")
            } catch let again {
                if again != error { FuzzDriver.violation("decoding refused with \(error), restoring with \(again)") }
            }
            return
        }
        // Bound the work one input can ask for (a valid image may describe millions of stubs).
        guard image.stubs.count <= 100_000, image.blobs.count <= 10_000 else { return }
        let restored: RestoredImage
        do throws(StubImageError) {
            restored = try image.restore(resolver: { _ in nil }, lazy: lazySink)
        } catch {
            do throws(StubImageError) {
                let again = try StubImage.restore(encoded: bytes, resolver: { _ in nil }, lazy: lazySink)
                release(again)
                FuzzDriver.violation("the bytes restored where their decoded image did not (\(error))")
            } catch let again {
                if again != error { FuzzDriver.violation("the decoded image refused with \(error), the bytes with \(again)") }
            }
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
        release(restored)
        // The same bytes restored without a decoded image: the same stubs and blobs.
        do throws(StubImageError) {
            let direct = try StubImage.restore(encoded: bytes, resolver: { _ in nil }, lazy: lazySink)
            if direct.stubs.count != image.stubs.count || direct.blobs.count != image.blobs.count {
                FuzzDriver.violation("restored from the bytes \(direct.stubs.count) stubs, \(direct.blobs.count) blobs")
            }
            release(direct)
        } catch {
            FuzzDriver.violation("the decoded image restored, its bytes did not: \(error)")
        }
    }

    /// Pending stubs resolve to a fixed address (never called here).
    static func lazySink(_ index: Int, _ pool: StubPool) throws -> StubImage.LazySink? {
        StubImage.LazySink(try pool.lazyStubs(of: [UInt8].self) { batch in
            batch.map { _ in LazyResolution(targetAddress: 0x1000, context: 0) }
        }, decode: { $0 })
    }

    static func release(_ restored: RestoredImage) {
        if let arena = restored.arena { for blob in restored.blobs { try? arena.free(blob) } }
    }
}
