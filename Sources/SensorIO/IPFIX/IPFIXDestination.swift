/// Where an IPFIX exporter sends: `udp://HOST:PORT` or `tcp://HOST:PORT`. HOST is a name, an IPv4
/// address or a bracketed IPv6 address (`udp://[2001:db8::9]:4739`); without `:PORT` the port is
/// 4739, IANA's for IPFIX. Names are resolved when the exporter connects, not when parsed.
public struct IPFIXDestination: Equatable, Sendable, CustomStringConvertible {
    public enum Transport: String, Sendable {
        case udp, tcp
    }

    public static let defaultPort: UInt16 = 4739

    public var transport: Transport
    /// A name or an address, without brackets.
    public var host: String
    public var port: UInt16

    public init(transport: Transport, host: String, port: UInt16 = defaultPort) {
        self.transport = transport
        self.host = host
        self.port = port
    }

    /// The URL form `parse` reads.
    public var description: String {
        "\(transport.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Reads `udp://HOST[:PORT]` or `tcp://HOST[:PORT]`.
    public static func parse(_ text: String) throws(IPFIXDestinationError) -> IPFIXDestination {
        func fail(_ reason: String) -> IPFIXDestinationError { IPFIXDestinationError(text: text, reason: reason) }
        guard let separator = text.range(of: "://") else {
            throw fail("expected udp://HOST:PORT or tcp://HOST:PORT")
        }
        guard let transport = Transport(rawValue: text[..<separator.lowerBound].lowercased()) else {
            throw fail("the scheme must be udp or tcp, not \"\(text[..<separator.lowerBound])\"")
        }
        var rest = text[separator.upperBound...]
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { throw fail("no host") }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
            throw fail("only HOST:PORT may follow \(transport.rawValue)://")
        }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw fail("an IPv6 address opened with [ is not closed with ]")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("expected :PORT after ]") }
                portText = after.dropFirst()
            }
        } else {
            let colons = rest.filter { $0 == ":" }.count
            guard colons <= 1 else { throw fail("an IPv6 address must be in brackets: [2001:db8::1]:4739") }
            if let colon = rest.firstIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            } else {
                host = rest
            }
        }
        guard !host.isEmpty else { throw fail("no host") }
        guard !host.contains(where: { $0.isWhitespace }) else { throw fail("the host contains a space") }
        var port = defaultPort
        if let portText {
            guard let value = UInt16(portText), value > 0 else {
                throw fail("the port must be a number from 1 to 65535, not \"\(portText)\"")
            }
            port = value
        }
        return IPFIXDestination(transport: transport, host: String(host), port: port)
    }
}

/// Why a destination does not parse: the text and what is wrong with it.
public struct IPFIXDestinationError: Error, Equatable, CustomStringConvertible {
    public var text: String
    public var reason: String

    public var description: String { "IPFIX destination \"\(text)\": \(reason)" }
}
