import Synchronization

/// Where code-load records go (see ``Profiling``).
public struct ProfilingOutputs: OptionSet, Sendable, Hashable {
    /// The outputs as bits: 1 perf map, 2 jitdump, 4 gdb, 8 unwind (the C API's
    /// `STUBPOOL_PROFILE_*`).
    public let rawValue: Int
    /// The outputs whose bits are set in `rawValue`.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `/tmp/perf-<pid>.map`: one text line per stub or blob (start, size, name). Read by perf
    /// for anonymous executable memory only: perf 6.1 ignores it for StubPool's memfd-backed code
    /// (use ``jitdump``); other profilers that read perf maps (samply, bpftrace) use it.
    public static let perfMap = ProfilingOutputs(rawValue: 1)
    /// `<directory>/jit-<pid>.dump`: perf's jitdump format — a code-load record per stub or blob,
    /// with its name and code bytes — plus the marker mapping `perf record` notes. After
    /// `perf record -k mono` and `perf inject --jit`, `perf report` names every stub and blob and
    /// `perf annotate` shows their instructions.
    public static let jitdump = ProfilingOutputs(rawValue: 2)
    /// gdb's JIT interface: an in-memory symbol file per batch of arena blobs and per pool chunk,
    /// so that `info symbol`, `x/i` and `bt` in gdb name arena bodies (``CodeArena/commit(_:names:)-([[UInt8]],_)``'s
    /// names) and stubs (their default names `<pool name>#<id>`, or the names given with
    /// ``StubPool/setName(_:for:)``: naming a stub rebuilds its chunk's symbol file). Costs
    /// nothing while no debugger is attached beyond building the files; under gdb, each
    /// registration stops the program briefly.
    public static let gdb = ProfilingOutputs(rawValue: 4)
    /// Call-frame information for every pool chunk mapped from now on, registered with the
    /// process's unwinder (libgcc's `__register_frame`, or LLVM libunwind's dynamic FDEs) until
    /// the chunk is unmapped: `backtrace()`, `_Unwind_Backtrace` and sampling profilers that unwind
    /// with it continue from a program counter inside a stub to the stub's caller. No file is
    /// written. Opt-in because of what it costs the whole process with libgcc before GCC 13 (this
    /// machine's 12): once anything is registered, every unwind in the process (each C++
    /// exception, each backtrace) takes libgcc's one global mutex, which a fork() while another
    /// thread unwinds leaves locked in the child. Registering a chunk costs ≈1 µs, once per 16,383
    /// stubs.
    public static let unwind = ProfilingOutputs(rawValue: 8)
}

/// Why profiling could not start or write. Profiling never makes a pool or arena operation fail:
/// a write error while recording is kept and reported by ``Profiling/flush()`` and
/// ``Profiling/stop()``.
public enum ProfilingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A file operation failed on `path`.
    case system(SystemError, path: String)
    /// `STUBPOOL_PERF` held something other than `map`, `jitdump` and `gdb` (comma-separated).
    case invalidSetting(String)
    /// ``Profiling/start(_:directory:)`` while profiling is already on.
    case alreadyStarted

    /// A one-line explanation naming the file or setting.
    public var description: String {
        switch self {
        case .system(let error, let path): "\(path): \(error)"
        case .invalidSetting(let value): "STUBPOOL_PERF=\(value): expected map, jitdump, gdb or several of them comma-separated"
        case .alreadyStarted: "profiling is already on"
        }
    }
}

/// Opt-in profiler support: code-load records for every stub handed out and every arena blob
/// committed, named, so that `perf report` attributes samples inside StubPool code.
///
/// Turn it on before creating pools and arenas, with ``start(_:directory:)`` or the environment:
/// `STUBPOOL_PERF=jitdump` (or `map`, `gdb`, `unwind`, or several comma-separated: `jitdump,unwind`) and optionally `STUBPOOL_PERF_DIR` (the
/// jitdump's directory; default `$JITDUMPDIR`, else `$HOME/.debug/jit`, else `/tmp`), read when
/// the first pool or arena is created. Then:
///
/// ```
/// perf record -k mono -e cpu-clock -o perf.data ./program
/// perf inject --jit -i perf.data -o perf.jit.data
/// perf report -i perf.jit.data
/// ```
///
/// Records are buffered (1 MiB) and written in large pieces, never one system call per stub;
/// ``flush()`` writes what is buffered (it also happens at exit). Pool stubs are recorded when
/// their slots are handed out — to a thread's cache, to a bulk or lazy request, or to an uncached
/// allocation — under their default name `stubpool:<kind>#<id>` (or `<pool name>#<id>`); naming a
/// stub (``StubPool/setName(_:for:)``) records it again under the new name, and a reused slot is
/// recorded again when it is handed out anew (perf uses the latest record for an address). Arena
/// blobs are recorded at commit (names from ``CodeArena/commit(_:names:)-([[UInt8]],_)``, default
/// `stubpool:blob#<n>`).
///
/// When profiling is off, the only cost is one relaxed atomic load on the paths that take slots
/// from the shared allocator (cache refills, bulk and uncached allocation) and on commits; the
/// inlined allocation fast path is untouched. After `fork()`, the child's first record starts
/// files of its own (`jit-<child pid>.dump`); code recorded before the fork is not repeated there.
public enum Profiling {
    static let active = Atomic<Bool>(false)
    /// Whether chunks mapped now register unwind information (``ProfilingOutputs/unwind``).
    static let unwindsChunks = Atomic<Bool>(false)
    static let recorder = Locked<CodeRecorder?>(nil, rank: .profiling, waiting: .block)
    private static let environmentRead = Atomic<Bool>(false)

