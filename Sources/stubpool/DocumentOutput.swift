import Foundation

/// Prints a document the CLI reports: pretty JSON with sorted keys, or its text form.
func printDocument<Document: Encodable & CustomStringConvertible>(_ document: Document, json: Bool) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(document), as: UTF8.self))
    } else {
        print(document, terminator: "")
    }
}
