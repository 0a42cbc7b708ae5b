import CStubPoolShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes code-load records to a perf map and/or a jitdump file (see ``Profiling``), buffered:
/// records accumulate in memory and go out in writes of about 1 MiB. Guarded by
/// ``Profiling``'s lock.
///
/// jitdump layout (perf's `tools/perf/Documentation/jitdump-specification.txt`): a 40-byte file
/// header (magic `JiTD`, version 1, ELF machine, pid, timestamp), then records; a code-load
/// record is a 16-byte prefix (id 0, total size, timestamp) followed by pid, tid, virtual address,
/// code address, code size, a unique code index, the NUL-terminated name and the code bytes.
/// Timestamps are `CLOCK_MONOTONIC` nanoseconds, the clock of `perf record -k mono`. perf finds
/// the file through a read+execute private mapping of it (the marker), which stays mapped while
/// profiling is on.
final class CodeRecorder {
    let outputs: ProfilingOutputs
    private let directory: String
    private(set) var dumpPath: String?
    /// gdb's JIT interface entries, with ``ProfilingOutputs/gdb``.
    let debugger: DebuggerRegistry?
    private var mapFile: Int32 = -1
    private var dumpFile: Int32 = -1
    private var marker: UInt = 0
    private var mapBuffer: [UInt8] = []
    private var dumpBuffer: [UInt8] = []
    private var codeIndex: UInt64 = 0
    private var pid: Int32 = 0
    private var generation: UInt64 = 0
    /// The first write error since the last flush.
    private var pendingError: ProfilingError?

    static let bufferLimit = 1 << 20

    init(outputs: ProfilingOutputs, directory: String) throws(ProfilingError) {
        self.outputs = outputs
        self.directory = directory
        self.debugger = outputs.contains(.gdb) ? DebuggerRegistry() : nil
        try open()
    }

    /// Opens this process's files: `/tmp/perf-<pid>.map`, `<directory>/jit-<pid>.dump` with its
    /// header and marker mapping. On failure nothing stays open.
    private func open() throws(ProfilingError) {
        pid = getpid()
        generation = ForkGeneration.current
        var path = ""
        do throws(SystemError) {
            if outputs.contains(.perfMap) {
                path = "/tmp/perf-\(pid).map"
                mapFile = try Kernel.createFile(path)
            }
            if outputs.contains(.jitdump) {
                path = directory
                try Self.makeDirectories(directory)
                path = "\(directory)/jit-\(pid).dump"
                dumpFile = try Kernel.createFile(path)
                dumpPath = path
                var header: [UInt8] = []
                header.appendLittleEndian(UInt32(0x4A69_5444))  // "JiTD" read little-endian
                header.appendLittleEndian(UInt32(1))
                header.appendLittleEndian(UInt32(40))
                header.appendLittleEndian(UInt32(SymbolFile.elfMachine))
                header.appendLittleEndian(UInt32(0))
                header.appendLittleEndian(UInt32(bitPattern: pid))
                header.appendLittleEndian(stubpool_monotonic_ns())
                header.appendLittleEndian(UInt64(0))
                try Kernel.writeAll(dumpFile, header)
                marker = try Kernel.mapPrivateFile(size: Kernel.pageSize, protection: Kernel.readExecute, fd: dumpFile)
            }
        } catch {
            closeFiles()
            throw .system(error, path: path)
        }
    }

    private static func makeDirectories(_ path: String) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            try Kernel.makeDirectory(prefix)
        }
    }

    private func closeFiles() {
        if marker != 0 { try? Kernel.unmap(marker, size: Kernel.pageSize) }
        if mapFile >= 0 { try? Kernel.close(mapFile) }
        if dumpFile >= 0 { try? Kernel.close(dumpFile) }
        marker = 0
        mapFile = -1
        dumpFile = -1
    }

    // MARK: Records

    /// Appends one record per piece of code (see ``Profiling/record(count:piece:name:)``);
    /// all of them share one timestamp.
    func record(count: Int, piece: (Int) -> (address: UInt, size: Int), name: (Int) -> CodeName) {
        guard count > 0, outputs.contains(.perfMap) || outputs.contains(.jitdump) else { return }
        if generation != ForkGeneration.current { restartAfterFork() }
        let timestamp = stubpool_monotonic_ns()
        let thread = UInt32(bitPattern: stubpool_thread_id())
        let writesMap = mapFile >= 0, writesDump = dumpFile >= 0
        for index in 0..<count {
            let (start, size) = piece(index)
            let name = name(index)
            if writesMap {
                mapBuffer.appendDigits(UInt64(start), radix: 16)
                mapBuffer.append(0x20)
                mapBuffer.appendDigits(UInt64(size), radix: 16)
                mapBuffer.append(0x20)
                mapBuffer.append(name)
                mapBuffer.append(0x0A)
            }
            if writesDump {
                let recordStart = dumpBuffer.count
                codeIndex += 1
                dumpBuffer.appendLittleEndian(UInt32(0))  // JIT_CODE_LOAD
                dumpBuffer.appendLittleEndian(UInt32(0))  // total size, patched below
                dumpBuffer.appendLittleEndian(timestamp)
                dumpBuffer.appendLittleEndian(UInt32(bitPattern: pid))
                dumpBuffer.appendLittleEndian(thread)
                dumpBuffer.appendLittleEndian(UInt64(start))
                dumpBuffer.appendLittleEndian(UInt64(start))
                dumpBuffer.appendLittleEndian(UInt64(size))
                dumpBuffer.appendLittleEndian(codeIndex)
                dumpBuffer.append(name)
                dumpBuffer.append(0)
                // The code as it runs (the executable view is readable).
                dumpBuffer.append(contentsOf: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: start), count: size))
                let total = UInt32(dumpBuffer.count - recordStart)
                dumpBuffer.storeLittleEndian(total, at: recordStart + 4)
            }
        }
        if mapBuffer.count >= Self.bufferLimit || dumpBuffer.count >= Self.bufferLimit { writeOut() }
    }

    /// In a child after `fork()`: the inherited buffers hold the parent's records and the files
    /// are the parent's; start this process's own.
    private func restartAfterFork() {
        mapBuffer.removeAll(keepingCapacity: true)
        dumpBuffer.removeAll(keepingCapacity: true)
        closeFiles()
        do throws(ProfilingError) { try open() } catch { pendingError = pendingError ?? error }
    }

    /// Writes both buffers out; keeps the first error for ``flush()``.
    private func writeOut() {
        for (fd, isMap) in [(mapFile, true), (dumpFile, false)] where fd >= 0 {
            do throws(SystemError) {
                try Kernel.writeAll(fd, isMap ? mapBuffer : dumpBuffer)
            } catch {
                pendingError = pendingError ?? .system(error, path: isMap ? "/tmp/perf-\(pid).map" : dumpPath ?? "")
            }
        }
        mapBuffer.removeAll(keepingCapacity: true)
        dumpBuffer.removeAll(keepingCapacity: true)
    }

    func flush() throws(ProfilingError) {
        if generation != ForkGeneration.current { restartAfterFork() }
        writeOut()
        debugger?.settle()
        if let error = pendingError {
            pendingError = nil
            throw error
        }
    }

    func close() throws(ProfilingError) {
        defer {
            closeFiles()
            debugger?.removeAll()
        }
        try flush()
    }

    /// Registers (once) an exit handler that writes what is still buffered.
    static func flushAtExit() { _ = exitHandler }
    private static let exitHandler: Bool = atexit { try? Profiling.flush() } == 0
}
