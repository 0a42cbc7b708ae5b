#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CStubPoolShim

/// Swift face of the C shim's system calls: each failure becomes a ``SystemError``.
enum Kernel {
    /// The page size of the running system.
    static let pageSize: Int = Int(stubpool_page_size())

    @inline(__always)
    private static func check(_ result: Int32, _ operation: SystemOperation) throws(SystemError) {
        if result != 0 { throw SystemError(operation: operation, errno: result) }
    }

    /// Maps `size` bytes of fresh anonymous private memory with protection `protection`.
    static func mapAnonymous(size: Int, protection: Int32) throws(SystemError) -> UInt {
        var out: UnsafeMutableRawPointer?
        try check(
            stubpool_mmap(
                nil, size, protection,
                Int32(STUBPOOL_MAP_PRIVATE | STUBPOOL_MAP_ANONYMOUS | STUBPOOL_MAP_NORESERVE),
                -1, 0, &out),
            .mmap)
        return UInt(bitPattern: out)
    }

    /// Maps `size` bytes of `fd` from `offset`, shared, over the existing range at `address`.
    static func mapSharedFile(at address: UInt, size: Int, protection: Int32, fd: Int32, offset: Int = 0) throws(SystemError) {
        var out: UnsafeMutableRawPointer?
        try check(
            stubpool_mmap(
                UnsafeMutableRawPointer(bitPattern: address), size, protection,
                Int32(STUBPOOL_MAP_SHARED | STUBPOOL_MAP_FIXED), fd, off_t(offset), &out),
            .mmap)
    }

    /// Maps `size` bytes of `fd` from `offset`, shared, at an address of the kernel's choosing.
    static func mapSharedFile(size: Int, protection: Int32, fd: Int32, offset: Int = 0) throws(SystemError) -> UInt {
        var out: UnsafeMutableRawPointer?
        try check(stubpool_mmap(nil, size, protection, Int32(STUBPOOL_MAP_SHARED), fd, off_t(offset), &out), .mmap)
        return UInt(bitPattern: out)
    }

    static func unmap(_ address: UInt, size: Int) throws(SystemError) {
        try check(stubpool_munmap(UnsafeMutableRawPointer(bitPattern: address), size), .munmap)
    }

    static func protect(_ address: UInt, size: Int, protection: Int32) throws(SystemError) {
        try check(stubpool_mprotect(UnsafeMutableRawPointer(bitPattern: address), size, protection), .mprotect)
    }

    static func createMemoryFile(name: String) throws(SystemError) -> Int32 {
        var fd: Int32 = -1
        let flags = UInt32(STUBPOOL_MFD_CLOEXEC | STUBPOOL_MFD_ALLOW_SEALING)
        try check(stubpool_memfd_create(name, flags, &fd), .memfdCreate)
        return fd
    }

    /// Creates (or truncates) a file for writing and reading.
    static func createFile(_ path: String) throws(SystemError) -> Int32 {
        var fd: Int32 = -1
        try check(stubpool_create_file(path, &fd), .open)
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        let failure = bytes.withUnsafeBytes { (buffer) -> Int32 in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
            return stubpool_write_all(fd, base, buffer.count)
        }
        try check(failure, .write)
    }

