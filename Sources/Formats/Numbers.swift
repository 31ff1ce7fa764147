import Foundation

// How numbers are written for people, everywhere in the project: one home, so that a table, a
// chart and a log line agree.

/// 19822 → "19,822".
public func grouped(_ value: Int) -> String {
    let digits = String(abs(value))
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
        out.append(character)
    }
    return (value < 0 ? "-" : "") + out
}

/// A number with a fixed count of decimals, without Foundation's locale.
public func formatted(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite, abs(value) < 1e15, (0...9).contains(decimals) else { return String(value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let whole = Int(rounded / scale)
    var text = (value < 0 && rounded > 0 ? "-" : "") + String(whole)
    if decimals > 0 {
        let fraction = Int(rounded - Double(whole) * scale)
        let digits = String(fraction)
        text += "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
    return text
}

/// A number with ten significant digits, no exponent for ordinary sizes (the worked explanation of
/// Part 1 and its tables).
public func number(_ x: Double) -> String {
    if x == 0 { return "0" }
    if abs(x) >= 1e-4 && abs(x) < 1e6 {
        var text = String(format: "%.10g", x)
        if text.contains("e") { text = String(format: "%.10f", x) }
        return text
    }
    return String(format: "%.10g", x)
}
