import CStubPoolShim
import Foundation
import Testing
@testable import StubPool

/// gdb's JIT interface: the list at `__jit_debug_descriptor` and the symbol files in it, read
/// back here, and gdb itself stopped inside a named arena body (StubPoolCrashProbe `gdb-workload`).
@Suite(.serialized) struct DebuggerTests {
    struct Symbol: Hashable {
        var name: String, address: UInt64, size: UInt64
    }

    /// Reads a symbol file: the ELF header, its `.text` sections' ranges and its function symbols.
    static func readSymbolFile(_ bytes: [UInt8]) throws -> (sections: [Range<UInt64>], symbols: [Symbol]) {
        func u16(_ at: Int) -> UInt16 { bytes[at..<at + 2].reversed().reduce(0) { $0 << 8 | UInt16($1) } }
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func string(_ at: Int) throws -> String {
            let end = try #require(bytes[at...].firstIndex(of: 0))
            return String(decoding: bytes[at..<end], as: UTF8.self)
        }
        try #require(bytes.count >= 64 && bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46], "ELF magic")
        #expect(bytes[4] == 2 && bytes[5] == 1, "64-bit little-endian")
        #expect(u16(16) == 2, "ET_EXEC")
        #expect(u16(18) == (Architecture.host == .x86_64 ? 62 : 183), "machine")
        let sectionHeaders = Int(u64(40)), count = Int(u16(60)), namesIndex = Int(u16(62))
        try #require(sectionHeaders + count * 64 == bytes.count, "section headers end the file")
        func header(_ index: Int) -> (name: Int, type: UInt32, flags: UInt64, address: UInt64, offset: Int, size: Int, link: Int) {
            let at = sectionHeaders + index * 64
            return (Int(u32(at)), u32(at + 4), u64(at + 8), u64(at + 16), Int(u64(at + 24)), Int(u64(at + 32)), Int(u32(at + 40)))
        }
        let names = header(namesIndex)
        var sections: [Range<UInt64>] = [], sectionOfIndex: [Int: Range<UInt64>] = [:], symbols: [Symbol] = []
        for index in 1..<count {
            let section = header(index)
            let name = try string(names.offset + section.name)
            if name == ".text" {
                #expect(section.type == 8 && section.flags == 6, "NOBITS, ALLOC|EXECINSTR")
                sections.append(section.address..<section.address + UInt64(section.size))
                sectionOfIndex[index] = sections.last
            }
        }
        for index in 1..<count where header(index).type == 2 {
            let table = header(index), strings = header(table.link)
            for at in stride(from: table.offset + 24, to: table.offset + table.size, by: 24) {
                let symbol = Symbol(name: try string(strings.offset + Int(u32(at))), address: u64(at + 8), size: u64(at + 16))
                #expect(bytes[at + 4] == 0x12, "global function")
                let section = try #require(sectionOfIndex[Int(u16(at + 6))], "\(symbol.name) in a .text section")
                #expect(section.contains(symbol.address) && symbol.address + symbol.size <= section.upperBound)
                symbols.append(symbol)
            }
        }
        return (sections, symbols)
    }

    /// Every symbol file in gdb's list, first to last, checking the links both ways.
    static func listedFiles() throws -> [(sections: [Range<UInt64>], symbols: [Symbol])] {
        let descriptor = stubpool_gdb_descriptor()!.pointee
        #expect(descriptor.version == 1 && descriptor.action_flag == 0)
        var files: [(sections: [Range<UInt64>], symbols: [Symbol])] = []
        var previous: UnsafeMutablePointer<stubpool_jit_code_entry>?
        var node = descriptor.first_entry
        while let entry = node {
            #expect(entry.pointee.prev_entry == previous, "back link")
            let bytes = [UInt8](UnsafeRawBufferPointer(start: entry.pointee.symfile_addr, count: Int(entry.pointee.symfile_size)))
            files.append(try readSymbolFile(bytes))
            previous = entry
            node = entry.pointee.next_entry
        }
        return files
    }

    static func pieces(_ count: Int, base: UInt, prefix: String) -> [SymbolFile.Piece] {
        (0..<count).map { SymbolFile.Piece(address: base + UInt($0) * 32, size: 20, extent: 32, name: .numbered(prefix, UInt64($0))) }
    }

