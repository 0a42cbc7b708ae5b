import ArgumentParser
import Foundation
import StubPool

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Work with pool images (StubImage files).",
        subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate an image file and summarize it: pools, stubs by kind, blobs, references and symbols.",
            discussion: "Loading validates everything a restore would (checksum, version, architecture, page size, every record); a bad image prints the typed error and exits 1.")

        @Argument(help: "An image written by StubImage.write(to:).")
        var file: String

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let image: StubImage
            let size: Int
            do {
                image = try StubImage(contentsOf: file)
                size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? image.encoded().count
            } catch {
                FileHandle.standardError.write(Data("stubpool image inspect: \(file): \(error)\n".utf8))
                throw ExitCode(1)
            }
            let summary = image.summary(encodedSize: size)
            try printDocument(summary, json: json)
        }
    }
}
