import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the lazy resolver needs from a pool's lazy batches, independent of their spec type.
protocol LazyController: AnyObject, Sendable {
    /// Materializes the batch containing the stub at `entry`, whose data slot is at `dataSlot`
    /// (or waits for it), and returns where the call continues.
    func resolve(entry: UInt, dataSlot: UInt) -> stubpool_lazy_continuation_t
    /// Drops `stub` from the pending set: it was retargeted or released by its owner.
    func forget(_ stub: Stub)
    /// Drops every stub of `stubs` from the pending set, under one lock.
    func forget(_ stubs: StubRange)
}

/// Routes resolver calls to the pool that owns the called stub.
enum LazyDispatch {
    private static let controllers = Locked<[UInt32: any LazyController]>([:], rank: .lazyDispatch)

    static let installed: Bool = {
        stubpool_set_lazy_handler { slot in LazyDispatch.resolve(slot: slot) }
        return true
    }()

    /// Registers `controller` for the pool with `token`; false if it already has one.
    static func register(_ controller: any LazyController, token: UInt32) -> Bool {
        _ = installed
        return controllers.withLock { table in
            guard table[token] == nil else { return false }
            table[token] = controller
            return true
        }
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
