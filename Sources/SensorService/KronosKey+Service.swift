import Foundation
import Logging
import SensorIO

extension KronosKey {
    /// The key `dps run` signs with: `--hmac-key-file`, else the systemd credential
    /// `kronos-hmac-key`. The unit sets that credential to a lone newline when
    /// /etc/dps/kronos.key does not exist (`SetCredential=` is the fallback of `LoadCredential=`):
    /// an empty credential means unsigned lines. An empty key *file* given explicitly is still
    /// refused.
    public static func forService(
        explicitPath: String?, environment: [String: String], logger: Logger
    ) throws(KronosKeyError) -> KronosKey? {
        if explicitPath == nil, let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = (directory.hasSuffix("/") ? directory : directory + "/") + credentialName
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= 1,
                let data = FileManager.default.contents(atPath: path), data.isEmpty || data == Data([0x0A])
            {
                logger.notice(
                    "the kronos-hmac-key credential is empty: Kronos lines are unsigned",
                    metadata: ["credential": "\(path)"])
                return nil
            }
        }
        return try resolve(explicitPath: explicitPath, environment: environment)
    }
}
