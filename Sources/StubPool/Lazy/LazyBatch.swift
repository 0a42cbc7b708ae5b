/// The pending requests one generator call receives, in batch order (the called stub first): a
/// random-access collection of ``LazyRequest`` values read in place from the requests' own spec
/// arrays, so handing a batch of any size to the generator copies no spec.
///
/// Use it like an array (`batch.map { … }`, `batch[0]`, `batch.count`); `Array(batch)` copies.
public struct LazyBatch<Spec: Sendable>: RandomAccessCollection, Sendable {
    /// The batch's stubs and where their specs are.
    @usableFromInline let members: [LazyMember]
    /// Every request's specs, by block (a snapshot: requests made while the generator runs are
    /// not in it, nor in this batch).
    @usableFromInline let specs: [[Spec]]

    init(members: [LazyMember], specs: [[Spec]]) {
        self.members = members
        self.specs = specs
    }

    /// Always 0.
    public var startIndex: Int { 0 }
    /// The number of requests in the batch.
    public var endIndex: Int { members.count }

    // @inlinable: a generator's `batch.map { … }` otherwise runs this subscript as unspecialized
    // generic code per request (metadata lookups in every access: the old request path spent most
    // of its 700 ns per stub there); inlined into the generator it is two array reads.
    /// The request at `position` (0 is the stub whose call started the batch). O(1).
    @inlinable
    public subscript(position: Int) -> LazyRequest<Spec> {
        let member = members[position]
        return LazyRequest(stub: member.stub, spec: specs[Int(member.block)][Int(member.position)])
    }
}
