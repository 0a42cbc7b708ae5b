/// What a stub does when it is called.
public enum StubKind: String, Sendable, Hashable, CaseIterable {
    /// Jumps through its data slot's target. Arguments, stack and return address are untouched;
    /// no register is written.
    case forward
    /// Loads its data slot's context into the context register (x86-64: `r10`; AArch64: `x17`),
    /// then jumps through its target. On x86-64 `r11` is left free for the callee as scratch.
    case context
    /// A C-callable closure: shifts the integer argument registers up by one, puts the context in
    /// the first, then jumps through its target. The callee may take at most 5 integer-class
    /// arguments of its own on x86-64 (7 on AArch64): the last register's value is dropped.
    /// Floating-point and vector arguments are untouched; stack arguments are not shifted.
    case bindFirstArgument
}

/// One compiled form of a stub: its kind plus code options.
public struct StubVariant: Sendable, Hashable, CustomStringConvertible {
    /// What the stub does when called.
    public var kind: StubKind
    /// Whether every stub entry begins with an indirect-branch landing pad
    /// (`endbr64` on x86-64, `bti c` on AArch64).
    public var landingPad: Bool
    /// Whether each slot also holds a lazy entry: a pending lazy stub's target, which hands the
    /// slot's address to the lazy resolver (`context` stubs of pools with lazy batches only).
    public var lazyEntry: Bool

    /// The variant of `kind` with or without a landing pad and a lazy entry.
    public init(kind: StubKind, landingPad: Bool = false, lazyEntry: Bool = false) {
        self.kind = kind
        self.landingPad = landingPad
        self.lazyEntry = lazyEntry
    }

    /// The kind and its options, e.g. `context+landing-pad+lazy` (as `stubpool template` prints).
    public var description: String {
        kind.rawValue + (landingPad ? "+landing-pad" : "") + (lazyEntry ? "+lazy" : "")
    }
}

/// Where the released-stub trap finds the address of the stub that was called: where the kind
/// carries its context. The raw values are the shim's, for the trap entries
/// (`stubpool_trap_source_t`) and the lazy resolver's (`stubpool_lazy_context_t`: none, static
/// chain, first argument), which order their cases the same way.
enum ReleasedTrapSource: UInt32, Sendable {
    /// The stub's released entry calls the trap; the return address lies inside the stub.
    case returnAddress
    /// The released stub loaded its own address as the context into the context register.
    case contextRegister
    /// The released stub loaded its own address as the context into the first argument register.
    case firstArgument
}

extension StubKind {
    var releasedTrapSource: ReleasedTrapSource {
        switch self {
        case .forward: .returnAddress
        case .context: .contextRegister
        case .bindFirstArgument: .firstArgument
        }
    }
}
