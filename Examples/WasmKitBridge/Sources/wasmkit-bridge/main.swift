import WasmKit
import WasmKitBridge
import WAT

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "call-released":
    // For the tests: a released function pointer must abort with StubPool's diagnostic.
    let module = try parseWasm(bytes: wat2wasm("(module (func (export \"add\") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"))
    let bridge = try Bridge()
    let instance = try bridge.instantiate(module, store: Store(engine: Engine()), mode: .eager)
    typealias Add = @convention(c) (Int32, Int32) -> Int32
    let add = instance.exports["add"]!.function(as: Add.self)
    precondition(add(40, 2) == 42)
    try instance.release()
    print(add(1, 2))
    exit(3)
default:
    try Figures.run(exports: Int(arguments.first ?? "") ?? 10_000)
}
