import Testing

@testable import SensorCore

@Suite("Echoed text")
struct EchoTests {
    @Test("control characters become visible escapes; printable text, backslashes and UTF-8 stay")
    func escapes() {
        #expect(Echo.escaped("a\nb\rc\td\u{1b}[31m\u{0}\u{7f}\u{85}\u{2028}") == "a\\nb\\rc\\td\\u{1b}[31m\\u{0}\\u{7f}\\u{85}\\u{2028}")
        #expect(Echo.escaped("eth0 \\ größe ✓") == "eth0 \\ größe ✓")
        // Escaping twice is escaping once.
        let once = Echo.escaped("x\ny\u{1b}")
        #expect(Echo.escaped(once) == once)
    }

    @Test("long text is cut at the limit, saying how many bytes were left out")
    func truncates() {
        #expect(Echo.escaped(String(repeating: "k", count: 10_000_000), limit: 5) == "kkkkk…(9999995 more bytes)")
        #expect(Echo.escaped("ééé", limit: 1) == "é…(4 more bytes)")
        #expect(Echo.escaped("abc", limit: 3) == "abc")
    }
}
