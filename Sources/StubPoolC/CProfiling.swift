import CStubPoolAPI
import StubPool

// Profiling, names and descriptions: the C face of ``Profiling``, ``StubPool/setName(_:for:)``,
// ``CodeArena/commit(_:names:)`` and the inspection API.

@_cdecl("stubpool_profiling_start")
public func stubpool_profiling_start_c(_ outputs: UInt32, _ directory: UnsafePointer<CChar>?) -> stubpool_status_t {
    let known = UInt32(STUBPOOL_PROFILE_PERF_MAP.rawValue | STUBPOOL_PROFILE_JITDUMP.rawValue | STUBPOOL_PROFILE_GDB.rawValue
        | STUBPOOL_PROFILE_UNWIND.rawValue)
    guard outputs != 0, outputs & ~known == 0 else {
        return CStatus.fail(STUBPOOL_E_INVALID_ARGUMENT, "stubpool_profiling_start: outputs 0x\(String(outputs, radix: 16)) (known bits: 0x\(String(known, radix: 16)))")
    }
    var selected: ProfilingOutputs = []
    if outputs & UInt32(STUBPOOL_PROFILE_PERF_MAP.rawValue) != 0 { selected.insert(.perfMap) }
    if outputs & UInt32(STUBPOOL_PROFILE_JITDUMP.rawValue) != 0 { selected.insert(.jitdump) }
    if outputs & UInt32(STUBPOOL_PROFILE_GDB.rawValue) != 0 { selected.insert(.gdb) }
    if outputs & UInt32(STUBPOOL_PROFILE_UNWIND.rawValue) != 0 { selected.insert(.unwind) }
    return CStatus.run { () throws(ProfilingError) in try Profiling.start(selected, directory: directory.map { String(cString: $0) }) }
}

@_cdecl("stubpool_profiling_flush")
public func stubpool_profiling_flush_c() -> stubpool_status_t {
    CStatus.run { () throws(ProfilingError) in try Profiling.flush() }
}

@_cdecl("stubpool_profiling_stop")
public func stubpool_profiling_stop_c() -> stubpool_status_t {
    CStatus.run { () throws(ProfilingError) in try Profiling.stop() }
}

@_cdecl("stubpool_pool_set_name")
public func stubpool_set_name_c(_ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_set_name") }
    guard let name else { return CStatus.null("name", in: "stubpool_pool_set_name") }
    return CStatus.run { () throws(StubPoolError) in
        let pool = CPool.from(handle).pool
        try pool.setName(String(cString: name), for: try pool.stub(entry: UInt(bitPattern: stub)))
    }
}

@_cdecl("stubpool_pool_get_name")
public func stubpool_get_name_c(
    _ handle: OpaquePointer?, _ stub: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int,
    _ outLength: UnsafeMutablePointer<Int>?
) -> stubpool_status_t {
    guard let handle else { return CStatus.null("pool", in: "stubpool_pool_get_name") }
    if let invalid = CText.check(buffer, size: size, in: "stubpool_pool_get_name") { return invalid }
    return CStatus.run { () throws(StubPoolError) in
        let pool = CPool.from(handle).pool
        let name = pool.name(of: try pool.stub(entry: UInt(bitPattern: stub)))
        CText.copy(name, into: buffer, size: size, length: outLength)
    }
}

@_cdecl("stubpool_pool_describe")
public func stubpool_pool_describe_c(
    _ handle: OpaquePointer?, _ includeStubs: Int32, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int,
    _ outLength: UnsafeMutablePointer<Int>?
) -> stubpool_status_t {
    CText.describe(handle, "pool", into: buffer, size: size, length: outLength, in: "stubpool_pool_describe") {
        CPool.from($0).pool.inspect(includeStubs: includeStubs != 0).description
    }
}

/// Text handed to C callers in their buffers.
enum CText {
    /// INVALID_ARGUMENT unless `buffer` can take `size` bytes (NULL only with size 0).
    static func check(_ buffer: UnsafeMutablePointer<CChar>?, size: Int, in function: String) -> stubpool_status_t? {
        guard size < 0 || (buffer == nil && size != 0) else { return nil }
        return CStatus.fail(STUBPOOL_E_INVALID_ARGUMENT, "\(function): buffer is NULL or size \(size) is not a buffer size")
    }

    /// ``check(_:size:in:)``, then ``copy(_:into:size:length:)`` of `text()` (built only for a
    /// usable buffer): a describe call's whole answer.
    /// A `stubpool_*_describe` call: INVALID_ARGUMENT for a NULL `handle` (`what` names it),
    /// otherwise ``answer(into:size:length:in:_:)`` with the description of what it names.
    static func describe(_ handle: OpaquePointer?, _ what: String, into buffer: UnsafeMutablePointer<CChar>?, size: Int,
                         length: UnsafeMutablePointer<Int>?, in function: String,
                         _ text: (OpaquePointer) -> String) -> stubpool_status_t {
        guard let handle else { return CStatus.null(what, in: function) }
        return answer(into: buffer, size: size, length: length, in: function) { text(handle) }
    }

    static func answer(into buffer: UnsafeMutablePointer<CChar>?, size: Int, length: UnsafeMutablePointer<Int>?,
                       in function: String, _ text: () -> String) -> stubpool_status_t {
        if let invalid = check(buffer, size: size, in: function) { return invalid }
        copy(text(), into: buffer, size: size, length: length)
        return CStatus.ok
    }

    /// Copies `text` NUL-terminated into `buffer` (truncated to `size - 1` bytes); the full length
    /// goes to `length`.
    static func copy(_ text: String, into buffer: UnsafeMutablePointer<CChar>?, size: Int, length: UnsafeMutablePointer<Int>?) {
        var text = text
        text.withUTF8 { bytes in
            length?.pointee = bytes.count
            guard let buffer, size > 0 else { return }
            let count = min(bytes.count, size - 1)
            bytes.withMemoryRebound(to: CChar.self) { buffer.update(from: $0.baseAddress!, count: count) }
            buffer[count] = 0
        }
    }
}
