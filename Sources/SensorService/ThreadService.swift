import Foundation
import ServiceLifecycle

/// Runs blocking work on a dedicated thread inside a `ServiceGroup`: `body` runs until `stop`
/// makes it return; graceful shutdown (SIGTERM/SIGINT) calls `stop`.
public struct ThreadService: Service {
    let name: String
    let body: @Sendable () -> Void
    let stop: @Sendable () -> Void

    public init(name: String, body: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        self.stop = stop
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    body()
                    done.resume()
                }
                thread.name = name
                thread.start()
            }
        } onGracefulShutdown: {
            stop()
        }
    }
}
