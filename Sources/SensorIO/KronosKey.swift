import Crypto

#if canImport(Glibc)
import Glibc
#endif

/// The HMAC key that signs lines for Kronos: the text of a key file minus one trailing newline.
///
/// A key file is refused when it is missing, empty (or only a newline), not a regular file, or
/// readable or writable beyond its owner and group: any permission bit for others, or group
/// write/execute (`0600` and `0640` are fine, `0644` is not).
public struct KronosKey: Sendable {
    /// The key bytes.
    public let bytes: [UInt8]
    /// Where it came from (for logs).
    public let path: String

    /// The systemd credential name looked up in `$CREDENTIALS_DIRECTORY`.
    public static let credentialName = "kronos-hmac-key"

    /// Largest key file accepted: a key is a few dozen bytes; anything this big is the wrong file.
    public static let maximumFileSize = 64 * 1024

    public init(bytes: [UInt8], path: String = "(memory)") {
        self.bytes = bytes
        self.path = path
    }

    public var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }

    /// Reads and checks a key file.
    public static func load(path: String) throws(KronosKeyError) -> KronosKey {
        var data: [UInt8]
        let mode: mode_t
        do {
            (data, mode) = try TextFile.readBytes(path, limit: maximumFileSize)
        } catch .open(let code), .read(let code) {
            throw KronosKeyError(.unreadable, path: path, reason: String(cString: strerror(code)), errno: code)
        } catch .tooLarge {
            throw KronosKeyError(.tooLarge, path: path, reason: "larger than \(maximumFileSize) bytes")
        } catch {
            throw KronosKeyError(.notAKeyFile, path: path, reason: error.reason)
        }
        guard mode & 0o037 == 0 else {
            throw KronosKeyError(
                .tooOpen, path: path,
                reason: "mode \(String(mode & 0o777, radix: 8)) is too open (others or group-write bits set); "
                    + "use chmod 600 or 640")
        }
        if data.last == UInt8(ascii: "\n") { data.removeLast() }
        guard !data.isEmpty else { throw KronosKeyError(.empty, path: path, reason: "empty key") }
        return KronosKey(bytes: data, path: path)
    }

    /// The key to use: `explicitPath` if given, else the systemd credential `kronos-hmac-key` when
    /// `$CREDENTIALS_DIRECTORY` holds one, else nil (unsigned lines).
    public static func resolve(
        explicitPath: String?, environment: [String: String]
    ) throws(KronosKeyError) -> KronosKey? {
        if let explicitPath { return try load(path: explicitPath) }
        guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
            return nil
        }
        let path = directory.hasSuffix("/") ? directory + credentialName : directory + "/" + credentialName
        guard access(path, F_OK) == 0 else { return nil }
        return try load(path: path)
    }
}

/// A key file that cannot be used: a code to match, the file, why, and the errno if a call failed.
public struct KronosKeyError: Error, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// It cannot be opened or read (`errno` says why).
        case unreadable
        /// Not a regular file, or not text.
        case notAKeyFile
        case tooLarge
        /// Readable or writable by others, or writable by the group.
        case tooOpen
        /// Empty, or only a newline.
        case empty
    }

    public let code: Code
    public let path: String
    public let reason: String
    public let errno: Int32?

    init(_ code: Code, path: String, reason: String, errno: Int32? = nil) {
        self.code = code
        self.path = path
        self.reason = reason
        self.errno = errno
    }

    public var description: String { "HMAC key file \(path): \(reason)" }
}
