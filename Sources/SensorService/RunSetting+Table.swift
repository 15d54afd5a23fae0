extension RunSetting {
    /// The README's settings table (Markdown), made from the declarations; a test holds the README
    /// to it.
    public static var markdownTable: String {
        var lines = ["| key | flag | type | default | on reload |", "|---|---|---|---|---|"]
        for setting in all {
            let shownDefault = setting.defaultIsValue ? "`\(setting.defaultDescription)`" : setting.defaultDescription
            let reload = setting.isReloadable ? "**at once**" : "restart"
            let cells = ["`\(setting.key)`", setting.flagUsage, setting.valueDescription, shownDefault, reload]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
