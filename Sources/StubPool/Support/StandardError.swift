#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Diagnostics on file descriptor 2 with one `write(2)`: no stdio buffer, usable on the way to
/// an abort.
enum StandardError {
    static func emit(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}
