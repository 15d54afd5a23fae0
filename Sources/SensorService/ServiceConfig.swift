import SensorCore
import SensorIO

/// The `dps run` config file (YAML, `/etc/dps/dps.yaml` by default): a mapping whose keys are the
/// keys of `RunSetting.all`. Every key is optional; an empty file (or only comments) sets nothing.
/// Unknown keys, wrong types and impossible values are errors naming the key, the line and the file.
public enum ServiceConfig {
    public static let defaultPath = "/etc/dps/dps.yaml"

    /// Reads and checks a config file.
    public static func load(path: String) throws(ServiceConfigError) -> RunSettings {
        let text: String
        do {
            text = try TextFile.read(path, limit: 1 << 20)
        } catch .tooLarge {
            throw ServiceConfigError(file: path, message: "larger than 1 MiB, not a dps config file")
        } catch {
            throw ServiceConfigError(file: path, message: error.reason)
        }
        return try parse(text, source: path)
    }

    /// Parses and checks config text; `source` names the file in errors.
    public static func parse(_ text: String, source: String) throws(ServiceConfigError) -> RunSettings {
        let root: YAMLNode?
        do {
            root = try YAML.compose(text)
        } catch {
            throw ServiceConfigError(file: source, message: "not valid YAML: \(error)")
        }
        var settings = RunSettings()
        guard let root else { return settings }  // empty, or only comments
        if root.scalarType == .null { return settings }
        guard case .mapping(let mapping) = root.content else {
            throw ServiceConfigError(
                file: source, line: root.line,
                message: "expected a mapping of settings (key: value), got \(root.kind)")
        }
        var seen = Set<String>()
        for (keyNode, valueNode) in mapping {
            guard let name = keyNode.scalarText else {
                throw ServiceConfigError(file: source, line: keyNode.line, message: "a key is not a plain name")
            }
            func fail(_ message: String) -> ServiceConfigError {
                ServiceConfigError(file: source, key: name, line: valueNode.line, message: message)
            }
            guard let setting = RunSetting.named(name) else { throw fail(unknownKey(name)) }
            guard seen.insert(name).inserted else { throw fail("appears twice") }
            do {
                try setting.read(valueNode, into: &settings)
            } catch {
                throw fail(error.message)
            }
        }
        return settings
    }

    /// "unknown key (did you mean ...)", or the list of known keys.
    private static func unknownKey(_ name: String) -> String {
        let normalized = name.lowercased().replacingOccurrences(of: "-", with: "_")
        if let near = RunSetting.named(normalized) ?? (normalized == "interface" ? RunSetting.interfaces : nil) {
            return "unknown key (did you mean \"\(near.key)\"?)"
        }
        return "unknown key; known keys: " + RunSetting.all.map(\.key).joined(separator: ", ")
    }
}
