import Foundation

/// Where in a JSON document a decoder was: "series[0].name" ("" at the top).
public func jsonPath(_ keys: [any CodingKey]) -> String {
    let parts: [String] = keys.map { key in key.intValue.map { "[\($0)]" } ?? "." + key.stringValue }
    return String(parts.joined().drop { $0 == "." })
}

/// What was wrong with JSON that did not decode, on one line: where ("series[0].name") and what.
public func decodingProblem(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "malformed JSON" }
    let path = jsonPath
    switch error {
    case .keyNotFound(let key, let context):
        return "no \(path(context.codingPath + [key]))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return context.codingPath.isEmpty ? "malformed JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "malformed JSON"
    }
}
