import Foundation
import Synchronization

/// Every request and response as one JSON line, secrets redacted: the record a schema test or an
/// operator reads back. A middleware: it wraps a surface's endpoint, fault injection included, so an
/// injected error or a lost response (`"status": "dropped"`) is journaled as the client met it.
final class Journal: Sendable {
    private let handle: Mutex<FileHandle?>

    init(path: String?) throws {
        guard let path else {
            handle = Mutex(nil)
            return
        }
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let file = FileHandle(forWritingAtPath: path) else {
            throw SimServerError("cannot write the journal \(path)")
        }
        handle = Mutex(file)
    }

    func wrap(_ next: @escaping Endpoint) -> Endpoint {
        { [self] request in
            let started = Date()
            let handled = next(request)
            record(
                request, status: handled.dropped ? nil : handled.response.status, response: handled.response.body,
                latency: Date().timeIntervalSince(started))
            return handled
        }
    }

    /// Fields whose values never reach the journal.
    static let secretKeys: Set<String> = [
        "secretText", "client_secret", "client_assertion", "access_token", "refresh_token", "password", "clientSecret",
        "SbcPrivateKey",
    ]

    func record(_ request: SimRequest, status: Int?, response: [UInt8], latency: TimeInterval) {
        handle.withLock { file in
            guard let file else { return }
            var line: [String: Any] = [
                "ts": Timestamp.string(Date()), "method": request.method, "path": request.path,
                "query": request.query, "status": status.map { $0 as Any } ?? "dropped",
                "latency_ms": Int(latency * 1000),
                "request_body": Self.redact(
                    request.body, form: request.headers["content-type"]?.contains("form") == true),
                "response_body": Self.redact(response, form: false),
            ]
            if let id = request.headers["client-request-id"] { line["client_request_id"] = id }
            guard var data = try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) else { return }
            data.append(10)
            file.write(data)
        }
    }

    static func redact(_ body: [UInt8], form: Bool) -> Any {
        if body.isEmpty { return NSNull() }
        if form {
            return String(decoding: body, as: UTF8.self).split(separator: "&").map { pair -> String in
                let name = pair.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                return secretKeys.contains(name) ? "\(name)=<redacted>" : String(pair)
            }.joined(separator: "&")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) else { return "<\(body.count) bytes>" }
        return scrub(json)
    }

    static func scrub(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            var out: [String: Any] = [:]
            for (key, inner) in object {
                out[key] = secretKeys.contains(key) && !(inner is NSNull) ? "<redacted>" : scrub(inner)
            }
            return out
        }
        if let array = value as? [Any] { return array.map(scrub) }
        return value
    }
}
