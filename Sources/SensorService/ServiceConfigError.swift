import SensorCore

/// A config file that cannot be used: names the file and, when it is about one, the key.
public struct ServiceConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String?
    public var line: Int?
    public var message: String

    public init(file: String, key: String? = nil, line: Int? = nil, message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var text = "config file \(file)"
        if let line { text += ", line \(line)" }
        if let key { text += ": key \"\(Echo.escaped(key))\"" }
        return text + ": " + message
    }
}
