import Foundation
import Testing
import StubPool

/// Keeps the DocC articles true: every snippet they show runs and checks itself, every snippet
/// reference names a file and slice that exist, the instruction listings are the encoders' bytes,
/// and the C quoted in "Embedding from C" is part of the example program the C tests build and run.
@Suite struct DocumentationTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let catalog = packageRoot.appendingPathComponent("Sources/StubPool/StubPool.docc")
    static let snippets = packageRoot.appendingPathComponent("Snippets")

    static func files(in folder: URL, ending suffix: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasSuffix(suffix) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func article(_ name: String) throws -> String {
        try String(contentsOf: catalog.appendingPathComponent(name), encoding: .utf8)
    }

    /// The fenced code blocks of `markdown` with their info strings.
    static func codeBlocks(_ markdown: String) -> [(language: String, lines: [Substring])] {
        var blocks: [(String, [Substring])] = []
        var open: (String, [Substring])?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if let block = open { blocks.append(block); open = nil } else { open = (String(line.dropFirst(3)), []) }
            } else {
                open?.1.append(line)
            }
        }
        return blocks
    }

    // MARK: Snippets

    /// `swift test` builds every snippet as an executable beside the test bundle; each one checks
    /// what it shows with `precondition` and prints "<name>: ok" last.
    @Test(arguments: try files(in: snippets, ending: ".swift").map { $0.deletingPathExtension().lastPathComponent })
    func snippetRuns(_ name: String) throws {
        let executable = ChildProcess.executable(named: name)
        try #require(FileManager.default.isExecutableFile(atPath: executable.path),
                     "\(executable.path) is missing: swift test builds the package's snippets")
        let outcome = try ChildProcess.run(executable, arguments: [], timeout: 120)
        #expect(outcome.terminationStatus == 0 && !outcome.terminatedBySignal, "\(outcome.standardError)")
        let last = outcome.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("\(name): ok"), "last line: \(last)")
    }

    @Test func snippetReferencesResolve() throws {
        let pattern = #/@Snippet\(path: "StubPool\/Snippets\/([A-Za-z]+)"(?:, slice: "([a-z-]+)")?\)/#
        var references = 0
        for article in try Self.files(in: Self.catalog, ending: ".md") {
            let text = try String(contentsOf: article, encoding: .utf8)
            for match in text.matches(of: pattern) {
                references += 1
                let file = Self.snippets.appendingPathComponent("\(match.1).swift")
                let source = try String(contentsOf: file, encoding: .utf8)
                if let slice = match.2 {
                    #expect(source.contains("// snippet.\(slice)\n"), "\(article.lastPathComponent): no slice \(slice) in \(match.1)")
                }
            }
        }
        // Every article but the C and performance ones shows Swift snippets.
        #expect(references >= 20)
    }

    // MARK: Instruction listings

    /// Blocks headed `<architecture> <variant> (slot 0)` list `+0x<offset>  <bytes>  <instruction>`;
    /// x86-64 bytes in memory order, AArch64 instruction words as 8 hex digits.
    @Test func stubListingsAreTheEncodersBytes() throws {
        let header = #/^(x86_64|arm64) ([A-Za-z+-]+) \(slot 0\)$/#
        let x86Line = #/^\+0x([0-9a-f]+)  ((?:[0-9a-f]{2} )+) /#
        let armLine = #/^\+0x([0-9a-f]+)  ([0-9a-f]{8}) /#
        var listings: Set<String> = []
        for block in Self.codeBlocks(try Self.article("ChoosingAStubKind.md")) {
            guard let first = block.lines.first, let head = try header.wholeMatch(in: String(first)) else { continue }
            let architecture = try #require(Architecture(rawValue: String(head.1)))
            let parts = head.2.split(separator: "+")
            let variant = StubVariant(kind: try #require(StubKind(rawValue: String(parts[0]))),
                                      landingPad: parts.contains("landing-pad"), lazyEntry: parts.contains("lazy"))
            #expect(variant.description == String(head.2), "unknown variant \(head.2)")
            let slot = try TemplateInspection(architecture: architecture, variant: variant).slot(0)
            var listed = 0
            for line in block.lines.dropFirst() {
                let text = String(line)
                let (offset, bytes): (Int, [UInt8])
                if architecture == .x86_64, let match = try x86Line.prefixMatch(in: text) {
                    offset = Int(match.1, radix: 16)!
                    bytes = match.2.split(separator: " ").map { UInt8($0, radix: 16)! }
                } else if architecture == .arm64, let match = try armLine.prefixMatch(in: text) {
                    offset = Int(match.1, radix: 16)!
                    let word = UInt32(match.2, radix: 16)!
                    bytes = (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
                } else {
                    Issue.record("unreadable line in \(first): \(text)")
                    continue
                }
                #expect(offset == listed, "\(first): +0x\(String(offset, radix: 16)) does not follow the previous instruction")
                #expect(offset + bytes.count <= slot.count && Array(slot[offset..<offset + bytes.count]) == bytes,
                        "\(first) +0x\(String(offset, radix: 16)): the encoder emits \(slot[offset..<min(slot.count, offset + bytes.count)].map { String($0, radix: 16) })")
                listed = offset + bytes.count
            }
            #expect(listed > 0, "\(first) lists nothing")
            listings.insert("\(architecture) \(variant)")
        }
        // Every kind on both architectures, plus landing pads and lazy entries.
        for architecture in Architecture.allCases {
            for kind in StubKind.allCases { #expect(listings.contains("\(architecture) \(kind)")) }
            #expect(listings.contains("\(architecture) context+landing-pad"))
            #expect(listings.contains("\(architecture) context+lazy"))
        }
    }

    // MARK: C

    /// Each ```c block, compared line by line without indentation, is a run of consecutive lines of
    /// Examples/CEmbedding/example.c (which CExampleTests builds and runs).
    @Test func cBlocksAreQuotedFromTheExample() throws {
        let example = try String(contentsOf: Self.packageRoot.appendingPathComponent("Examples/CEmbedding/example.c"), encoding: .utf8)
        let exampleLines = example.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let blocks = Self.codeBlocks(try Self.article("EmbeddingFromC.md")).filter { $0.language == "c" }
        #expect(blocks.count >= 8)
        for block in blocks {
            let lines = block.lines.map { $0.trimmingCharacters(in: .whitespaces) }
            let found = exampleLines.indices.contains { start in
                start + lines.count <= exampleLines.count && Array(exampleLines[start..<start + lines.count]) == lines
            }
            #expect(found, "not in example.c:\n\(lines.joined(separator: "\n"))")
        }
    }
}