    /// Entries of at most 256 pieces; freed blobs leave at the next settle, their entry replaced;
    /// an owner's entries leave at once; nothing stays listed after removeAll.
    @Test func registryListsSymbolFilesAndForgetsFreedCode() throws {
        let registry = DebuggerRegistry()
        defer { registry.removeAll() }
        let arena = DebugOwner.arena(ObjectIdentifier(registry))
        let blobs = Self.pieces(300, base: 0x1000_0000, prefix: "blob#")
        registry.register(blobs.reversed(), owner: arena)
        var files = try Self.listedFiles()
        #expect(files.count == 2 && registry.entryCount == 2)
        #expect(Set(files.flatMap(\.symbols)) == Set(blobs.enumerated().map { Symbol(name: "blob#\($0.offset)", address: UInt64($0.element.address), size: 20) }))
        #expect(files.allSatisfy { $0.sections.count == 1 }, "touching extents share one section")

        registry.forget(blobAt: blobs[5].address)
        registry.forget(blobAt: blobs[299].address)
        registry.forget(blobAt: 0x42)  // not a registered blob: ignored
        #expect(try Self.listedFiles().flatMap(\.symbols).count == 300, "freed names stay until the next settle")
        registry.settle()
        files = try Self.listedFiles()
        let names = Set(files.flatMap(\.symbols).map(\.name))
        #expect(names.count == 298 && !names.contains("blob#5") && !names.contains("blob#299"))
        #expect(files.map(\.sections.count).sorted() == [1, 2], "the gap left by blob#5 splits its entry's section")

        let chunk = DebugOwner.chunk(0x2000_0000)
        registry.register(Self.pieces(10, base: 0x2000_0000, prefix: "pool#"), owner: chunk)
        #expect(try Self.listedFiles().count == 3)
        registry.forget(owner: chunk)
        #expect(try Self.listedFiles().flatMap(\.symbols).allSatisfy { $0.name.hasPrefix("blob#") })
        registry.forget(owner: arena)
        #expect(try Self.listedFiles().isEmpty && registry.entryCount == 0)
        registry.register(Self.pieces(3, base: 0x3000_0000, prefix: "x#"), owner: arena)
        registry.removeAll()
        #expect(stubpool_gdb_descriptor()!.pointee.first_entry == nil)
    }

    static let gdb = ExternalTools.find("gdb")
    static let gdbEnabled = gdb != nil || ExternalTools.isCI

    /// gdb itself, stopped by a trap inside an arena body called through a stub: `bt` and
    /// `info symbol` name the body, the stub (by its default name), a blob that reused a freed
    /// blob's slot (by its new name) and a stub named with setName (by that name).
    @Test(.enabled(if: gdbEnabled, "needs gdb (installed by .ci/run, runs whenever CI=true)"))
    func gdbNamesArenaBodiesAndStubs() throws {
        let gdb = try #require(Self.gdb, "gdb missing: .ci/run installs it")
        let probe = ChildProcess.executable(named: "StubPoolCrashProbe").path
        let (first, second, third) = Architecture.host == .x86_64 ? ("$rdi", "$rsi", "$rdx") : ("$x0", "$x1", "$x2")
        let result = try ChildProcess.run(gdb, arguments: [
            "-batch", "-nx", "-ex", "run", "-ex", "bt", "-ex", "info symbol $pc", "-ex", "info symbol \(first)",
            "-ex", "info symbol \(second)", "-ex", "info symbol \(third)", "-ex", "kill", "--args", probe, "gdb-workload",
        ], environment: ["STUBPOOL_PERF": "gdb"], timeout: 120)
        let output = result.standardOutput + result.standardError
        print("gdb -batch on gdb-workload:\n" + output.split(separator: "\n").filter { !$0.hasPrefix("During symbol reading") }.joined(separator: "\n"))
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("#0 ") && $0.contains(" in wasm-body:trap ") }, "bt: frame 0 is the arena body")
        #expect(lines.contains { $0.hasPrefix("#1 ") && $0.contains("GDBWorkload") && $0.contains("callThrough") }, "bt: unwinds to its caller")
        #expect(lines.contains { $0.hasPrefix("wasm-body:trap") && $0.contains(" in section .text of <in-memory@") }, "info symbol $pc")
        // "stub probe-pool#16383 0x7fffeee7f000", printed by the probe before the trap.
        let stubName = try #require(lines.first { $0.hasPrefix("stub probe-pool#") }?.split(separator: " ")[1])
        #expect(lines.contains { $0.hasPrefix("\(stubName) in section .text") }, "info symbol of the stub: its default name")
        #expect(lines.contains { $0.hasPrefix("reused true ") }, "the later blob took the freed blob's slot")
        #expect(lines.contains { $0.hasPrefix("wasm-body:later in section .text") }, "info symbol of the reused slot: the new blob's name")
        #expect(!output.contains("wasm-body:gone") && !output.contains("overlap"), "the freed blob's name is gone")
        #expect(lines.contains { $0.hasPrefix("wasm-exit:renamed in section .text") }, "info symbol of a stub named with setName")
    }
}
