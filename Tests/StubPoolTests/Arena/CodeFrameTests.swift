import Foundation
import CTestHelpers
import Glibc
import Testing
@testable import StubPool

/// Call-frame information for arena bodies (CodeFrame): registered at commit, removed at free.
@Suite struct CodeFrameTests {
    /// `push rbp; mov rbp, rsp; int3; pop rbp; ret`: a trap inside a frame-pointer frame.
    static let trapInFrame: [UInt8] = [0x55, 0x48, 0x89, 0xE5, 0xCC, 0x5D, 0xC3]
    static let trapInFrameFrame = CodeFrame(steps: [
        .init(from: 1, .cfaOffset(16)), .init(from: 1, .saved(.x86_64FramePointer, cfaOffset: -16)),
        .init(from: 4, .cfaRegister(.x86_64FramePointer)),
        .init(from: 6, .cfa(.x86_64StackPointer, offset: 8)),
    ])

    @Test func stepsBecomeDWARFCallFrameInstructions() {
        #expect(Self.trapInFrameFrame.instructions == [
            0x41, 0x0E, 0x10,  // advance 1; def_cfa_offset 16
            0x86, 0x02,  // offset rbp, 2 × -8
            0x43, 0x0D, 0x06,  // advance 3; def_cfa_register rbp
            0x42, 0x0C, 0x07, 0x08,  // advance 2; def_cfa rsp, 8
        ])
        // advance_loc2 300; def_cfa_offset 200 (two ULEB bytes); advance_loc4 69,700; restore_extended 70
        let far = CodeFrame(steps: [.init(from: 300, .cfaOffset(200)), .init(from: 70_000, .restored(.init(70)))])
        #expect(far.instructions == [0x03, 0x2C, 0x01, 0x0E, 0xC8, 0x01, 0x04, 0x44, 0x10, 0x01, 0x00, 0x06, 0x46])
    }

    /// A backtrace from the trap crosses each body of a commit while its frame is registered (one
    /// registration for the commit); once a blob is freed, the same bytes committed without a frame
    /// in its slot stop it, while its neighbour of the first commit is still crossed; once that one
    /// is freed too, the registration is gone.
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func backtraceCrossesABodyWithAFrameUntilItIsFreed() throws {
        let arena = CodeArena()
        let framed = try arena.commit(Array(repeating: CodeBody(bytes: Self.trapInFrame, frame: Self.trapInFrameFrame), count: 2))
        #expect(framed.allSatisfy { ct_backtrace_crosses($0.entry) == 1 })
        try arena.free(framed[0])
        let bare = try arena.commit([CodeBody(bytes: Self.trapInFrame)])[0]
        try #require(bare.address == framed[0].address, "the freed slot is reused")
        #expect(ct_backtrace_crosses(bare.entry) == 0, "the freed blob's frame was taken out")
        #expect(ct_backtrace_crosses(framed[1].entry) == 1, "its neighbour's is still there")
        try arena.free(framed[1])
        let second = try arena.commit([CodeBody(bytes: Self.trapInFrame)])[0]
        try #require(second.address == framed[1].address)
        #expect(ct_backtrace_crosses(second.entry) == 0)
    }

    /// Templates carry their frame to every instance.
    @Test(.enabled(if: Architecture.host == .x86_64, "the trap-in-code helper is x86-64 only"))
    func everyInstanceOfAFramedTemplateIsCrossed() throws {
        let arena = CodeArena()
        let blobs = try arena.instantiate(CodeBody(bytes: Self.trapInFrame, frame: Self.trapInFrameFrame), arguments: Array(repeating: [], count: 50))
        #expect(blobs.allSatisfy { ct_backtrace_crosses($0.entry) == 1 })
        for blob in blobs { try arena.free(blob) }
    }

    /// A frame that cannot describe its body is a typed error and commits nothing.
    @Test func badFramesAreTypedErrorsAndCommitNothing() throws {
        let arena = CodeArena()
        let bad: [CodeFrame] = [
            CodeFrame(steps: [.init(from: 7, .cfaOffset(16))]),  // past the body
            CodeFrame(steps: [.init(from: 4, .cfaOffset(16)), .init(from: 1, .cfaOffset(8))]),  // out of order
            CodeFrame(steps: [.init(from: 1, .saved(.x86_64FramePointer, cfaOffset: 16))]),  // not below the CFA
            CodeFrame(steps: [.init(from: 1, .cfa(.x86_64StackPointer, offset: -8))]),
        ]
        for frame in bad {
            #expect(throws: CodeArenaError.self) {
                _ = try arena.commit([CodeBody(bytes: [0xC3]), CodeBody(bytes: Self.trapInFrame, frame: frame)])
            }
        }
        #expect(arena.statistics().liveBlobs == 0)
    }

    /// A C++ exception thrown by a function an arena body calls reaches the C++ caller above the
    /// body when the body has its frame; without it the process ends in std::terminate (the
    /// control: the first half could fail). In a probe process, since the control aborts.
    @Test(.enabled(if: Architecture.host == .x86_64, "the probe's body is x86-64 code"))
    func aCppExceptionCrossesABodyWithItsFrame() throws {
        let framed = try ChildProcess.run("StubPoolCrashProbe", arguments: ["cxx-exception", "cfi"])
        #expect(framed.terminationStatus == 0 && !framed.terminatedBySignal && framed.standardOutput.contains("caught 1"),
                "\(framed.standardOutput) \(framed.standardError)")
        let bare = try ChildProcess.run("StubPoolCrashProbe", arguments: ["cxx-exception", "none"], environment: ["SWIFT_BACKTRACE": "enable=no"])
        #expect(bare.terminatedBySignal && bare.terminationStatus == SIGABRT, "\(bare.standardOutput) \(bare.standardError)")
        #expect(bare.standardError.contains("terminate"))
    }

    /// LLVM's libunwind (Debian's libunwind-14), where the exception and the frames come from:
    /// preloaded, it is the unwinder libstdc++'s throw binds to, and the library registers the
    /// body's FDE with its `__unw_add_dynamic_fde` instead of libgcc's `__register_frame`. The same
    /// exception crosses the body with its frame, and without it ends in std::terminate.
    @Test(.enabled(if: Architecture.host == .x86_64, "the probe's body is x86-64 code"))
    func aCppExceptionCrossesABodyWithItsFrameUnderLLVMsLibunwind() throws {
        let library = ["/usr/lib/x86_64-linux-gnu/libunwind.so.1", "/usr/lib/llvm-14/lib/libunwind.so.1"]
            .first { FileManager.default.fileExists(atPath: $0) }
        guard let library else {
            try #require(!ExternalTools.isCI, "CI installs libunwind-14 (LLVM's libunwind)")
            print("CodeFrameTests: skipped LLVM's libunwind: no libunwind.so.1 (apt-get install libunwind-14)")
            return
        }
        let environment = ["LD_PRELOAD": library, "SWIFT_BACKTRACE": "enable=no"]
        let framed = try ChildProcess.run("StubPoolCrashProbe", arguments: ["cxx-exception", "cfi"], environment: environment)
        #expect(framed.standardOutput.contains("unwinder llvm-libunwind"), "\(framed.standardOutput)")
        #expect(framed.terminationStatus == 0 && !framed.terminatedBySignal && framed.standardOutput.contains("caught 1"),
                "\(framed.standardOutput) \(framed.standardError)")
        let bare = try ChildProcess.run("StubPoolCrashProbe", arguments: ["cxx-exception", "none"], environment: environment)
        #expect(bare.terminatedBySignal && bare.terminationStatus == SIGABRT, "\(bare.standardOutput) \(bare.standardError)")
        print("CodeFrameTests: a C++ exception crossed an arena body with its frame under LLVM's libunwind (\(library)); without the frame: std::terminate")
    }
}
