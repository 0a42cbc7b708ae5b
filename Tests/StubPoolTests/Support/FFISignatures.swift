import CFFI
@testable import StubPool

/// Random C signatures for libffi, with argument values. Owns every ffi_type and buffer it makes.
final class FFISignatureFactory {
    private var allocations: [UnsafeMutableRawPointer] = []
    private(set) var scalarTypes: [UnsafeMutablePointer<ffi_type>] = [
        cffi_type_uint8(), cffi_type_sint8(), cffi_type_uint16(), cffi_type_sint16(),
        cffi_type_uint32(), cffi_type_sint32(), cffi_type_uint64(), cffi_type_sint64(),
        cffi_type_float(), cffi_type_double(), cffi_type_pointer(),
    ]
    /// Types a variadic call may pass after its fixed arguments (C's default promotions).
    private(set) lazy var variadicTypes: [UnsafeMutablePointer<ffi_type>] = [
        cffi_type_sint32(), cffi_type_uint64(), cffi_type_sint64(), cffi_type_double(), cffi_type_pointer(),
    ]
    /// Small (≤ 16 bytes, in registers) and large (memory) structs, mixing integer and SSE classes.
    private(set) lazy var structTypes: [UnsafeMutablePointer<ffi_type>] = [
        makeStruct([cffi_type_sint8(), cffi_type_float()]),
        makeStruct([cffi_type_sint32(), cffi_type_sint32()]),
        makeStruct([cffi_type_double(), cffi_type_sint64()]),
        makeStruct([cffi_type_float(), cffi_type_float(), cffi_type_float()]),
        makeStruct([cffi_type_double(), cffi_type_double()]),
        makeStruct([cffi_type_uint16(), cffi_type_uint8(), cffi_type_double()]),
        makeStruct([cffi_type_sint64(), cffi_type_sint64(), cffi_type_sint64()]),
        makeStruct([cffi_type_double(), cffi_type_double(), cffi_type_double(), cffi_type_double()]),
        makeStruct([cffi_type_sint32(), cffi_type_double(), cffi_type_float(), cffi_type_sint8(), cffi_type_sint64()]),
    ]

    deinit { allocations.forEach { $0.deallocate() } }

