import ArgumentParser

/// `dps label`: not built yet.
struct LabelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "label", abstract: "(not built yet)")

    func run() async throws {
        throw ValidationError("dps label is not built yet")
    }
}
