import ArgumentParser

@main
struct DPS: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "dps",
        abstract: "DeepPacketSentinel: an eBPF network flow sensor.",
        version: version,
        subcommands: [RunCommand.self, LabelCommand.self, GenerateCommand.self, ReportCommand.self, ListenCommand.self]
    )
}
