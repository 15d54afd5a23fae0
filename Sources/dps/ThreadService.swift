import Foundation
import ServiceLifecycle

/// Runs blocking work on a dedicated thread inside a `ServiceGroup`: `body` runs until `stop`
/// makes it return; graceful shutdown (SIGTERM/SIGINT) calls `stop`.
struct ThreadService: Service {
    let name: String
    let body: @Sendable () -> Void
    let stop: @Sendable () -> Void

    func run() async throws {
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
