import ArgumentParser
import StubPool

@main
struct StubPoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stubpool",
        abstract: "StubPool: packed executable stubs. Runs the headline benchmark by default.")

    func run() throws {
        let pool = try StubPool()
        print(pool.statistics())
    }
}
