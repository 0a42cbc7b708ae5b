import WasmKit

/// How a native caller passes one argument of a bridged guest function.
public enum NativeParameter: Sendable, Hashable {
    /// A 32-bit integer in an integer register (wasm `i32`).
    case i32
    /// A 64-bit integer in an integer register (wasm `i64`).
    case i64
    /// A `float` in a floating-point register (wasm `f32`).
    case f32
    /// A `double` in a floating-point register (wasm `f64`).
    case f64
    /// A native pointer into the instance's linear memory, passed to the guest as an `i32` offset
    /// (what `qsort` hands a comparator when the array lives in guest memory).
    case guestPointer

    var isInteger: Bool { self == .i32 || self == .i64 || self == .guestPointer }

    /// The wasm type the guest receives.
    var wasmType: ValueType {
        switch self {
        case .i32, .guestPointer: .i32
        case .i64: .i64
        case .f32: .f32
        case .f64: .f64
        }
    }
}

/// What a bridged guest function returns to its native caller.
public enum NativeResult: Sendable, Hashable {
    case void, i32, i64, f32, f64

    var isFloat: Bool { self == .f32 || self == .f64 }

    /// The wasm results the guest returns.
    var wasmTypes: [ValueType] {
        switch self {
        case .void: []
        case .i32: [.i32]
        case .i64: [.i64]
        case .f32: [.f32]
        case .f64: [.f64]
        }
    }
}

/// The C signature a bridged guest function has: integer arguments in the integer argument
/// registers in order, floating-point ones in the vector registers in order (System V x86-64 and
/// AAPCS64 assign the two classes independently), at most one result.
public struct NativeSignature: Sendable, Hashable, CustomStringConvertible {
    public var parameters: [NativeParameter]
    public var result: NativeResult

    /// Integer arguments a native caller can pass: one argument register is taken by the export's
    /// record (x86-64: 6 − 1; AArch64: 8 − 1).
    public static let maximumIntegerParameters = NativeReceivers.integerRegisters - 1
    /// Floating-point arguments a native caller can pass in registers.
    public static let maximumFloatParameters = 8

    /// - Throws: ``BridgeError/unsupportedSignature(_:reason:)`` beyond the register limits.
    public init(parameters: [NativeParameter], result: NativeResult) throws(BridgeError) {
        self.parameters = parameters
        self.result = result
        let integers = parameters.filter(\.isInteger).count
        if integers > Self.maximumIntegerParameters {
            throw .unsupportedSignature(description, reason: "\(integers) integer parameters, at most \(Self.maximumIntegerParameters)")
        }
        if parameters.count - integers > Self.maximumFloatParameters {
            throw .unsupportedSignature(description, reason: "more than \(Self.maximumFloatParameters) floating-point parameters")
        }
    }

    /// The native form of a wasm function type: numbers only, at most one result.
    public init(_ type: FunctionType) throws(BridgeError) {
        var parameters: [NativeParameter] = []
        for parameter in type.parameters {
            switch parameter {
            case .i32: parameters.append(.i32)
            case .i64: parameters.append(.i64)
            case .f32: parameters.append(.f32)
            case .f64: parameters.append(.f64)
            default: throw .unsupportedSignature("\(type)", reason: "parameter of type \(parameter) has no C form")
            }
        }
        let result: NativeResult
        switch type.results {
        case []: result = .void
        case [.i32]: result = .i32
        case [.i64]: result = .i64
        case [.f32]: result = .f32
        case [.f64]: result = .f64
        default: throw .unsupportedSignature("\(type)", reason: "results \(type.results) have no C form")
        }
        try self.init(parameters: parameters, result: result)
    }

    /// Whether `type` is what this native signature calls after `leading` parameters (guest
    /// pointers are `i32` offsets).
    func matches(_ type: FunctionType, leading: [ValueType]) -> Bool {
        type.parameters == leading + parameters.map(\.wasmType) && type.results == result.wasmTypes
    }

    public var description: String {
        "(\(parameters.map { "\($0)" }.joined(separator: ", "))) -> \(result)"
    }
}
