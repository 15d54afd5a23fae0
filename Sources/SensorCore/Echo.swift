/// The one place where text from outside (a file, a line, a flag) is made fit to echo in a log
/// line or an error: control characters (newline, ESC, NUL, C1, DEL) become visible escapes, so
/// one crafted value cannot forge log lines or move a terminal's cursor, and long values are
/// truncated, so a 10 MB key is not repeated in full. Escaping twice changes nothing (a backslash
/// stays as it is), so a value escaped where it is quoted and again where the line is written
/// reads the same.
public enum Echo {
    public static func escaped(_ text: some StringProtocol, limit: Int = 120) -> String {
        var result = ""
        var count = 0
        var consumed = 0
        for scalar in text.unicodeScalars {
            if count == limit { return result + "…(\(text.utf8.count - consumed) more bytes)" }
            count += 1
            consumed += UTF8.width(scalar)
            switch scalar.value {
            case 0x0A: result += "\\n"
            case 0x0D: result += "\\r"
            case 0x09: result += "\\t"
            case 0x00..<0x20, 0x7F..<0xA0, 0x2028, 0x2029:
                let hex = String(scalar.value, radix: 16)
                result += "\\u{" + hex + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