    private func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 16), alignment: 16)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 16))
        allocations.append(memory)
        return memory
    }

    private func makeStruct(_ members: [UnsafeMutablePointer<ffi_type>]) -> UnsafeMutablePointer<ffi_type> {
        let elements = allocate(bytes: (members.count + 1) * 8).bindMemory(to: UnsafeMutablePointer<ffi_type>?.self, capacity: members.count + 1)
        for (index, member) in members.enumerated() { elements[index] = member }
        elements[members.count] = nil
        let type = allocate(bytes: MemoryLayout<ffi_type>.size).bindMemory(to: ffi_type.self, capacity: 1)
        type.pointee = ffi_type(size: 0, alignment: 0, type: UInt16(FFI_TYPE_STRUCT), elements: elements)
        return type
    }

    struct Signature {
        var cif: UnsafeMutablePointer<ffi_cif>
        var values: UnsafeMutablePointer<UnsafeMutableRawPointer?>
        var returnType: UnsafeMutablePointer<ffi_type>
        var argumentTypes: [UnsafeMutablePointer<ffi_type>]
        var fixedCount: Int?
        /// Whether any argument travels in a vector register.
        var usesVectorRegisters: Bool
        /// Stack bytes the arguments take.
        var stackBytes: Int { Int(cif.pointee.bytes) }

        /// `ffi_call` of `function`. libffi 3.4 rewrites the argument-pointer array it is given
        /// (large structs are redirected to copies in its own, soon dead, frame), so every call
        /// gets a fresh copy of it.
        func call(_ function: UnsafeRawPointer, result: UnsafeMutableRawPointer) {
            let count = max(1, argumentTypes.count)
            let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: count)
            defer { pointers.deallocate() }
            pointers.initialize(from: values, count: count)
            ffi_call(cif, unsafeBitCast(function, to: (@convention(c) () -> Void).self), result, pointers)
        }
    }

    /// A random signature: up to 16 arguments of every class, sometimes variadic.
    func makeSignature(using random: inout SplitMix64) -> Signature {
        func pick(_ types: [UnsafeMutablePointer<ffi_type>]) -> UnsafeMutablePointer<ffi_type> {
            types[Int(random.next() % UInt64(types.count))]
        }
        let argumentCount = Int(random.next() % 17)
        let variadic = argumentCount > 1 && random.next() % 4 == 0
        let fixedCount = variadic ? 1 + Int(random.next() % UInt64(argumentCount - 1)) : nil
        var types: [UnsafeMutablePointer<ffi_type>] = []
        for index in 0..<argumentCount {
            if let fixedCount, index >= fixedCount {
                types.append(pick(variadicTypes))
            } else {
                types.append(random.next() % 5 == 0 ? pick(structTypes) : pick(scalarTypes))
            }
        }
        let returnType: UnsafeMutablePointer<ffi_type>
        switch random.next() % 6 {
        case 0: returnType = cffi_type_void()
        case 1: returnType = pick(structTypes)
        default: returnType = pick(scalarTypes)
        }
        let typeArray = allocate(bytes: max(1, types.count) * 8).bindMemory(to: UnsafeMutablePointer<ffi_type>?.self, capacity: max(1, types.count))
        for (index, type) in types.enumerated() { typeArray[index] = type }
        let cif = allocate(bytes: MemoryLayout<ffi_cif>.size).bindMemory(to: ffi_cif.self, capacity: 1)
        let status: ffi_status
        if let fixedCount {
            status = ffi_prep_cif_var(cif, cffi_default_abi(), UInt32(fixedCount), UInt32(types.count), returnType, typeArray)
        } else {
            status = ffi_prep_cif(cif, cffi_default_abi(), UInt32(types.count), returnType, typeArray)
        }
        precondition(status == FFI_OK, "ffi_prep_cif failed: \(status)")
        let values = allocate(bytes: max(1, types.count) * 8).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: max(1, types.count))
        var usesVector = false
        for (index, type) in types.enumerated() {
            let buffer = allocate(bytes: type.pointee.size)
            for byte in 0..<type.pointee.size { buffer.storeBytes(of: UInt8(truncatingIfNeeded: random.next()), toByteOffset: byte, as: UInt8.self) }
            values[index] = buffer
            usesVector = usesVector || containsFloatingPoint(type)
        }
        return Signature(cif: cif, values: values, returnType: returnType, argumentTypes: types,
                         fixedCount: fixedCount, usesVectorRegisters: usesVector)
    }

    private func containsFloatingPoint(_ type: UnsafeMutablePointer<ffi_type>) -> Bool {
        switch Int32(type.pointee.type) {
        case FFI_TYPE_FLOAT, FFI_TYPE_DOUBLE: return true
        case FFI_TYPE_STRUCT:
            var index = 0
            while let member = type.pointee.elements[index] {
                if containsFloatingPoint(member) { return true }
                index += 1
            }
            return false
        default: return false
        }
    }

    func describe(_ signature: Signature) -> String {
        let names = signature.argumentTypes.map { name($0) }
        var arguments = names
        if let fixed = signature.fixedCount { arguments.insert("...", at: fixed) }
        return "\(name(signature.returnType))(\(arguments.joined(separator: ", ")))"
    }

    private func name(_ type: UnsafeMutablePointer<ffi_type>) -> String {
        switch Int32(type.pointee.type) {
        case FFI_TYPE_VOID: return "void"
        case FFI_TYPE_UINT8: return "u8"
        case FFI_TYPE_SINT8: return "s8"
        case FFI_TYPE_UINT16: return "u16"
        case FFI_TYPE_SINT16: return "s16"
        case FFI_TYPE_UINT32: return "u32"
        case FFI_TYPE_SINT32: return "s32"
        case FFI_TYPE_UINT64: return "u64"
        case FFI_TYPE_SINT64: return "s64"
        case FFI_TYPE_FLOAT: return "float"
        case FFI_TYPE_DOUBLE: return "double"
        case FFI_TYPE_POINTER: return "ptr"
        case FFI_TYPE_STRUCT:
            var members: [String] = []
            var index = 0
            while let member = type.pointee.elements[index] { members.append(name(member)); index += 1 }
            return "{\(members.joined(separator: ","))}"
        default: return "type\(type.pointee.type)"
        }
    }
}

/// The seed for randomized tests: `STUBPOOL_SEED` if set, otherwise fresh; always printed.
func testSeed(_ name: String) -> UInt64 {
    let seed: UInt64
    if let text = getenv("STUBPOOL_SEED"), let value = UInt64(String(cString: text)) {
        seed = value
    } else {
        seed = UInt64.random(in: 1...UInt64.max)
    }
    print("\(name): seed \(seed) (rerun with STUBPOOL_SEED=\(seed))")
    return seed
}

#if canImport(Glibc)
import Glibc
#endif
