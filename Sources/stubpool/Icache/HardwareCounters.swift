import CBenchCounters

/// L1 instruction-cache and instruction-TLB miss counters for the calling thread, through
/// perf_event_open, where the kernel and the (virtual) machine allow it.
struct HardwareCounters: ~Copyable {
    struct Reading { var l1iMisses: UInt64; var itlbMisses: UInt64 }

    private let l1i: Int32
    private let itlb: Int32

    /// Opens both counters, or returns why they are unsupported here.
    static func open() -> Result<HardwareCounters, CounterError> {
        let l1i = stubpool_counter_open(STUBPOOL_COUNTER_L1I_MISSES)
        guard l1i >= 0 else { return .failure(CounterError(event: "L1I misses", errno: -l1i)) }
        let itlb = stubpool_counter_open(STUBPOOL_COUNTER_ITLB_MISSES)
        guard itlb >= 0 else {
            stubpool_counter_close(l1i)
            return .failure(CounterError(event: "iTLB misses", errno: -itlb))
        }
        return .success(HardwareCounters(l1i: l1i, itlb: itlb))
    }

    private init(l1i: Int32, itlb: Int32) { self.l1i = l1i; self.itlb = itlb }

    deinit {
        stubpool_counter_close(l1i)
        stubpool_counter_close(itlb)
    }

    /// Counts the events of `body` (user space, this thread).
    func measure(_ body: () -> Void) -> Reading? {
        guard stubpool_counter_start(l1i) == 0, stubpool_counter_start(itlb) == 0 else { return nil }
        body()
        var l1iValue: UInt64 = 0, itlbValue: UInt64 = 0
        guard stubpool_counter_stop(l1i, &l1iValue) == 0, stubpool_counter_stop(itlb, &itlbValue) == 0 else { return nil }
        return Reading(l1iMisses: l1iValue, itlbMisses: itlbValue)
    }
}

/// Why hardware counters cannot be used on this machine.
struct CounterError: Error, CustomStringConvertible {
    let event: String
    let errno: Int32
    var description: String { "perf_event_open(\(event)) failed with errno \(errno)" }
}