    /// The outputs being written, or none.
    public static var outputs: ProfilingOutputs {
        recorder.withLock { $0?.outputs ?? [] }
    }

    /// The jitdump file being written, if any.
    public static var jitdumpPath: String? {
        recorder.withLock { $0?.dumpPath }
    }

    /// Starts writing `outputs`; the jitdump goes to `directory` (created if needed).
    public static func start(_ outputs: ProfilingOutputs, directory: String? = nil) throws(ProfilingError) {
        environmentRead.store(true, ordering: .relaxed)
        try recorder.withLock { (recorder) throws(ProfilingError) in
            guard recorder == nil else { throw .alreadyStarted }
            guard !outputs.isEmpty else { return }
            recorder = try CodeRecorder(outputs: outputs, directory: directory ?? defaultDirectory())
        }
        unwindsChunks.store(outputs.contains(.unwind), ordering: .releasing)
        // Unwind registration alone records nothing: the record paths stay off.
        active.store(!outputs.subtracting(.unwind).isEmpty, ordering: .releasing)
        CodeRecorder.flushAtExit()
    }

    /// Writes what is buffered, closes the files and stops recording.
    public static func stop() throws(ProfilingError) {
        active.store(false, ordering: .releasing)
        unwindsChunks.store(false, ordering: .releasing)
        let stopped = recorder.withLock { recorder in
            defer { recorder = nil }
            return recorder
        }
        try stopped?.close()
    }

    /// Writes every buffered record now (a profiler reading the files while the program runs
    /// sees everything recorded so far). Reports the first write error since the last flush.
    public static func flush() throws(ProfilingError) {
        try recorder.withLock { (recorder) throws(ProfilingError) in try recorder?.flush() }
    }

    /// Reads `STUBPOOL_PERF` once, when the first pool or arena is created. An invalid value is
    /// reported on standard error and ignored: a profiling setting must not stop a program.
    static func startFromEnvironment() {
        guard !environmentRead.exchange(true, ordering: .relaxed), let value = environment("STUBPOOL_PERF") else { return }
        do throws(ProfilingError) {
            var outputs: ProfilingOutputs = []
            for word in value.split(separator: ",") {
                switch word {
                case "map": outputs.insert(.perfMap)
                case "jitdump": outputs.insert(.jitdump)
                case "gdb": outputs.insert(.gdb)
                case "unwind": outputs.insert(.unwind)
                default: throw .invalidSetting(value)
                }
            }
            guard !outputs.isEmpty else { throw .invalidSetting(value) }
            try start(outputs, directory: environment("STUBPOOL_PERF_DIR"))
        } catch {
            StandardError.emit("stubpool: profiling not started: \(error)\n")
        }
    }

    private static func defaultDirectory() -> String {
        if let directory = environment("JITDUMPDIR") { return directory }
        if let home = environment("HOME") { return home + "/.debug/jit" }
        return "/tmp"
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    // MARK: Recording (called by pools and arenas)

    /// Whether records are being written: one relaxed load.
    @inline(__always)
    static var isActive: Bool { active.load(ordering: .relaxed) }

    /// Records `count` pieces of code: piece `index` is `piece(index)` (start and size) and is
    /// called `name(index)`.
    static func record(count: Int, piece: (Int) -> (address: UInt, size: Int), name: (Int) -> CodeName) {
        recorder.withLock { $0?.record(count: count, piece: piece, name: name) }
    }

    /// Names `count` pieces of `owner` for gdb (nothing unless ``ProfilingOutputs/gdb`` is on).
    static func describe(owner: DebugOwner, count: Int, piece: (Int) -> SymbolFile.Piece) {
        recorder.withLock { recorder in
            guard let debugger = recorder?.debugger else { return }
            debugger.register((0..<count).map(piece), owner: owner)
        }
    }

    /// Names a chunk's stubs for gdb (see ``DebuggerRegistry/registerChunk(_:owner:)``).
    static func describeChunk(_ chunk: DebuggerRegistry.ChunkSymbols, owner: DebugOwner) {
        recorder.withLock { $0?.debugger?.registerChunk(chunk, owner: owner) }
    }

    /// Stubs of the chunk `owner` were named: gdb's entry for the chunk is rebuilt with `names`.
    static func renameInChunk(owner: DebugOwner, names: [UInt: String]) {
        recorder.withLock { $0?.debugger?.renameInChunk(owner: owner, names: names) }
    }

    /// An arena blob was freed: gdb forgets its name.
    static func forget(blobAt address: UInt) {
        recorder.withLock { $0?.debugger?.forget(blobAt: address) }
    }

    /// `owner`'s code is going away: gdb forgets its names.
    static func forget(owner: DebugOwner) {
        recorder.withLock { $0?.debugger?.forget(owner: owner) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
