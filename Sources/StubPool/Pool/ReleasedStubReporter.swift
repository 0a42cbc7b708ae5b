import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reports a call through a released stub and aborts. Installed once, before the first chunk.
enum ReleasedStubReporter {
    static let installed: Bool = {
        stubpool_set_released_handler { address in ReleasedStubReporter.report(address) }
        return true
    }()

    static func message(forAddressInStub address: UInt) -> String {
        guard let chunk = ChunkRegistry.chunk(containing: address) else {
            return "stubpool: call through released stub at 0x\(String(address, radix: 16)) (unknown chunk)\n"
        }
        let physical = Int(address - chunk.base) / chunk.layout.geometry.slotSize
        let entry = chunk.base + UInt(physical * chunk.layout.geometry.slotSize)
        guard let logical = chunk.layout.placement.logical(physical) else {
            return "stubpool: call through unused stub slot at 0x\(String(entry, radix: 16))\n"
        }
        return "stubpool: call through released stub #\(chunk.stub(ofLogical: logical).id) at 0x\(String(entry, radix: 16))\n"
    }

    static func report(_ address: UInt) -> Never {
        StandardError.emit(message(forAddressInStub: address))
        abort()
    }
}
