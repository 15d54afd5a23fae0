import SensorCore
import Testing

@testable import SensorIO

@Suite("Rules files")
struct RulesFileTests {
    func parseError(_ text: String, _ format: RulesFormat) -> String? {
        do {
            _ = try RulesFile.parse(text, format: format, source: "rules.\(format.rawValue)")
            return nil
        } catch {
            return error.description
        }
    }

    @Test("the defaults round-trip through both formats", arguments: RulesFormat.allCases)
    func defaultsRoundTrip(format: RulesFormat) throws {
        let text = RulesFile.render(.defaults, format: format)
        let parsed = try RulesFile.parse(text, format: format, source: "printed")
        #expect(parsed == .defaults)
        // Printing the parsed rules gives the same text.
        #expect(RulesFile.render(parsed, format: format) == text)
    }

    @Test("the printed defaults, YAML")
    func printedYAML() {
        #expect(
            RulesFile.render(.defaults, format: .yaml) == """
                # dps labeling rules: tried in order, the first match wins.
                rules:
                  - label: "bittorrent"
                    match:
                      - payload_prefix_hex: "13426974546f7272656e742070726f746f636f6c"
                      - port_range: [6881, 6889]
                  - label: "ssh_bruteforce"
                    match:
                      protocol: "TCP"
                      any_port: [22]
                      duration_under: 1.0
                  - label: "benign"
                    match:
                      any_port: [80, 443, 53]
                  - label: "malware_c2"
                    match:
                      dst_port_min: 1024
                      min_payload_bytes: 16
                      min_normalized_entropy: 0.9

                """)
    }

    @Test("a hand-written YAML file with plain scalars, a catch-all and a multi-condition rule")
    func handWrittenYAML() throws {
        let text = """
            rules:
              - label: dns_tunnel
                match:
                  protocol: udp
                  any_port: [53]
                  min_payload_bytes: 100
              - label: "quic"
                match: [{protocol: UDP, any_port: [443]}, {port_range: [8443, 8444]}]
              - label: other
                match: {}
            """
        let rules = try RulesFile.parse(text, format: .yaml, source: "mine.yaml")
        #expect(rules.rules.map(\.label) == ["dns_tunnel", "quic", "other"])
        #expect(rules.rules[0].alternatives == [RuleConditions(transport: .udp, anyPort: [53], minPayloadBytes: 100)])
        #expect(rules.rules[1].alternatives.count == 2)
        #expect(rules.rules[1].alternatives[1].portRange == 8443...8444)
        #expect(rules.rules[2].alternatives == [RuleConditions()])
        // And back: the printed form parses to the same rules in both formats.
        for format in RulesFormat.allCases {
            #expect(try RulesFile.parse(RulesFile.render(rules, format: format), format: format, source: "x") == rules)
        }
    }

    @Test("JSON, and the format from the name or the content")
    func jsonAndDetection() throws {
        let text = #"{"rules": [{"label": "web", "match": {"any_port": [80, 8080], "duration_under": 2}}]}"#
        let rules = try RulesFile.parse(text, format: .json, source: "r.json")
        #expect(rules.rules == [LabelRule(label: "web", match: RuleConditions(anyPort: [80, 8080], durationUnder: 2))])
        #expect(RulesFile.format(path: "r.json", text: "rules: []") == .json)
        #expect(RulesFile.format(path: "r.YML", text: "{}") == .yaml)
        #expect(RulesFile.format(path: "rules", text: "  \n{\"rules\": []}") == .json)
        #expect(RulesFile.format(path: "rules", text: "rules:\n") == .yaml)
        let file = try LabelTestFile(text, name: "custom-rules")
        let loaded = try RulesFile.load(path: file.path)
        #expect(loaded.rules == rules && loaded.format == .json)
    }

    @Test(
        "errors name the rule (number and label) and the field",
        arguments: [
            (#"{"rules": [{"label": "a", "match": {"any_port": [80]}}, {"label": "b", "match": {"any_port": [70000]}}]}"#,
             "rules.json: rule 2 (b): field \"match.any_port\": expected ports 0–65535, got 70000"),
            (#"{"rules": [{"label": "a", "match": {"duration_under": "1s"}}]}"#,
             "rules.json: rule 1 (a): field \"match.duration_under\": expected a number of seconds >= 0, got \"1s\""),
            (#"{"rules": [{"label": "a", "match": {"min_normalized_entropy": 1.5}}]}"#,
             "rules.json: rule 1 (a): field \"match.min_normalized_entropy\": expected a number from 0 to 1, got 1.5"),
            (#"{"rules": [{"label": "a", "match": [{"any_port": [1]}, {"port_range": [9, 3]}]}]}"#,
             "rules.json: rule 1 (a): field \"match[1].port_range\": low 9 is above high 3"),
            (#"{"rules": [{"label": "a", "match": {"payload_prefix_hex": "13x"}}]}"#,
             "rules.json: rule 1 (a): field \"match.payload_prefix_hex\": expected a non-empty string of hex byte pairs, got \"13x\""),
            (#"{"rules": [{"label": "a", "match": {"protocol": "SCTP"}}]}"#,
             "rules.json: rule 1 (a): field \"match.protocol\": expected \"TCP\", \"UDP\" or \"OTHER\", got \"SCTP\""),
            (#"{"rules": [{"label": "a", "match": {"dst_port": 80}}]}"#,
             "rules.json: rule 1 (a): field \"match.dst_port\": unknown condition"),
            (#"{"rules": [{"label": "a", "match": {}, "weight": 3}]}"#,
             "rules.json: rule 1 (a): field \"weight\": unknown field"),
            (#"{"rules": [{"match": {}}]}"#, "rules.json: rule 1: field \"label\": missing"),
            (#"{"rules": [{"label": "", "match": {}}]}"#, "rules.json: rule 1: field \"label\": expected a non-empty string"),
            (#"{"rules": [{"label": "a"}]}"#, "rules.json: rule 1 (a): field \"match\": missing"),
            (#"{"rules": [{"label": "a", "match": []}]}"#, "rules.json: rule 1 (a): field \"match\": an empty list matches nothing"),
            (#"{"rules": []}"#, "rules.json: the rules list is empty"),
            (#"{"rulez": []}"#, "rules.json: unknown top-level key \"rulez\""),
            (#"{"rules": [}"#, "rules.json: not JSON"),
        ])
    func jsonErrors(text: String, expected: String) {
        let message = parseError(text, .json)
        #expect(message?.hasPrefix(expected) == true, "got \(message ?? "no error")")
    }

    @Test("YAML errors name the rule and field too; YAML syntax errors name the file")
    func yamlErrors() {
        let wrongType = """
            rules:
              - label: ok
                match: {any_port: [22]}
              - label: broken
                match:
                  protocol: TCP
                  min_payload_bytes: many
            """
        #expect(
            parseError(wrongType, .yaml)
                == "rules.yaml: rule 2 (broken): field \"match.min_payload_bytes\": expected an integer >= 0, got \"many\"")
        let notYAML = "rules:\n  - label: [unclosed\n"
        #expect(parseError(notYAML, .yaml)?.hasPrefix("rules.yaml: not YAML") == true)
        // A hex prefix that YAML would read as a number must be quoted; unquoted it is an error.
        let unquotedHex = "rules:\n  - label: x\n    match: {payload_prefix_hex: 1342}\n"
        #expect(parseError(unquotedHex, .yaml)?.contains("field \"match.payload_prefix_hex\"") == true)
    }

    @Test("a missing rules file is an error naming it")
    func missingFile() {
        #expect(throws: IOError.self) { try RulesFile.load(path: "/nonexistent/rules.yaml") }
    }
}
