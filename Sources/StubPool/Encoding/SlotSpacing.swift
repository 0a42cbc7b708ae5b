/// Where a placement puts a chunk's logical slots: logical slot `i` is physical slot
/// `i·stride + (i mod cycle)·step`. Increasing in `i` for every placement (each new slot lies past
/// the previous one), so logical order is address order.
struct SlotSpacing: Sendable, Hashable {
    /// Physical slots from one logical slot to the next, before the offset.
    let stride: Int
    /// After how many logical slots the offset repeats (1: no offset).
    let cycle: Int
    /// Physical slots the offset advances per logical slot within a cycle.
    let step: Int

    /// Logical slots are physical ones.
    static let dense = SlotSpacing(stride: 1, cycle: 1, step: 0)

    @inline(__always)
    func physical(_ logical: Int) -> Int {
        // Wrapping: logical slots and their physical ones are bounded by a chunk's slot count.
        logical &* stride &+ (cycle == 1 ? 0 : (logical % cycle) &* step)
    }
}
