import ArgumentParser

/// `dps listen`: not built yet.
struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "listen", abstract: "(not built yet)")

    func run() async throws {
        throw ValidationError("dps listen is not built yet")
    }
}
