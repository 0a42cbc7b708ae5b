import ArgumentParser
import Foundation
import StubPool
import StubPoolPeers

extension Architecture: ExpressibleByArgument {}
extension StubKind: ExpressibleByArgument {}

struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Print one stub slot of a template in hex, with disassembly when LLVM's tools are at hand.")

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var arch: Architecture = .host

    @Option(help: "Stub kind: \(StubKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: StubKind = .forward

    @Flag(help: "Begin the stub with a landing pad (endbr64 / bti c).")
    var landingPad = false

    @Flag(help: "Stubs of a pool with lazy batches (each slot also holds a lazy entry).")
    var lazy = false

    @Option(help: "Slot index inside the chunk (PC-relative offsets depend on it).")
    var slot = 0

    @Option(help: "Write the whole code region of a chunk to this file.")
    var output: String?

    func run() throws {
        let inspection = try TemplateInspection(architecture: arch, variant: StubVariant(kind: kind, landingPad: landingPad, lazyEntry: lazy))
        let bytes = try inspection.slot(slot)
        let chunk = inspection.geometry
        print("\(arch.rawValue) \(inspection.variant): \(inspection.slotSize)-byte slots, \(chunk.anchorSlot) stubs per \(chunk.codeSize / 1024) KiB chunk, data region \(chunk.dataSize / 1024) KiB")
        for row in stride(from: 0, to: bytes.count, by: 16) {
            let line = bytes[row..<min(row + 16, bytes.count)].map { String($0, radix: 16).leftPadded(to: 2) }
            print("  +\(String(row, radix: 16).leftPadded(to: 3)): \(line.joined(separator: " "))")
        }
        if let released = inspection.releasedEntryOffset { print("  released entry at +\(released)") }
        if let lazyEntry = inspection.lazyEntryOffset { print("  lazy entry at +\(lazyEntry)") }
        if let listing = Disassembler(architecture: arch)?.disassemble(bytes) {
            print(listing, terminator: "")
        } else {
            print("  (no disassembly: clang and llvm-objdump not found next to swift or on PATH)")
        }
        if let output {
            try Data(inspection.codeRegion).write(to: URL(fileURLWithPath: output))
            print("wrote \(chunk.codeSize) bytes of code region to \(output)")
        }
    }
}

/// Disassembles bytes with the LLVM tools shipped in the Swift toolchain: the bytes become an
/// object through clang's assembler, which llvm-objdump then lists.
struct Disassembler {
    let clang: URL
    let objdump: URL
    let triple: String

    init?(architecture: Architecture) {
        guard let clang = ToolSearch.find("clang").map(URL.init(fileURLWithPath:)),
              let objdump = ToolSearch.find("llvm-objdump").map(URL.init(fileURLWithPath:)) else { return nil }
        self.clang = clang
        self.objdump = objdump
        self.triple = architecture == .x86_64 ? "x86_64-linux-gnu" : "aarch64-linux-gnu"
    }

    func disassemble(_ bytes: [UInt8]) -> String? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stubpool-disassemble-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("slot.s"), object = directory.appendingPathComponent("slot.o")
        // .inst keeps AArch64 words as code (objdump would list .byte data as data).
        let body = triple.hasPrefix("aarch64")
            ? stride(from: 0, to: bytes.count, by: 4).map { offset in
                ".inst 0x" + String(bytes[offset..<offset + 4].reversed().map { String($0, radix: 16).leftPadded(to: 2) }.joined())
            }
            : [".byte " + bytes.map { "0x" + String($0, radix: 16) }.joined(separator: ", ")]
        do {
            try ([".text"] + body).joined(separator: "\n").appending("\n").write(to: source, atomically: true, encoding: .utf8)
            guard run(clang, ["--target=\(triple)", "-c", source.path, "-o", object.path]) != nil,
                  let listing = run(objdump, ["-d", "--no-leading-headers", object.path]) else { return nil }
            let lines = listing.split(separator: "\n", omittingEmptySubsequences: true)
                .filter { line in
                    // Instruction lines: "<hex offset>: <bytes> <mnemonic>".
                    let trimmed = line.drop { $0 == " " }
                    guard let colon = trimmed.firstIndex(of: ":"), colon > trimmed.startIndex else { return false }
                    return trimmed[..<colon].allSatisfy(\.isHexDigit)
                }
                .map { "  " + $0.trimmingCharacters(in: .whitespaces) }
            return lines.isEmpty ? nil : lines.joined(separator: "\n") + "\n"
        } catch {
            return nil
        }
    }

    private func run(_ tool: URL, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
