import Testing

@testable import SensorIO

/// The bounded YAML reader: typed scalars as before, and hostile documents refused while reading.
@Suite("YAML")
struct YAMLTests {
    func types(_ text: String) throws -> [YAMLScalarType] {
        let root = try #require(try YAML.compose(text))
        guard case .sequence(let items) = root.content else { return [] }
        return items.compactMap(\.scalarType)
    }

    @Test("plain scalars are typed by the YAML 1.1 rules; quoted ones are strings; tags win")
    func scalarTypes() throws {
        #expect(try types("[true, yes, Off, ~, null, '', 12, -0x1F, 0o17, 017, 0b101, 1_000, 1:30]")
            == [.bool, .bool, .bool, .null, .null, .string, .int, .int, .int, .int, .int, .int, .int])
        #expect(try types("[1.5, 1e3, -.inf, .NaN, .5, 1:30.5, eth0, '12', \"true\", !!str 12, !!int '7']")
            == [.float, .float, .float, .float, .float, .float, .string, .string, .string, .string, .int])
        let root = try #require(try YAML.compose("[0x1F, 017, 1:30, 1_000, -12, 9223372036854775808, 2.5e-3, .inf]"))
        guard case .sequence(let items) = root.content else { Issue.record("not a list"); return }
        #expect(items.map(\.int) == [31, 15, 90, 1000, -12, nil, nil, nil])
        #expect(items[6].float == 0.0025 && items[7].float == .infinity)
    }

    @Test("lines are 1-based; mappings keep their order")
    func linesAndOrder() throws {
        let root = try #require(try YAML.compose("# comment\nb: 1\na:\n  - x\n"))
        guard case .mapping(let pairs) = root.content else { Issue.record("not a mapping"); return }
        #expect(pairs.map { $0.key.scalarText } == ["b", "a"])
        #expect(pairs.map(\.key.line) == [2, 3])
        #expect(pairs[1].value.line == 4)
        #expect(try YAML.compose("") == nil && YAML.compose("# only\n") == nil)
    }

    @Test("nesting 5,000 deep, flow and block style: refused at 64 levels, no stack overflow")
    func deepNesting() {
        let flow = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        let block = (0..<5000).map { String(repeating: " ", count: $0) + "- " }.joined(separator: "\n") + "x\n"
        let mapping = (0..<5000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n") + " x\n"
        for text in [flow, "rules: " + flow, block, mapping] {
            #expect(throws: YAMLError.self) { try YAML.compose(text) }
            do {
                _ = try YAML.compose(text)
            } catch {
                #expect(error.message == "nested deeper than 64 levels", "\(error)")
            }
        }
        // 64 levels are fine.
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try YAML.compose(ok) }
    }

    @Test("an alias bomb (billion laughs, 512 bytes) is refused by the node bound, not expanded")
    func aliasBomb() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            lines.append("a\(level): &a\(level) [\(refs)]")
        }
        let text = lines.joined(separator: "\n") + "\n"
        #expect(text.utf8.count < 1024)
        do {
            _ = try YAML.compose(text)
            Issue.record("accepted")
        } catch {
            #expect(error.message == "more than 100000 nodes (aliases included)", "\(error)")
        }
        // A few aliases are fine and expand to copies.
        let small = try? YAML.compose("a: &x [1, 2]\nb: *x\n")
        guard case .mapping(let pairs)? = small?.content, case .sequence(let copy) = pairs[1].value.content else {
            Issue.record("no copy")
            return
        }
        #expect(copy.compactMap(\.int) == [1, 2])
    }

    @Test("an unknown alias, two documents, broken syntax: errors with the line")
    func errors() {
        #expect(throws: YAMLError(message: "unknown alias *nope", line: 1)) { try YAML.compose("a: *nope\n") }
        #expect(throws: YAMLError(message: "more than one document", line: 2)) { try YAML.compose("a: 1\n---\nb: 2\n") }
        #expect(throws: YAMLError.self) { try YAML.compose("a: [1, 2\n") }
    }

    @Test("rules files refuse the deep and the bomb with one clean error (config files: ConfigFileTests)")
    func loadersRefuse() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: RulesFileError.self) { try RulesFile.parse("rules: " + deep, format: .yaml, source: "r.yaml") }
        do {
            _ = try RulesFile.parse("rules: " + deep, format: .yaml, source: "r.yaml")
        } catch {
            #expect(error.description == "r.yaml: not YAML: line 1: nested deeper than 64 levels")
        }
    }
}
