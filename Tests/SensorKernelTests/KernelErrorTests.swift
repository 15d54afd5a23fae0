import Logging
import Testing

@testable import SensorKernel

#if canImport(Glibc)
import Glibc
#endif

/// Kernel-side errors carry a code and the errno, so callers and tests match those, not text.
@Suite("Kernel errors")
struct KernelErrorTests {
    @Test("an unknown interface is .noSuchInterface, before anything is loaded")
    func noSuchInterface() {
        do {
            _ = try KernelSensor(
                interfaces: ["nosuch0"], egress: true, ringBytes: 1 << 20, attach: .auto, filter: .none,
                logger: Logger(label: "test")
            ) { _, _ in }
            Issue.record("no error")
        } catch let error as KernelError {
            #expect(error.code == .noSuchInterface)
            #expect(error.errno == nil)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("a second lock on an interface is .interfaceBusy with EADDRINUSE; the first still holds")
    func interfaceBusy() throws {
        let first = try InterfaceLock(interface: "lo", index: 1)
        do {
            _ = try InterfaceLock(interface: "lo", index: 1)
            Issue.record("no error")
        } catch {
            #expect(error.code == .interfaceBusy)
            #expect(error.errno == EADDRINUSE)
        }
        withExtendedLifetime(first) {}
    }

    @Test("errno values: EPERM is .permission whatever the operation; others keep their code and errno")
    func errnoMapping() {
        let denied = KernelError(.attach, "attaching to ingress of eth0", errno: -EPERM)
        #expect(denied.code == .permission)
        #expect(denied.errno == EPERM)
        #expect(denied.description.contains("CAP_BPF"))
        let busy = KernelError(.attach, "attaching to ingress of eth0", errno: -EBUSY)
        #expect(busy.code == .attach)
        #expect(busy.errno == EBUSY)
        #expect(busy.description == "attaching to ingress of eth0: Device or resource busy (errno 16)")
    }
}
