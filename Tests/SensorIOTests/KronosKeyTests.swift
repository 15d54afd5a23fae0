import Foundation
import SensorIO
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Kronos HMAC key files")
struct KronosKeyTests {
    let dir = KronosTempDir()

    func write(_ name: String, _ text: String, mode: mode_t) -> String {
        let path = dir.file(name)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        chmod(path, mode)
        return path
    }

    func refusal(_ path: String) -> String? { error(path)?.description }

    func error(_ path: String) -> KronosKeyError? {
        do {
            _ = try KronosKey.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func keyIsTheTextMinusOneTrailingNewline() throws {
        let a = try KronosKey.load(path: write("a", "s3cret\n", mode: 0o600))
        #expect(a.bytes == Array("s3cret".utf8))
        let b = try KronosKey.load(path: write("b", "s3cret\n\n", mode: 0o640))
        #expect(b.bytes == Array("s3cret\n".utf8))
        let c = try KronosKey.load(path: write("c", "no newline", mode: 0o400))
        #expect(c.bytes == Array("no newline".utf8))
    }

    @Test func missingFileIsRefusedNamingIt() {
        let path = dir.file("absent")
        let message = refusal(path)
        #expect(message == "HMAC key file \(path): No such file or directory")
        #expect(error(path)?.code == .unreadable && error(path)?.errno == ENOENT)
    }

    @Test func emptyKeyIsRefused() {
        for (name, text) in [("empty", ""), ("newline", "\n")] {
            let path = write(name, text, mode: 0o600)
            #expect(refusal(path) == "HMAC key file \(path): empty key")
            #expect(error(path)?.code == .empty)
        }
    }

    @Test(arguments: [0o644, 0o604, 0o660, 0o650, 0o641, 0o777] as [mode_t])
    func openModesAreRefused(mode: mode_t) {
        let path = write("open-\(mode)", "s3cret\n", mode: mode)
        let message = refusal(path)
        #expect(message?.hasPrefix("HMAC key file \(path): mode \(String(mode, radix: 8)) is too open") == true)
        #expect(error(path)?.code == .tooOpen)
    }

    @Test func directoryIsRefused() {
        #expect(refusal(dir.path) == "HMAC key file \(dir.path): not a regular file")
    }

    @Test func systemdCredentialIsUsedWhenPresent() throws {
        let credentials = KronosTempDir()
        let environment = ["CREDENTIALS_DIRECTORY": credentials.path]
        #expect(try KronosKey.resolve(explicitPath: nil, environment: environment) == nil)
        #expect(try KronosKey.resolve(explicitPath: nil, environment: [:]) == nil)
        let path = credentials.file(KronosKey.credentialName)
        #expect(FileManager.default.createFile(atPath: path, contents: Data("from-systemd\n".utf8)))
        chmod(path, 0o400)
        let found = try #require(try KronosKey.resolve(explicitPath: nil, environment: environment))
        #expect(found.bytes == Array("from-systemd".utf8))
        #expect(found.path == path)
        let explicit = write("explicit", "given\n", mode: 0o600)
        let chosen = try #require(try KronosKey.resolve(explicitPath: explicit, environment: environment))
        #expect(chosen.bytes == Array("given".utf8))
        chmod(path, 0o644)
        #expect(throws: KronosKeyError.self) { try KronosKey.resolve(explicitPath: nil, environment: environment) }
    }
}
