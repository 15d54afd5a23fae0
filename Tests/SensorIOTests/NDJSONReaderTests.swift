import Foundation
import SensorCore
import Testing

@testable import SensorIO

/// Writes text to a fresh temporary file; removed at deinit.
final class LabelTestFile {
    let path: String

    init(_ text: String, name: String = "frames.ndjson") throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dps-label-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    deinit { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
}

/// Where the shared sample frames are: `../shared/data` from the package root.
enum LabelSharedData {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared")
    static let sampleFlows = root.appendingPathComponent("data/sample_flows.ndjson").path
    static func capture(_ name: String) -> String { root.appendingPathComponent("pcaps/\(name)").path }
}

@Suite("NDJSON frames")
struct NDJSONReaderTests {
    let good =
        #"{"src_ip": "7.190.71.63", "dst_ip": "8.8.8.8", "src_port": 15652, "dst_port": 53, "protocol": "UDP", "bytes_in": 36, "bytes_out": 437, "duration": 0.006, "payload": null, "label": "benign"}"#

    func parse(_ line: String) throws(FrameParseError) -> FlowFrame {
        try FlowFrameJSON.parse(Array(line.utf8))
    }

    func error(_ line: String) -> String? {
        do {
            _ = try parse(line)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("a json.dumps line (spaces after : and ,) reads field by field")
    func readsPythonLine() throws {
        let frame = try parse(good)
        #expect(frame.source.description == "7.190.71.63")
        #expect(frame.destination.description == "8.8.8.8")
        #expect(frame.sourcePort == 15652 && frame.destinationPort == 53)
        #expect(frame.transport == .udp)
        #expect(frame.bytesIn == 36 && frame.bytesOut == 437)
        #expect(frame.duration == 0.006)
        #expect(frame.payload == nil)
        #expect(frame.label == "benign")
        #expect(frame.flowID == 0)
    }

    @Test("values round-trip through FrameEncoder: duration as read, IPs as given, payload bytes")
    func roundTrip() throws {
        let lines = [
            #"{"src_ip":"198.51.100.1","dst_ip":"203.0.113.9","src_port":40112,"dst_port":80,"protocol":"TCP","bytes_in":37,"bytes_out":512,"duration":0.004211,"payload":"R0VUIC8g","label":"x"}"#,
            #"{"src_ip":"2001:db8::1","dst_ip":"2001:db8::2","src_port":0,"dst_port":65535,"protocol":"OTHER","bytes_in":0,"bytes_out":18446744073709551615,"duration":1e-05,"payload":"AA==","label":"y"}"#,
            #"{"src_ip":"1.2.3.4","dst_ip":"5.6.7.8","src_port":1,"dst_port":2,"protocol":"UDP","bytes_in":1,"bytes_out":2,"duration":59.99,"payload":"AAE=","packets_in":3,"packets_out":4,"first_seen":1764072000.004211,"last_seen":1764072001.000000,"tcp_flags":"SAFP","end_reason":"active","interface":"eth0","vlan":7,"label":"z"}"#,
            #"{"src_ip":"203.0.113.10","dst_ip":"203.0.113.20","src_port":1,"dst_port":2,"protocol":"UDP","bytes_in":1,"bytes_out":2,"duration":1.5,"payload":null,"packets_in":1,"packets_out":1,"first_seen":1764072000.004211,"last_seen":1764072001.504211,"tcp_flags":"","end_reason":"idle","interface":"eth0","vlan":0,"tunnel":"vxlan","tunnel_src":"198.51.100.1","tunnel_dst":"2001:db8::2","tunnel_id":42}"#,
            #"{"src_ip":"203.0.113.10","dst_ip":"203.0.113.20","src_port":1,"dst_port":2,"protocol":"UDP","bytes_in":1,"bytes_out":2,"duration":1.5,"payload":null,"packets_in":1,"packets_out":1,"first_seen":1764072000.004211,"last_seen":1764072001.504211,"tcp_flags":"","end_reason":"idle","interface":"eth0","vlan":0,"tunnel":"sit","tunnel_src":"198.51.100.1","tunnel_dst":"198.51.100.2"}"#,
        ]
        for (i, line) in lines.enumerated() {
            let frame = try parse(line)
            #expect(FrameEncoder(extended: i >= 2).string(frame) == line)
        }
    }

    @Test("the shared sample file round-trips byte for byte (after removing json.dumps spaces)")
    func sampleRoundTrip() throws {
        let reader = try NDJSONReader(path: LabelSharedData.sampleFlows)
        var encoded: [String] = []
        try reader.forEachFrame { result in
            encoded.append(FrameEncoder().string(try result.get()))
        }
        let original = try String(contentsOfFile: LabelSharedData.sampleFlows, encoding: .utf8)
            .split(separator: "\n").map { $0.replacingOccurrences(of: "\": ", with: "\":").replacingOccurrences(of: ", \"", with: ",\"") }
        #expect(encoded.count == 1000)
        #expect(encoded == original)
    }

    @Test(
        "every kind of bad line has its own message",
        arguments: [
            ("not json at all", "not JSON"),
            (#"{"src_ip": "1.2.3.4""#, "not JSON"),
            (#"[1, 2]"#, "not a JSON object"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1}"#, "missing key \"payload\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": "1", "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"src_port\": expected an integer 0–65535, got \"1\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 70000, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"src_port\": expected an integer 0–65535, got 70000"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1.5, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"bytes_in\": expected an integer >= 0, got 1.5"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": -1, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"bytes_in\": expected an integer >= 0, got -1"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": "0.1", "payload": null}"#, "key \"duration\": expected a number of seconds >= 0, got \"0.1\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "tcp", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"protocol\": expected \"TCP\", \"UDP\" or \"OTHER\", got \"tcp\""),
            (#"{"src_ip": "1.2.3.400", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"src_ip\": expected an IPv4 or IPv6 address, got \"1.2.3.400\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": 5, "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null}"#, "key \"dst_ip\": expected an IPv4 or IPv6 address, got 5"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": "R0VU!"}"#, "key \"payload\": not valid base64: \"R0VU!\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": "R0V"}"#, "key \"payload\": not valid base64: \"R0V\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": 7}"#, "key \"payload\": expected a base64 string or null, got 7"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null, "colour": "red"}"#, "unknown key \"colour\""),
            (#"{"src_ip": "1.2.3.4", "src_ip": "5.6.7.8"}"#, "key \"src_ip\" appears twice"),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null, "tunnel": "vxlan", "tunnel_src": "1.1.1.1"}"#, "missing key \"tunnel_dst\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null, "tunnel_id": 5}"#, "come only with \"tunnel\""),
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null, "tunnel": "l2tp", "tunnel_src": "1.1.1.1", "tunnel_dst": "2.2.2.2"}"#, "key \"tunnel\": expected one of \"ipip\""),
            // Epoch seconds whose microseconds overflow Int64 only in the addition.
            (#"{"src_ip": "1.2.3.4", "dst_ip": "5.6.7.8", "src_port": 1, "dst_port": 2, "protocol": "TCP", "bytes_in": 1, "bytes_out": 2, "duration": 0.1, "payload": null, "packets_in": 1, "packets_out": 1, "first_seen": 9223372036854.999999, "last_seen": 1.0, "tcp_flags": "", "end_reason": "fin", "interface": ""}"#, "key \"first_seen\": expected epoch seconds"),
        ])
    func badLines(line: String, expected: String) {
        let message = error(line)
        #expect(message?.contains(expected) == true, "got \(message ?? "no error")")
    }

    @Test("the reader names file:line for bad lines, skips blank lines and CRLF, goes on")
    func readerReportsAndContinues() throws {
        let lines = [
            good,
            "garbage",
            "",
            good.replacingOccurrences(of: "\"8.8.8.8\"", with: "\"8.8.8\"") + "\r",
            good + "\r",
            good.replacingOccurrences(of: "\"payload\": null", with: "\"payload\": \"%%%\""),
            good.replacingOccurrences(of: ", \"protocol\": \"UDP\"", with: ""),
        ]
        let file = try LabelTestFile(lines.joined(separator: "\n"))
        let reader = try NDJSONReader(path: file.path)
        let (frames, errors) = try Self.tally(reader)
        #expect(frames == 2)
        #expect(errors.map(\.line) == [2, 4, 6, 7])
        #expect(errors.allSatisfy { $0.path == file.path })
        #expect(errors[0].description.hasPrefix("\(file.path):2: not JSON"))
        #expect(errors[1].description == "\(file.path):4: key \"dst_ip\": expected an IPv4 or IPv6 address, got \"8.8.8\"")
        #expect(errors[2].description.contains(":6: key \"payload\": not valid base64"))
        #expect(errors[3].description.hasSuffix(":7: missing key \"protocol\""))
        #expect(reader.linesRead == 7)
    }

    /// The frames a reader reads, and its line errors.
    static func tally(_ reader: NDJSONReader) throws -> (frames: Int, errors: [NDJSONLineError]) {
        var frames = 0
        var errors: [NDJSONLineError] = []
        try reader.forEachFrame { result in
            switch result {
            case .success: frames += 1
            case .failure(let error): errors.append(error)
            }
        }
        return (frames, errors)
    }

    @Test("a line over 1 MiB is skipped and reported, in bounded memory, and reading goes on; gzip too")
    func overlongLines() throws {
        let endless = String(repeating: "x", count: 1_200_000)
        for (text, name) in [
            ("\(good)\n\(endless)\n\(good)\n\(endless)", "plain.ndjson"),
            ("\(endless)\n\(good)\n", "second.ndjson"),
        ] {
            let file = try LabelTestFile(text, name: name)
            let gzipped = try LabelTestFile("", name: name + ".gz")
            let zipped = Process()
            zipped.executableURL = URL(fileURLWithPath: "/bin/sh")
            zipped.arguments = ["-c", "gzip -c '\(file.path)' > '\(gzipped.path)'"]
            try zipped.run()
            zipped.waitUntilExit()
            for path in [file.path, gzipped.path] {
                let (frames, errors) = try Self.tally(NDJSONReader(path: path))
                let expectedErrors: [UInt64] = name == "plain.ndjson" ? [2, 4] : [1]
                #expect(frames == (name == "plain.ndjson" ? 2 : 1), "\(path)")
                #expect(errors.map(\.line) == expectedErrors, "\(path)")
                #expect(errors.allSatisfy { $0.message.hasPrefix("line longer than 1048576 bytes") })
            }
        }
    }

    @Test("a missing file is an error naming it")
    func missingFile() {
        #expect(throws: IOError.self) { try NDJSONReader(path: "/nonexistent/dps-frames.ndjson") }
    }
}
