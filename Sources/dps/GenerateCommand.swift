import ArgumentParser

/// `dps generate`: not built yet.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "(not built yet)")

    func run() async throws {
        throw ValidationError("dps generate is not built yet")
    }
}
