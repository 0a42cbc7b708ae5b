import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Routes resolver calls to the pool that owns the called stub: the one process-wide table the
/// assembly resolver needs (it knows only the stub's address). Pools hold their own controller
/// (``LazyControllerSlot``); retarget and release never come here.
enum LazyDispatch {
    private static let controllers = Locked<[UInt32: any LazyController]>([:], rank: .lazyDispatch)

    static let installed: Bool = {
        stubpool_set_lazy_handler { slot in LazyDispatch.resolve(slot: slot) }
        return true
    }()

    /// Registers `controller` for the pool with `token` (which has no other: the pool's
    /// ``LazyControllerSlot`` attaches one at most).
    static func register(_ controller: any LazyController, token: UInt32) {
        _ = installed
        controllers.withLock { $0[token] = controller }
    }

    static func unregister(token: UInt32) {
        _ = controllers.withLock { $0.removeValue(forKey: token) }
    }

    static func controller(forToken token: UInt32) -> (any LazyController)? {
        controllers.withLock { $0[token] }
    }

    private static func resolve(slot: UInt) -> stubpool_lazy_continuation_t {
        guard let chunk = ChunkRegistry.chunk(containing: slot), let dataSlot = chunk.slot(ofEntry: slot)?.dataSlot,
              let controller = controller(forToken: chunk.layout.token) else {
            StandardError.emit("stubpool: lazy entry at 0x\(String(slot, radix: 16)) reached, but no pool with lazy batches owns it\n")
            abort()
        }
        return controller.resolve(entry: slot, dataSlot: dataSlot)
    }
}
