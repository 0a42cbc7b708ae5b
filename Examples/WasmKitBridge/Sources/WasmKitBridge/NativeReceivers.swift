import StubPool

/// The native functions every bridged call arrives at. An export's adapter (generated code in the
/// bridge's arena) loads the export's record into the last integer argument register and jumps
/// here, so one receiver per result class serves every signature: declared with every integer and
/// floating-point argument register, it sees whatever the caller put there (System V x86-64 and
/// AAPCS64 assign integer and floating-point arguments to their registers independently, and
/// nothing a bridged signature passes goes on the stack); the record says which of them are
/// arguments.
enum NativeReceivers {
    #if arch(x86_64)
    static let integerRegisters = 6
    typealias IntegerReceiver = @convention(c) (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                                                Double, Double, Double, Double, Double, Double, Double, Double) -> UInt64
    typealias FloatReceiver = @convention(c) (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                                              Double, Double, Double, Double, Double, Double, Double, Double) -> Double
    static let integerResult: IntegerReceiver = { a0, a1, a2, a3, a4, record, f0, f1, f2, f3, f4, f5, f6, f7 in
        ExportRecord.receive(record, (a0, a1, a2, a3, a4), (f0, f1, f2, f3, f4, f5, f6, f7)).integer
    }
    static let floatResult: FloatReceiver = { a0, a1, a2, a3, a4, record, f0, f1, f2, f3, f4, f5, f6, f7 in
        ExportRecord.receive(record, (a0, a1, a2, a3, a4), (f0, f1, f2, f3, f4, f5, f6, f7)).float
    }
    #elseif arch(arm64)
    static let integerRegisters = 8
    typealias IntegerReceiver = @convention(c) (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                                                Double, Double, Double, Double, Double, Double, Double, Double) -> UInt64
    typealias FloatReceiver = @convention(c) (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                                              Double, Double, Double, Double, Double, Double, Double, Double) -> Double
    static let integerResult: IntegerReceiver = { a0, a1, a2, a3, a4, a5, a6, record, f0, f1, f2, f3, f4, f5, f6, f7 in
        ExportRecord.receive(record, (a0, a1, a2, a3, a4, a5, a6), (f0, f1, f2, f3, f4, f5, f6, f7)).integer
    }
    static let floatResult: FloatReceiver = { a0, a1, a2, a3, a4, a5, a6, record, f0, f1, f2, f3, f4, f5, f6, f7 in
        ExportRecord.receive(record, (a0, a1, a2, a3, a4, a5, a6), (f0, f1, f2, f3, f4, f5, f6, f7)).float
    }
    #endif

    static var integerResultAddress: UInt64 { UInt64(UInt(bitPattern: unsafeBitCast(integerResult, to: UnsafeRawPointer.self))) }
    static var floatResultAddress: UInt64 { UInt64(UInt(bitPattern: unsafeBitCast(floatResult, to: UnsafeRawPointer.self))) }

    /// The adapter every export gets, as one template: the record (parameter 0) into the last
    /// integer argument register, then a jump to the receiver (parameter 1).
    static let adapterTemplate: CodeBody = {
        do {
            return try CodeEmitter.bindConstants([.parameter(0)], afterArguments: integerRegisters - 1,
                                                 target: .parameter(1), architecture: .host)
        } catch {
            fatalError("the adapter template must fit: \(error)")
        }
    }()
}
