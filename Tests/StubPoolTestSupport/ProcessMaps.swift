#if canImport(Glibc)
import Glibc
#endif

/// One line of /proc/self/maps.
public struct MapsEntry: Equatable, Sendable {
    public var range: Range<UInt>
    public var permissions: String
    public var path: String

    public var isWritable: Bool { permissions.dropFirst(1).first == "w" }
    public var isExecutable: Bool { permissions.dropFirst(2).first == "x" }
}

/// The calling process's mappings, read from /proc/self/maps.
public enum ProcessMaps {
    public static func read() -> [MapsEntry] {
        // /proc files report size 0; read until end of file.
        var bytes: [UInt8] = []
        let fd = open("/proc/self/maps", O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { return nil }
            return MapsEntry(range: start..<end, permissions: String(fields[1]),
                             path: fields.count > 5 ? fields[5...].joined(separator: " ") : "")
        }
    }

    /// Entries overlapping any of `ranges`.
    public static func entries(overlapping ranges: [Range<UInt>], in maps: [MapsEntry] = read()) -> [MapsEntry] {
        maps.filter { entry in ranges.contains { $0.overlaps(entry.range) } }
    }
}

