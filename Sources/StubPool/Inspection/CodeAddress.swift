/// An address in an inspection: written as hexadecimal text (`"0x7f3a5c001040"`) in JSON and
/// text, as debuggers and `/proc/<pid>/maps` show addresses.
public struct CodeAddress: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt

    public init(_ value: UInt) { self.value = value }

    public var description: String { "0x" + String(value, radix: 16) }

    public static func < (lhs: CodeAddress, rhs: CodeAddress) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard text.hasPrefix("0x"), let value = UInt(text.dropFirst(2), radix: 16) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 0x-prefixed hexadecimal address: \(text)"))
        }
        self.value = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
