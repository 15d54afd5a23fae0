// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "DeepPacketSentinel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dps", targets: ["dps"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // The ring-buffer record shared with bpf/dps.bpf.c.
        .target(name: "CSensorABI"),
        // libbpf 1.1.2 from Debian's libbpf-dev, plus a shim that builds opts structs in C.
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]
        ),
        // Pure Swift: packet events, the flow table, frames. No libbpf, testable anywhere (the ABI
        // header gives it the snapshot size).
        .target(name: "SensorCore", dependencies: ["CSensorABI"]),
        // libpcap from Debian's libpcap-dev: reads pcap and pcapng files.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // libyaml from Debian's libyaml-dev: the event parser under the bounded YAML reader.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // zlib (Debian zlib1g-dev): reading gzip; zstd (libzstd-dev): writing and reading zstd.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // ISA-L's igzip: the dataset files' gzip, 3.5x zlib's speed at level 1 (zlib still reads).
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        // sendmmsg(2) for the IPFIX exporter's UDP messages (glibc hides it from Swift).
        .target(name: "CDatagrams"),
        // Sources (pcap, NDJSON) and sinks (stdout/file, Kronos socket); rules files.
        .target(
            name: "SensorIO",
            dependencies: [
                "SensorCore", "CPcap", "CYAML", "CDatagrams", "CZlib", "CZstd", "CIsal",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The kernel layer: load the embedded BPF object, attach TC hooks, read the ring buffer.
        .target(
            name: "SensorKernel",
            dependencies: [
                "CLibbpf", "CSensorABI", "SensorCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            plugins: ["BPFObjectPlugin"]
        ),
        // The service: every setting declared once (`RunSetting`), the config file and its layering
        // under the command line, SIGHUP reload, the Kronos credential, and the live pipeline wired
        // into a ServiceGroup (`LiveCapture`, `CaptureLoop`). The commands only parse and call it.
        .target(
            name: "SensorService",
            dependencies: [
                "SensorCore", "SensorIO", "SensorKernel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The command line: `run`, `label`, `generate`, `listen`.
        .executableTarget(
            name: "dps",
            dependencies: [
                "SensorCore", "SensorIO", "SensorKernel", "SensorService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The performance harness (Sources/dps-bench/run.sh builds release and runs it).
        .executableTarget(
            name: "dps-bench",
            dependencies: [
                "SensorCore", "SensorIO", "SensorKernel", "SensorService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["run.sh"]
        ),
        // Build tool: compiles bpf/*.bpf.c with the toolchain's clang and embeds the object.
        .executableTarget(name: "BPFEmbed", path: "Sources/BPFEmbed"),
        .plugin(
            name: "BPFObjectPlugin",
            capability: .buildTool(),
            dependencies: ["BPFEmbed"]
        ),
        // Hand-built packets shared by the test targets.
        .target(name: "TestSupport", dependencies: ["SensorCore"], path: "Tests/TestSupport"),
        .testTarget(name: "SensorCoreTests", dependencies: ["SensorCore", "TestSupport"]),
        .testTarget(
            name: "SensorIOTests",
            dependencies: [
                "SensorIO", "SensorCore", "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
                "CZlib",  // the HTML report test reads chromium's PNG screenshot
            ]
        ),
        .testTarget(
            name: "SensorKernelTests",
            dependencies: [
                "SensorKernel", "SensorCore", "SensorIO", "SensorService", "CSensorABI", "CLibbpf", "TestSupport",
            ],
            exclude: ["Support/traffic.py", "Support/hooks.py", "Support/deny_bpf.py"]  // run by path by the tests, not resources
        ),
        .testTarget(
            name: "SensorServiceTests",
            dependencies: [
                "SensorService", "SensorIO", "SensorCore", "dps",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // How dps is deployed: the systemd unit and the installer (systemd-analyze, a staged
        // install), the command's basics, and the Debian package under a real systemd.
        .testTarget(name: "DeploymentTests", dependencies: ["TestSupport", "SensorKernel"]),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer target, only when Tests/Fuzz/run.sh builds it (DPS_FUZZ=1): the code under test
// (SensorCore, SensorIO, SensorService) and the target are compiled with -sanitize=fuzzer,address (coverage for
// libFuzzer, AddressSanitizer), and the target links libFuzzer's driver, which no other build has.
if Context.environment["DPS_FUZZ"] != nil {
    let sanitize: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]
    for target in package.targets where ["SensorCore", "SensorIO", "SensorService"].contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + sanitize
    }
    package.targets.append(
        .executableTarget(
            name: "dps-fuzz", dependencies: ["SensorCore", "SensorIO", "SensorService"], swiftSettings: sanitize,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]))
    package.products.append(.executable(name: "dps-fuzz", targets: ["dps-fuzz"]))
}
