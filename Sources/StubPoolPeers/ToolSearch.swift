#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Finds the external tools the CLI's disassembly and the tests use (clang, llvm-objdump, the
/// AArch64 cross compiler, qemu), one way for both: first the directory of the Swift toolchain's
/// `swift` (found on `PATH`), which ships clang and llvm-objdump of the LLVM StubPool's encoders
/// are checked against, then `PATH` itself. (No Foundation: this library is also linked with the
/// static standard library.)
package enum ToolSearch {
    /// The directories searched, in order.
    package static let directories: [String] = {
        let path = (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        let toolchain = path.first { isExecutable($0 + "/swift") }.flatMap { directory -> String? in
            guard let resolved = realpath(directory + "/swift", nil) else { return nil }
            defer { free(resolved) }
            let target = String(cString: resolved)
            return target.lastIndex(of: "/").map { String(target[..<$0]) }
        }
        return (toolchain.map { [$0] } ?? []) + path
    }()

    /// The path of the first executable `name` in ``directories``.
    package static func find(_ name: String) -> String? {
        directories.map { $0 + "/" + name }.first(where: isExecutable)
    }

    private static func isExecutable(_ path: String) -> Bool {
        var status = stat()
        return access(path, X_OK) == 0 && stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }
}
