import Foundation
import HTTP
import Testing

/// The PBX's technician, as the tests play it: through the simulator's technician endpoints (what a person
/// does on the PBX's Microsoft 365 page) and Onboarder's own commands (what they are given and what they
/// tell it). `PipelineLab.waitFor` plays it for every job waiting at the hand-over unless parts are off.
struct Technician: Sendable {
    /// Enter the client secret the hand-over sheet shows (`onboarder handover sheet --again`) in the PBX.
    var pasteSecret = true
    /// Generate the PBX's key pair and give its certificate to Onboarder (`onboarder cert add`).
    var certificate = true
    /// "Log into Microsoft 365" on the PBX.
    var signIn = true
    /// Tell Onboarder the part is done (`onboarder handover done`).
    var wake = true

    static let everything = Technician()
    static let absent = Technician(pasteSecret: false, certificate: false, signIn: false, wake: false)
}

extension PipelineLab {
    /// The simulated PBX's Microsoft 365 state (`GET /_sim/pbx/{pbx}`): never the secret or the key.
    func pbxState(_ domain: String) async throws -> [String: Any] {
        let response = try await http.execute(HTTPRequest(url: "\(base)/_sim/pbx/\(pbxName(domain))"))
        #expect(response.status == 200, "GET /_sim/pbx: \(response.status)")
        return (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    /// "Generate New Key Pair" on the PBX: its certificate, as the PBX downloads it (PEM).
    func generatePBXKeyPair(_ domain: String) async throws -> String {
        let response = try await http.execute(
            HTTPRequest(method: "POST", url: "\(base)/_sim/pbx/\(pbxName(domain))/m365/keypair"))
        #expect(response.status == 200, "keypair: \(response.status)")
        let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return body?["certificate_pem"] as? String ?? ""
    }

    /// The PBX's current certificate (after an earlier key pair), or nil.
    func pbxCertificate(_ domain: String) async throws -> String? {
        let response = try await http.execute(
            HTTPRequest(url: "\(base)/_sim/pbx/\(pbxName(domain))/m365/certificate"))
        return response.status == 200 ? String(decoding: response.body, as: UTF8.self) : nil
    }

    /// Pastes `secret` into the PBX's Client Secret field.
    func pasteSecret(_ domain: String, _ secret: String) async throws {
        let response = try await http.execute(
            HTTPRequest(method: "PUT", url: "\(base)/_sim/pbx/\(pbxName(domain))/m365/secret", body: Array(secret.utf8))
        )
        #expect(response.status == 204, "paste secret: \(response.status)")
        if response.status == 204 { pastedSecrets.withLock { $0[domain] = secret } }
    }

    /// The secret last entered in `domain`'s PBX (by a test or by the technician at a hand-over): what the
    /// PBX signs in with (the simulator never shows it).
    func secretInPBX(_ domain: String) -> String? { pastedSecrets.withLock { $0[domain] } }

    /// "Log into Microsoft 365" on the PBX; the error text when Entra refused it.
    @discardableResult
    func signInPBX(_ domain: String) async throws -> String? {
        let response = try await http.execute(
            HTTPRequest(method: "POST", url: "\(base)/_sim/pbx/\(pbxName(domain))/m365/signin"))
        return response.status == 204 ? nil : String(decoding: response.body, as: UTF8.self)
    }

    /// The customer's current client secret, shown again for the technician (recorded as an export).
    func showSecret(_ domain: String) async throws -> String {
        let result = try await onboarder(["secret", "export", domain, "--again"])
        #expect(result.status == 0, "secret export: \(result.output)")
        return result.output.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// The hand-over sheet (`onboarder handover sheet --format json --again`, run as the service login like the
    /// workers): what the technicians are given, by customer (its directory id). Each run is audited.
    func handoverSheet() async throws -> [String: [String: Any]] {
        let result = try await onboarder(
            ["handover", "sheet", "--format", "json", "--again", "--log-level", "error"], as: .worker)
        #expect(result.status == 0, "handover sheet: \(result.output)")
        // The array's lines: "[" … "]" (or "[]"), apart from anything the command wrote to standard error.
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let json: String
        if let start = lines.firstIndex(of: "["), let end = lines[start...].firstIndex(of: "]") {
            json = lines[start...end].joined(separator: "\n")
        } else {
            json = "[]"
        }
        let sheet = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] ?? []
        return Dictionary(
            sheet.compactMap { line in (line["tenant_id"] as? String).map { ($0.lowercased(), line) } }
        ) { first, _ in first }
    }

    /// Gives Onboarder the PBX's certificate (`onboarder cert add DOMAIN FILE`), as the technician downloaded it.
    func addPBXCertificate(_ domain: String, pem: String) async throws {
        let file = directory.appendingPathComponent("\(domain)-\(UUID().uuidString.prefix(6)).pem").path
        FileManager.default.createFile(atPath: file, contents: Data(pem.utf8))
        let added = try await onboarder(["cert", "add", domain, file])
        #expect(added.status == 0, "cert add: \(added.output)")
    }

    /// The domain of the customer whose tenant key (its tenant id) is `key`.
    func domain(ofKey key: String) -> String? {
        simulator.world.customers.first { $0.id.uuidString.lowercased() == key.lowercased() }?.defaultDomain
    }

    /// Plays `technician` once for each job waiting at the hand-over (`dashboard.handover_waiting`) that it (with these parts) has not played
    /// yet at that step.
    func playTechnician(_ technician: Technician) async throws {
        let rows = try await pool.query("SELECT job_id, customer, step FROM dashboard.handover_waiting")
        var sheet: [String: [String: Any]]?  // read once a pass, when a secret is to be pasted
        for row in rows {
            let (job, key, step) = try row.decode((Int64, String, String?).self)
            guard let step, let domain = domain(ofKey: key),
                playedHandovers.insert("\(job) \(step) \(technician)").inserted
            else { continue }
            if technician.pasteSecret, sheet == nil { sheet = try await handoverSheet() }
            let line = sheet?[tenant(domain).id.uuidString.lowercased()]
            if !(try await handOver(domain, step: step, technician, line: line)) {
                playedHandovers.remove("\(job) \(step) \(technician)")  // not done: play it again
            }
        }
    }

    /// What the technician does for `domain` when its job waits at `step`: whatever the PBX still lacks, with
    /// the customer's `line` of the hand-over sheet. False when the part is not done: "Log into Microsoft 365"
    /// was refused (the app not visible yet), or the sheet did not list the customer (its job stopped waiting
    /// after it was seen: a wake ran it).
    @discardableResult
    func handOver(
        _ domain: String, step: String, _ technician: Technician = .everything, line: [String: Any]?
    ) async throws -> Bool {
        let rotating = step.hasPrefix("rotate-")
        let state = try await pbxState(domain)
        if technician.pasteSecret, step != "rotate-cert-new" {
            guard let line else { return false }
            let secret = line["secret"] as? String
            #expect(secret != nil, "the hand-over sheet shows no secret for \(domain) waiting at \(step): \(line)")
            if let secret { try await pasteSecret(domain, secret) }
        }
        if technician.certificate {
            if step == "rotate-cert-new" {
                try await addPBXCertificate(domain, pem: try await generatePBXKeyPair(domain))
            } else if state["certificate_on_app"] as? Bool != true, !rotating {
                let pem: String
                if state["certificate_thumbprint"] as? String != nil, let existing = try await pbxCertificate(domain) {
                    pem = existing
                } else {
                    pem = try await generatePBXKeyPair(domain)
                }
                try await addPBXCertificate(domain, pem: pem)
            }
        }
        if technician.signIn, state["signed_in"] as? Bool != true, try await signInPBX(domain) != nil {
            return false
        }
        if technician.wake { _ = try await onboarder(["handover", "done", domain], as: .operator) }
        return true
    }
}
