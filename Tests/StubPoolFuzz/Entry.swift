// Two faces of one driver. Built with `-sanitize=fuzzer -D STUBPOOL_LIBFUZZER`, this is a
// libFuzzer target; otherwise a replayer that runs files (or every file in directories) through
// the same checks, which is how `swift test` runs the committed seed corpus.
#if STUBPOOL_LIBFUZZER
import CTestHelpers
import Foundation

// SwiftPM links an executable target's entry point under this name; hand control to libFuzzer.
@_cdecl("StubPoolFuzz_main")
public func stubPoolFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    let faults = FuzzDriver.faultInjectionAvailable ? "on" : "OFF (build with -Xcc -DSTUBPOOL_FAULT_INJECTION)"
    FileHandle.standardError.write(Data("StubPoolFuzz: fault injection \(faults)\n".utf8))
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        _ = FuzzDriver.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
#else
import Foundation

@main
enum Replay {
    static func main() throws {
        var files: [URL] = []
        for argument in CommandLine.arguments.dropFirst() {
            let url = URL(fileURLWithPath: argument)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("no such file: \(argument)\n".utf8))
                exit(2)
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
                files += names.map { url.appendingPathComponent($0) }
            } else {
                files.append(url)
            }
        }
        var operations = 0
        for file in files {
            let data = try Data(contentsOf: file)
            operations += data.withUnsafeBytes { FuzzDriver.run($0) }
        }
        print("REPLAY files=\(files.count) operations=\(operations) faults=\(FuzzDriver.faultInjectionAvailable ? "on" : "off")")
    }
}
#endif
