import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` with the toolchain's clang (`-target bpf`) and embeds each object
/// in the target as a generated Swift file, so a fresh clone needs nothing but `swift build`.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let bpfDirectory = root.appending(path: "bpf")
        let header = root.appending(path: "Sources/CSensorABI/include")
        let sources = try FileManager.default
            .contentsOfDirectory(at: bpfDirectory, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasSuffix(".bpf.c") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let clang = try context.tool(named: "clang").url
        let embed = try context.tool(named: "BPFEmbed").url
        return sources.map { source in
            let name = String(source.lastPathComponent.dropLast(".bpf.c".count))
            let output = context.pluginWorkDirectoryURL.appending(path: "BPFObject_\(name).swift")
            return .buildCommand(
                displayName: "Compiling BPF program \(source.lastPathComponent)",
                executable: embed,
                arguments: [clang.path, source.path, output.path, name, header.path],
                inputFiles: [source, header.appending(path: "dps_record.h")],
                outputFiles: [output]
            )
        }
    }
}
