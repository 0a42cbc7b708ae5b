/// A value a field of generated code holds: what a relocation record says belongs there.
public enum CodeOperand: Sendable, Hashable {
    /// Plain data, the same in every process.
    case constant(UInt64)
    /// An address in this process. The arena keeps such fields with the blob, so that a
    /// ``StubImage`` can name the address symbolically and set it again in another process.
    case address(UInt)
    /// The executable address of the blob at this index of the same commit (or instantiation)
    /// batch, plus `offset`.
    case blob(Int, offset: Int = 0)
    /// A template's hole: argument `index` of each instantiation
    /// (``CodeArena/instantiate(_:arguments:names:)``). Cannot be committed as such.
    case parameter(Int)
}

extension CodeOperand {
    /// Throws unless the operand can be committed in a batch of `batch` blobs: no parameter
    /// left, a blob index inside the batch.
    func check(batch: Int) throws(CodeRelocationError) {
        switch self {
        case .parameter(let index): throw .unfilledParameter(index)
        case .blob(let index, _) where index < 0 || index >= batch: throw .noSuchBlob(index, batch: batch)
        default: return
        }
    }
}

/// One field of a ``CodeBody`` filled in when the body is committed.
public struct CodeRelocation: Sendable, Hashable {
    /// How the field holds its value.
    public enum Field: UInt8, Sendable, Hashable, CaseIterable {
        /// 8 little-endian bytes (x86-64 `movabs` immediate, or a data word).
        case absolute64 = 0
        /// A 4-byte signed displacement from the field's end (x86-64 `call`/`jmp rel32`); the value
        /// must lie within ±2 GiB of the field.
        case relative32 = 1
        /// Four AArch64 instructions `movz xd, #h0; movk xd, #h1, lsl 16; movk …, lsl 32;
        /// movk …, lsl 48` whose 16-bit immediates receive the value.
        case moveWide64 = 2

        /// Bytes the field covers.
        public var size: Int {
            switch self {
            case .absolute64: 8
            case .relative32: 4
            case .moveWide64: 16
            }
        }
    }

    /// Byte offset of the field in its body.
    public var offset: Int
    /// How the field holds its value, which fixes its size.
    public var field: Field
    /// What value goes into the field.
    public var operand: CodeOperand

    /// A field of kind `field` at `offset` that receives `operand`. Checked at commit: a field
    /// outside its body, of the wrong shape or architecture, or overlapping another, fails the
    /// commit with ``CodeArenaError/relocation(_:blob:)``.
    public init(offset: Int, field: Field, operand: CodeOperand) {
        self.offset = offset
        self.field = field
        self.operand = operand
    }
}

/// Generated code plus the fields to fill in when it is committed: a body whose addresses can be
/// set in any process, or a template with holes (``CodeOperand/parameter(_:)``) instantiated
/// many times in one commit.
public struct CodeBody: Sendable, Hashable {
    /// The code, with placeholder bytes in every relocated field (the emitters write zeros).
    public var bytes: [UInt8]
    /// The fields to fill in, in any order; they must not overlap.
    public var relocations: [CodeRelocation]
    /// How unwinders cross the body (registered at commit, removed at free), or nil: no
    /// call-frame information, so a backtrace or an exception stops inside the body.
    public var frame: CodeFrame?

    /// A body of `bytes` whose `relocations` are filled in at commit, with call-frame
    /// information `frame` if given.
    public init(bytes: [UInt8], relocations: [CodeRelocation] = [], frame: CodeFrame? = nil) {
        self.bytes = bytes
        self.relocations = relocations
        self.frame = frame
    }
}

