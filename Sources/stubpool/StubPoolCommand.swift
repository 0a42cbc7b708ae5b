import ArgumentParser

@main
struct StubPoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stubpool",
        abstract: "StubPool: packed executable stubs for JITs, Wasm engines and FFI layers.",
        subcommands: [BenchCommand.self, IcacheCommand.self, TemplateCommand.self, InspectCommand.self, ImageCommand.self,
                      ClosureLifeCommand.self],
        defaultSubcommand: BenchCommand.self)
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Headline benchmark: StubPool against libffi closures and one page per stub.")

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Option(help: "Live stubs for the memory measurement.")
    var stubs = 1_000_000

    func run() throws {
        let results = try HeadlineBenchmark(memoryStubs: stubs).run()
        print(json ? try results.json() : results.table() + "\n" + HeadlineTarget.table(for: results))
    }
}
