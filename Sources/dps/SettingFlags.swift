import ArgumentParser
import Logging
import SensorCore
import SensorIO
import SensorService

extension Setting {
    /// `--help` for the setting's flag: what it does, and its default.
    var argumentHelp: ArgumentHelp {
        guard defaultIsValue || defaultDescription != "(required)" else { return ArgumentHelp(help, valueName: valueName) }
        // A flag is on or off; other values as the README shows them.
        let shown = (defaultValue as? Bool).map { $0 ? "on" : "off" } ?? defaultDescription
        let sentence = help.hasSuffix(".") ? String(help.dropLast()) : help
        return ArgumentHelp("\(sentence) (default: \(shown)).", valueName: valueName)
    }

    /// The flag's name without the leading dashes.
    var flagName: NameSpecification { .customLong(String(flag.dropFirst(2))) }
}

/// The settings a parsed command line gives. argument-parser finds a command's options by
/// reflecting over its properties; this reads them back the same way: every option or flag
/// property named like a setting (`idleTimeout` for `idle_timeout`) that holds a value is that
/// setting's value, and an `@OptionGroup` is read through. Properties that are no setting
/// (`--config`) are passed over; a property named like a setting but of another type stops the
/// program (a test parses every flag, so that cannot ship).
enum CommandLineSettings {
    static func given(by arguments: ParsableArguments) -> RunSettings {
        var settings = RunSettings()
        collect(arguments, into: &settings)
        return settings
    }

    private static func collect(_ arguments: Any, into settings: inout RunSettings) {
        for child in Mirror(reflecting: arguments).children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            if let group = child.value as? any ArgumentGroupValue {
                collect(group.arguments, into: &settings)
                continue
            }
            guard let property = child.value as? any ArgumentValue,
                let setting = RunSetting.named(snakeCase(label.dropFirst())),
                let value = property.given
            else { continue }
            precondition(setting.set(value, in: &settings), "\(label) does not have the type of \(setting.key)")
        }
    }

    /// `idleTimeout` → `idle_timeout`.
    static func snakeCase(_ name: Substring) -> String {
        var key = ""
        for character in name {
            if character.isUppercase { key += "_" + character.lowercased() } else { key.append(character) }
        }
        return key
    }
}

/// An `@Option` or `@Flag` property: its value when the command line gave one.
private protocol ArgumentValue { var given: Any? { get } }

/// An `@OptionGroup` property: the group it holds.
private protocol ArgumentGroupValue { var arguments: Any { get } }

extension Option: ArgumentValue {
    fileprivate var given: Any? { givenValue(wrappedValue) }
}

extension Flag: ArgumentValue {
    fileprivate var given: Any? { givenValue(wrappedValue) }
}

extension OptionGroup: ArgumentGroupValue {
    fileprivate var arguments: Any { wrappedValue }
}

/// nil for an absent optional and an empty repeatable option; the value otherwise.
private func givenValue(_ value: Any) -> Any? {
    let mirror = Mirror(reflecting: value)
    if mirror.displayStyle == .optional { return mirror.children.first?.value }
    if let list = value as? [String], list.isEmpty { return nil }
    return value
}

extension HookMode: ExpressibleByArgument {}
extension DatasetCompression: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
