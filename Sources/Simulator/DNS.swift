import Foundation
import Synchronization

/// A DNS provider's REST API (shaped like Cloudflare's v4 records API), which domain verification reads.
///
///     POST   /dns/v1/zones/{zone}/records        {"type": "TXT", "name": "contoso.com", "content": "MS=ms12345678"}
///     GET    /dns/v1/zones/{zone}/records?name=…
///     DELETE /dns/v1/zones/{zone}/records/{id}
///
/// Any bearer token is accepted. Records become visible to `POST /domains/{id}/verify` after the fault
/// setting `dns_propagation_ms`.
struct DNSRecord: Sendable {
    let id: String
    let zone: String
    let name: String
    let content: String
    let added: Date
}

extension Simulator {
    func dns(_ request: SimRequest) -> SimResponse {
        guard request.headers["authorization"]?.hasPrefix("Bearer ") == true else {
            return .json(401, #"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#)
        }
        let segments = request.path.split(separator: "/").map(String.init)  // dns v1 zones {zone} records [id]
        guard segments.count >= 5, segments[2] == "zones", segments[4] == "records" else {
            return .json(
                404, #"{"success":false,"errors":[{"code":7003,"message":"Could not route to \#(request.path)"}]}"#)
        }
        let zone = segments[3].lowercased()
        count("\(request.method) dns records")
        switch (request.method, segments.count) {
        case ("POST", 5):
            guard let body = JSONValue.parse(request.body), body["type"]?.string?.uppercased() == "TXT",
                let name = body["name"]?.string?.lowercased(), let content = body["content"]?.string,
                name == zone || name.hasSuffix("." + zone)
            else {
                return .json(
                    400,
                    #"{"success":false,"errors":[{"code":9000,"message":"TXT records need a name inside the zone and content"}]}"#
                )
            }
            let record = DNSRecord(
                id: UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(), zone: zone, name: name,
                content: content, added: Date())
            dnsRecords.withLock { $0.append(record) }
            return .json(201, JSONValue.object(["success": .bool(true), "result": recordJSON(record)]).text)
        case ("GET", 5):
            let name = request.query["name"]?.lowercased()
            let records = dnsRecords.withLock { $0.filter { $0.zone == zone && (name == nil || $0.name == name) } }
            return .json(
                200, JSONValue.object(["success": .bool(true), "result": .array(records.map(recordJSON))]).text)
        case ("DELETE", 6):
            let id = segments[5]
            let removed = dnsRecords.withLock { records -> Bool in
                let before = records.count
                records.removeAll { $0.id == id && $0.zone == zone }
                return records.count < before
            }
            return removed
                ? .json(200, #"{"success":true,"result":{"id":"\#(id)"}}"#)
                : .json(404, #"{"success":false,"errors":[{"code":81044,"message":"Record not found"}]}"#)
        default:
            return .json(405, #"{"success":false,"errors":[{"code":10405,"message":"Method not allowed"}]}"#)
        }
    }

    /// The TXT values published for `name` that have propagated.
    func txtRecords(_ name: String) -> [String] {
        let delay = faultState.withLock { TimeInterval($0.faults.dnsPropagationMs) / 1000 }
        let now = Date()
        return dnsRecords.withLock { records in
            records.filter { $0.name == name.lowercased() && now.timeIntervalSince($0.added) >= delay }.map(\.content)
        }
    }

    func recordJSON(_ record: DNSRecord) -> JSONValue {
        .object([
            "id": .string(record.id), "type": .string("TXT"), "name": .string(record.name),
            "content": .string(record.content),
            "ttl": .number(300),
        ])
    }
}
