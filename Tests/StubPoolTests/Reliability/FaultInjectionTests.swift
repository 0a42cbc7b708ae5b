import Foundation
import Testing

/// The fault-injection walk (Tests/StubPoolCrashProbe/FaultWalk.swift), run in a child process so
/// that mapping counts are exact: for every operation and every system call it makes, the Nth call
/// fails; the error must be typed and name the operation, mappings and statistics must be as
/// before, and the pool or arena must still work.
@Suite struct FaultInjectionTests {
    @Test func everySystemCallSiteFailsCleanly() throws {
        let outcome = try ChildProcess.run("StubPoolCrashProbe", arguments: ["fault-walk"], timeout: 300)
        #expect(outcome.terminationStatus == 0 && !outcome.terminatedBySignal, "\(outcome.standardError)")
        let lines = outcome.standardOutput.split(separator: "\n")
        try #require(!lines.contains { $0.hasPrefix("FAULT-INJECTION unavailable") }, "fault injection is compiled into debug builds only")
        for violation in lines where violation.hasPrefix("VIOLATION") { Issue.record("\(violation)") }
        var points: [String: Int] = [:]
        var violations = 0
        for line in lines where line.hasPrefix("WALK ") {
            let fields = line.split(separator: " ")
            let value = { (name: String) in Int(fields.first { $0.hasPrefix(name + "=") }?.dropFirst(name.count + 1) ?? "") ?? -1 }
            points[String(fields[1])] = value("points")
            violations += max(0, value("violations"))
            #expect(value("violations") == 0, "\(line)")
        }
        // Lower bounds: the system calls each operation is known to make.
        let minimum = ["createPool": 4, "allocate(sharedTemplate)": 2, "allocate(privateCopy)": 2,
                       "allocateBulk": 4, "arenaCommit(first)": 4, "arenaCommit(piece)": 3, "lazyBatch(arena)": 2,
                       "arenaAfterFork(commit)": 6, "arenaAfterFork(write)": 6, "arenaAfterFork(free)": 6,
                       "imageRestore": 6]
        for (operation, least) in minimum {
            #expect((points[operation] ?? 0) >= least, "\(operation): \(points[operation] ?? 0) fault sites walked")
        }
        #expect(points["threadExit"] == 7, "thread exit walked once per system call type")
        for operation in ["retarget", "release", "reclaim", "lazyBatch", "retargetRange", "releaseRange"] {
            #expect(points[operation] == 0, "\(operation) makes no system call")
        }
        let total = points.values.reduce(0, +)
        print("fault injection: \(total) failing system calls walked over \(points.count) operations, \(violations) violations: \(points.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }
}
