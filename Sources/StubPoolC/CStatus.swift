import CStubPoolAPI
import StubPool

/// How the C face reports a failure: a status for the caller and a message for
/// `stubpool_last_error()`, recorded in the calling thread's slot.
enum CStatus {
    static let ok = STUBPOOL_OK

    /// Records `status` with `message` and returns the status.
    static func fail(_ status: stubpool_status_t, _ message: String) -> stubpool_status_t {
        var message = message
        message.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { stubpool_api_set_error(status, $0.baseAddress, $0.count) }
        }
        return status
    }

    // Concrete overloads, so that call sites can write `CStatus.fail(.invalidTarget(0))`.
    static func fail(_ error: StubPoolError) -> stubpool_status_t { fail(error.cStatus, error.description) }
    static func fail(_ error: CodeArenaError) -> stubpool_status_t { fail(error.cStatus, error.description) }

    /// Runs `body`: `ok` if it returns, the recorded failure if it throws.
    @inline(__always)
    static func run<Failure: CReportable>(_ body: () throws(Failure) -> Void) -> stubpool_status_t {
        do throws(Failure) {
            try body()
            return ok
        } catch {
            return fail(error.cStatus, error.description)
        }
    }

    /// A required argument was NULL.
    static func null(_ name: String, in function: String) -> stubpool_status_t {
        fail(STUBPOOL_E_INVALID_ARGUMENT, "\(function): \(name) is NULL")
    }
}

@_cdecl("stubpool_status_name")
public func stubpool_status_name_c(_ status: stubpool_status_t) -> UnsafePointer<CChar> {
    let name: StaticString = switch status {
    case STUBPOOL_OK: "STUBPOOL_OK"
    case STUBPOOL_E_INVALID_ARGUMENT: "STUBPOOL_E_INVALID_ARGUMENT"
    case STUBPOOL_E_INVALID_CONFIGURATION: "STUBPOOL_E_INVALID_CONFIGURATION"
    case STUBPOOL_E_FOREIGN_STUB: "STUBPOOL_E_FOREIGN_STUB"
    case STUBPOOL_E_RELEASED: "STUBPOOL_E_RELEASED"
    case STUBPOOL_E_INVALID_COUNT: "STUBPOOL_E_INVALID_COUNT"
    case STUBPOOL_E_INVALID_TARGET: "STUBPOOL_E_INVALID_TARGET"
    case STUBPOOL_E_SYSTEM: "STUBPOOL_E_SYSTEM"
    case STUBPOOL_E_NOT_LIVE: "STUBPOOL_E_NOT_LIVE"
    case STUBPOOL_E_OUT_OF_BOUNDS: "STUBPOOL_E_OUT_OF_BOUNDS"
    case STUBPOOL_E_GENERATOR: "STUBPOOL_E_GENERATOR"
    case STUBPOOL_E_NOT_FOUND: "STUBPOOL_E_NOT_FOUND"
    case STUBPOOL_E_UNSUPPORTED: "STUBPOOL_E_UNSUPPORTED"
    default: "STUBPOOL_E_UNKNOWN"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("stubpool_api_version")
public func stubpool_api_version_c() -> Int32 { STUBPOOL_API_VERSION }

/// An error of the Swift core as the C face reports it: a status (the message is its description).
protocol CReportable: Error, CustomStringConvertible {
    var cStatus: stubpool_status_t { get }
}

extension StubPoolError: CReportable {
    var cStatus: stubpool_status_t {
        switch self {
        case .system: STUBPOOL_E_SYSTEM
        case .foreignStub, .foreignAddress: STUBPOOL_E_FOREIGN_STUB
        case .released: STUBPOOL_E_RELEASED
        case .invalidCount: STUBPOOL_E_INVALID_COUNT
        case .invalidTarget: STUBPOOL_E_INVALID_TARGET
        case .invalidConfiguration: STUBPOOL_E_INVALID_CONFIGURATION
        case .unsupported: STUBPOOL_E_UNSUPPORTED
        }
    }
}

extension CodeArenaError: CReportable {
    var cStatus: stubpool_status_t {
        switch self {
        case .emptyBatch, .nameCountMismatch: STUBPOOL_E_INVALID_COUNT
        case .emptyBlob, .blobTooLarge, .outOfBounds, .relocation, .invalidFrame: STUBPOOL_E_OUT_OF_BOUNDS
        case .notLive: STUBPOOL_E_NOT_LIVE
        case .system: STUBPOOL_E_SYSTEM
        }
    }
}

extension ProfilingError: CReportable {
    var cStatus: stubpool_status_t {
        switch self {
        case .system: STUBPOOL_E_SYSTEM
        case .invalidSetting: STUBPOOL_E_INVALID_ARGUMENT
        case .alreadyStarted: STUBPOOL_E_INVALID_CONFIGURATION
        }
    }
}

/// The statistics functions' one rule for their output: a C struct whose first field,
/// `struct_size`, the caller set; the library writes what fits of the current layout and leaves
/// `struct_size` as it was (API version 4 is the smallest layout there is).
enum CStats {
    static func fill<Stats>(_ out: UnsafeMutablePointer<Stats>?, with value: Stats, in function: String) -> stubpool_status_t {
        guard let out else { return CStatus.null("out_stats", in: function) }
        let size = MemoryLayout<Stats>.size
        let given = Int(UnsafeRawPointer(out).load(as: UInt32.self))
        guard given >= size else {
            return CStatus.fail(STUBPOOL_E_INVALID_ARGUMENT, "\(function): out_stats->struct_size is \(given), at least \(size) expected")
        }
        withUnsafeBytes(of: value) { bytes in
            let skipped = MemoryLayout<UInt32>.size
            UnsafeMutableRawPointer(out).advanced(by: skipped).copyMemory(from: bytes.baseAddress! + skipped, byteCount: size - skipped)
        }
        return CStatus.ok
    }
}