    /// The whole content of the file at `path` (at most `limit` bytes: a larger file throws `EFBIG`).
    static func readFile(_ path: String, limit: Int) throws(SystemError) -> [UInt8] {
        var fd: Int32 = -1
        var size: Int64 = 0
        try check(stubpool_open_read(path, &fd, &size), .open)
        let descriptor = FileDescriptor(adopting: fd)
        guard size >= 0, size <= Int64(limit) else { throw SystemError(operation: .read, errno: EFBIG) }
        var got = 0
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, initialized in
            if let base = buffer.baseAddress, size > 0 { failure = stubpool_read_all(descriptor.raw, base, Int(size), &got) }
            initialized = failure == 0 ? got : 0
        }
        try check(failure, .read)
        return bytes
    }

    /// Creates a directory (an existing one is fine).
    static func makeDirectory(_ path: String) throws(SystemError) {
        try check(stubpool_make_directory(path), .mkdir)
    }

    /// Maps `size` bytes of `fd` privately: the jitdump marker mapping perf looks for.
    static func mapPrivateFile(size: Int, protection: Int32, fd: Int32) throws(SystemError) -> UInt {
        var out: UnsafeMutableRawPointer?
        try check(stubpool_mmap(nil, size, protection, Int32(STUBPOOL_MAP_PRIVATE), fd, 0, &out), .mmap)
        return UInt(bitPattern: out)
    }

    static func truncate(_ fd: Int32, size: Int) throws(SystemError) {
        try check(stubpool_ftruncate(fd, off_t(size)), .ftruncate)
    }

    /// Seals a memory file against any further write, growth or shrinking.
    static func sealAgainstWrites(_ fd: Int32) throws(SystemError) {
        let seals = Int32(
            STUBPOOL_SEAL_WRITE | STUBPOOL_SEAL_GROW | STUBPOOL_SEAL_SHRINK
                | STUBPOOL_SEAL_SEAL)
        try check(stubpool_add_seals(fd, seals), .addSeals)
    }

    static func close(_ fd: Int32) throws(SystemError) {
        try check(stubpool_close(fd), .close)
    }

    /// Faults in the writable pages of `[address, address + size)` in one call instead of one
    /// fault per page (MADV_POPULATE_WRITE).
    static func populate(_ address: UInt, size: Int) throws(SystemError) {
        try check(stubpool_madvise(UnsafeMutableRawPointer(bitPattern: address), size, Int32(STUBPOOL_MADV_POPULATE_WRITE)), .madvise)
    }

    /// Bytes of `[address, address + size)` resident in memory.
    static func residentBytes(_ address: UInt, size: Int) throws(SystemError) -> Int {
        let pages = (size + pageSize - 1) / pageSize
        var vector = [UInt8](repeating: 0, count: pages)
        try vector.withUnsafeMutableBufferPointer { (buffer) throws(SystemError) in
            try check(stubpool_mincore(UnsafeMutableRawPointer(bitPattern: address), size, buffer.baseAddress), .mincore)
        }
        return vector.reduce(0) { $0 + Int($1 & 1) } * pageSize
    }

    /// Instruction-cache maintenance for freshly written code in `[address, address + size)`.
    static func flushInstructionCache(_ address: UInt, size: Int) {
        guard let begin = UnsafeMutableRawPointer(bitPattern: address) else { return }
        stubpool_clear_cache(begin, begin + size)
    }

    /// Registers the process for `syncCore()`; false where the kernel lacks it (before 4.16).
    static func registerSyncCore() -> Bool {
        var result: Int32 = 0
        return stubpool_membarrier(Int32(STUBPOOL_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE), 0, &result) == 0
    }

    /// Makes every thread of the process execute a core-serializing instruction before it next
    /// runs user code: the cross-modifying-code step after writing instructions.
    static func syncCore() throws(SystemError) {
        var result: Int32 = 0
        try check(stubpool_membarrier(Int32(STUBPOOL_MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), 0, &result), .membarrier)
    }

    /// Whether the process runs under `prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`: then no
    /// mapping may gain execute permission through `mprotect` (read each time: it can be turned
    /// on at any moment, never off).
    static var refusesExecutableGain: Bool {
        var flags: Int32 = 0
        return stubpool_mdwe_flags(&flags) == 0 && flags & 1 != 0
    }

    static let readWrite = Int32(STUBPOOL_PROT_READ | STUBPOOL_PROT_WRITE)
    static let readExecute = Int32(STUBPOOL_PROT_READ | STUBPOOL_PROT_EXEC)
    /// Read+execute with indirect branches required to land on `bti` where the host supports
    /// AArch64 BTI; plain read+execute elsewhere.
    static let readExecuteGuarded = stubpool_has_branch_target_identification() != 0
        ? readExecute | Int32(STUBPOOL_PROT_BTI) : readExecute
}