/// Why relocations cannot be applied.
public enum CodeRelocationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field lies (partly) outside its body.
    case outOfBounds(offset: Int, size: Int, bodySize: Int)
    /// The field's bytes are not what its kind expects (a `moveWide64` field that is not
    /// `movz`/`movk` ×4 to one register), or the field does not belong to this architecture.
    case malformedField(offset: Int, field: CodeRelocation.Field)
    /// A `relative32` value more than 2 GiB away from its field.
    case outOfRange(offset: Int, value: UInt64)
    /// A ``CodeOperand/blob(_:offset:)`` index outside its batch.
    case noSuchBlob(Int, batch: Int)
    /// A ``CodeOperand/parameter(_:)`` left in a committed body, or an argument list too short.
    case unfilledParameter(Int)
    /// Two fields overlap.
    case overlapping(offset: Int)

    /// A one-line explanation naming the field's offset and the value or index.
    public var description: String {
        switch self {
        case .outOfBounds(let offset, let size, let bodySize):
            "field of \(size) B at offset \(offset) leaves a \(bodySize)-byte body"
        case .malformedField(let offset, let field): "bytes at offset \(offset) are not a \(field) field"
        case .outOfRange(let offset, let value):
            "0x\(String(value, radix: 16)) is out of rel32 range of the field at offset \(offset)"
        case .noSuchBlob(let index, let batch): "blob \(index) of a batch of \(batch)"
        case .unfilledParameter(let index): "parameter \(index) has no value"
        case .overlapping(let offset): "fields overlap at offset \(offset)"
        }
    }
}

extension CodeRelocation.Field {
    /// Whether this architecture's code uses the field kind.
    func belongs(to architecture: Architecture) -> Bool {
        switch self {
        case .absolute64, .relative32: architecture == .x86_64
        case .moveWide64: architecture == .arm64
        }
    }

    /// Checks that the field fits in a body of `count` bytes and holds what its kind expects.
    func validate(at offset: Int, in bytes: UnsafeRawBufferPointer, architecture: Architecture) throws(CodeRelocationError) {
        // Compared without adding: offset may be anything.
        guard offset >= 0, size <= bytes.count, offset <= bytes.count - size else {
            throw .outOfBounds(offset: offset, size: size, bodySize: bytes.count)
        }
        guard belongs(to: architecture) else { throw .malformedField(offset: offset, field: self) }
        if self == .moveWide64 {
            guard AArch64Assembler.isMoveWideSequence(bytes, at: offset) else { throw .malformedField(offset: offset, field: self) }
        }
    }

    /// Writes `value` into the field at `offset` of `bytes`, whose first byte will run at
    /// `origin`. The field was validated.
    func store(_ value: UInt64, at offset: Int, in bytes: UnsafeMutableRawBufferPointer, origin: UInt) throws(CodeRelocationError) {
        switch self {
        case .absolute64:
            bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
        case .relative32:
            let end = UInt64(origin) &+ UInt64(offset) &+ 4
            let distance = Int64(bitPattern: value &- end)
            guard let displacement = Int32(exactly: distance) else { throw .outOfRange(offset: offset, value: value) }
            bytes.storeBytes(of: displacement.littleEndian, toByteOffset: offset, as: Int32.self)
        case .moveWide64:
            AArch64Assembler.storeMoveWide(value, in: bytes, at: offset)
        }
    }

    /// The value the field holds, reading it back (for a field at `origin + offset`).
    func load(at offset: Int, in bytes: UnsafeRawBufferPointer, origin: UInt) -> UInt64 {
        switch self {
        case .absolute64:
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        case .relative32:
            let displacement = Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
            return UInt64(origin) &+ UInt64(offset) &+ 4 &+ UInt64(bitPattern: Int64(displacement))
        case .moveWide64:
            return AArch64Assembler.loadMoveWide(from: bytes, at: offset)
        }
    }
}

extension CodeBody {
    /// Validates every field against the body and `architecture`: in bounds, of this
    /// architecture, well formed, not overlapping; blob operands within a batch of `batch`; no
    /// parameter left.
    func validate(architecture: Architecture, batch: Int) throws(CodeRelocationError) {
        guard !relocations.isEmpty else { return }
        try validateFields(architecture: architecture)
        for relocation in relocations { try relocation.operand.check(batch: batch) }
    }

    /// The fields alone (not their operands): in bounds, of this architecture, well formed, not
    /// overlapping.
    func validateFields(architecture: Architecture) throws(CodeRelocationError) {
        let problem = bytes.withUnsafeBytes { raw -> CodeRelocationError? in
            for relocation in relocations {
                do throws(CodeRelocationError) {
                    try relocation.field.validate(at: relocation.offset, in: raw, architecture: architecture)
                } catch { return error }
            }
            return nil
        }
        if let problem { throw problem }
        // Quadratic, allocation-free: bodies have a handful of fields.
        for (index, first) in relocations.enumerated() {
            for second in relocations[(index + 1)...] where first.offset < second.offset + second.field.size
                && second.offset < first.offset + first.field.size {
                throw .overlapping(offset: max(first.offset, second.offset))
            }
        }
    }
}
