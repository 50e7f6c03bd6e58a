/// Normalisation of the number a caller dialled (PROTOCOL.md section 3).
public enum DialledNumber {
    public static let maxDigits = 20

    public enum Failure: Error, Equatable, Sendable {
        case empty
        case notDigits(Character)
        case tooLong
    }

    /// What a number may be written with between its digits, and normalising drops.
    static func isSeparator(_ ch: Character) -> Bool {
        ch == " " || ch == "-" || ch == "." || ch == "(" || ch == ")" || ch == "\t"
    }

    /// Relay UK's prefix for a text relay call to an ordinary number (18001, then the number
    /// in any form) dropped, so that the number routes (issue 18); 18000, the emergency relay
    /// number, and 18001 alone are left as they are.
    public static func droppingRelayPrefix(_ raw: String) -> String {
        let compact = raw.filter { !isSeparator($0) }
        return compact.hasPrefix("18001") && compact.count > 5 ? String(compact.dropFirst(5)) : raw
    }

    /// Drops spaces, `-`, `.`, `(` and `)`, and turns a leading `+44` or `0044` into `0`:
    /// `+44 800 789 321` → `0800789321`. The common UK form `+44 (0)800 789 321` is read as
    /// the person meant it (the bracketed trunk 0 is not dialled after +44), not as `00800…`.
    public static func normalise(_ raw: String) throws(Failure) -> String {
        var raw = raw
        for prefix in ["+44(0)", "0044(0)"] {
            let compact = raw.filter { $0 != " " }
            if compact.hasPrefix(prefix) { raw = "0" + compact.dropFirst(prefix.count) }
        }
        var kept = ""
        kept.reserveCapacity(raw.utf8.count)
        for ch in raw where !isSeparator(ch) { kept.append(ch) }
        if kept.hasPrefix("+44") {
            kept = "0" + kept.dropFirst(3)
        } else if kept.hasPrefix("0044") {
            kept = "0" + kept.dropFirst(4)
        }
        guard !kept.isEmpty else { throw .empty }
        if let bad = kept.first(where: { !("0"..."9").contains($0) || !$0.isASCII }) {
            throw .notDigits(bad)
        }
        guard kept.count <= maxDigits else { throw .tooLong }
        return kept
    }
}
