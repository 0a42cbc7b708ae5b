/// An address in an inspection: written as hexadecimal text (`"0x7f3a5c001040"`) in JSON and
/// text, as debuggers and `/proc/<pid>/maps` show addresses.
public struct CodeAddress: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The address.
    public var value: UInt

    /// The address `value`.
    public init(_ value: UInt) { self.value = value }

    /// `0x` and lowercase hexadecimal digits.
    public var description: String { "0x" + String(value, radix: 16) }

    /// Orders addresses numerically.
    public static func < (lhs: CodeAddress, rhs: CodeAddress) -> Bool { lhs.value < rhs.value }

    /// Reads `"0x…"` text; anything else throws `DecodingError.dataCorrupted`.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard text.hasPrefix("0x"), let value = UInt(text.dropFirst(2), radix: 16) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 0x-prefixed hexadecimal address: \(text)"))
        }
        self.value = value
    }

    /// Writes the address as `"0x…"` text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
