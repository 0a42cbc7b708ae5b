/// Why a bridge operation failed, or what went wrong in a call from native code.
public enum BridgeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The function's type has no C form within the register limits.
    case unsupportedSignature(String, reason: String)
    /// No exported function of this name.
    case noSuchExport(String)
    /// The export's wasm type is not what the native signature calls.
    case signatureMismatch(export: String, wasm: String, native: String)
    /// The instance exports no memory, but a signature takes guest pointers.
    case noMemory
    /// The instance was released.
    case released
    /// A StubPool operation failed (`message` is its description).
    case stubPool(String)
    /// A call trapped inside the guest; the native caller got the defined return value.
    case trap(export: String, message: String)
    /// A native pointer argument does not point into the instance's memory.
    case pointerOutsideMemory(export: String, address: UInt)
    /// A call from a thread other than the store's owner was refused (WasmKit's store is confined
    /// to one thread).
    case wrongThread(export: String, owner: String, caller: String)

    public var description: String {
        switch self {
        case .unsupportedSignature(let signature, let reason): "unsupported signature \(signature): \(reason)"
        case .noSuchExport(let name): "no exported function \"\(name)\""
        case .signatureMismatch(let export, let wasm, let native): "\(export): wasm type \(wasm) is not native \(native)"
        case .noMemory: "the instance exports no memory \"memory\" for guest pointers"
        case .released: "the instance was released"
        case .stubPool(let message): "StubPool: \(message)"
        case .trap(let export, let message): "\(export) trapped: \(message)"
        case .pointerOutsideMemory(let export, let address):
            "\(export): pointer 0x\(String(address, radix: 16)) is not inside the instance's memory"
        case .wrongThread(let export, let owner, let caller):
            "\(export) called on thread \(caller), but its store belongs to thread \(owner): call refused"
        }
    }
}
