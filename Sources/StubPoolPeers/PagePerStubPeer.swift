#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One page per stub under W^X, as engines that map a page per lazy stub do today: mmap
/// read+write, write `jmp [rip+2]` and the target after it, mprotect read+execute. Every stub
/// starts at page offset 0. x86-64 only.
public enum PagePerStubPeer {
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Maps one page holding a jump to `target`.
    public static func make(target: UnsafeRawPointer) -> UnsafeMutableRawPointer {
        let page = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        precondition(page != MAP_FAILED, "mmap failed: errno \(errno)")
        let bytes = page.assumingMemoryBound(to: UInt8.self)
        bytes[0] = 0xFF; bytes[1] = 0x25  // jmp [rip+2]: the 6-byte jump, 2 bytes of padding, the target
        (page + 2).storeBytes(of: Int32(2).littleEndian, as: Int32.self)
        (page + 8).storeBytes(of: UInt(bitPattern: target), as: UInt.self)
        precondition(mprotect(page, pageSize, PROT_READ | PROT_EXEC) == 0)
        return page
    }

    /// Points a page's jump at `target` under W^X: mprotect read+write, store, mprotect read+execute.
    public static func retarget(_ page: UnsafeMutableRawPointer, to target: UnsafeRawPointer) {
        precondition(mprotect(page, pageSize, PROT_READ | PROT_WRITE) == 0)
        (page + 8).storeBytes(of: UInt(bitPattern: target), as: UInt.self)
        precondition(mprotect(page, pageSize, PROT_READ | PROT_EXEC) == 0)
    }

    /// Unmaps a page from ``make(target:)``.
    public static func free(_ page: UnsafeMutableRawPointer) { munmap(page, pageSize) }
}
