import ArgumentParser
import Crypto
import Foundation
import PBX
import Simulator

/// `onboarder-sim`: the local stand-in for Entra ID, Microsoft Graph, the customers' 3CX PBXs and a DNS
/// provider's API, for the demo, the tests and the benchmarks. Nothing here reaches Microsoft.
@main
struct OnboarderSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboarder-sim",
        abstract: "Serve a simulated Microsoft cloud (Entra ID tokens, Graph applications and consent) on loopback.")

    @Option(help: "Port on 127.0.0.1 (0: any free port).")
    var port: UInt16 = 8400

    @Option(help: "Customer tenants to generate.")
    var tenants: Int = 100

    @Option(help: "A world file (JSON; see WorldDescription in the README) instead of --tenants/--seed.")
    var world: String?

    @Option(help: "Seed: the same seed gives the same world.")
    var seed: UInt64 = 1

    @Option(
        help:
            "Write the partner app's tenant, client id and secret here (JSON, mode 0600), for onboarder's configuration."
    )
    var credentials: String?

    @Option(
        help: """
            Write only the PBXs' XAPI secrets here ({"pbx": {name: {"client_secret": …}}}, mode 0600): the file \
            enqueue rows name with json: references. Kept apart from --credentials, which holds the partner \
            app's secret that no enqueue row may reach.
            """)
    var pbxSecrets: String?

    @Option(help: "Append every request and response here as JSON lines (secrets redacted).")
    var journal: String?

    @Option(help: "Fault settings (the JSON of GET /_sim/faults); change them later with PUT /_sim/faults.")
    var faults: String?

    @Option(
        help: """
            Domain verification also looks TXT records up at this DNS server (host:port), as Microsoft looks in \
            public DNS: for records published by RFC 2136 or by hand rather than through the simulated Cloudflare API.
            """)
    var dnsServer: String?

    @Option(help: "Serve HTTPS with this PEM certificate (needs --tls-key).")
    var tlsCert: String?

    @Option(help: "The certificate's PEM private key.")
    var tlsKey: String?

    @Option(
        help: """
            Upload this PEM certificate to the partner app at start (what an MSP does once in its own tenant), so \
            clients can sign in with it; repeatable.
            """)
    var partnerCertificate: [String] = []

    func run() async throws {
        let description: WorldDescription
        if let world {
            do { description = try WorldDescription.load(world) } catch { throw ValidationError("\(error)") }
        } else {
            description = WorldDescription.generated(customers: tenants, seed: seed)
        }
        let world = try World(description)
        let simulator = try Simulator(world: world, journal: journal)
        if let faults {
            guard let data = FileManager.default.contents(atPath: faults) else {
                throw ValidationError("cannot read the faults file \(faults)")
            }
            do {
                simulator.setFaults(try JSONDecoder().decode(Faults.self, from: data))
            } catch {
                throw ValidationError("\(faults): not a faults document: \(error)")
            }
        }
        if let dnsServer {
            let resolver: DNSResolver
            do { resolver = DNSResolver(servers: [try DNSServer(parsing: dnsServer)]) } catch {
                throw ValidationError("--dns-server: \(error)")
            }
            simulator.setDNSLookup { name in (try? resolver.txtNow(name, zone: name)) ?? [] }
        }
        var tls: TLSServerContext?
        if let tlsCert, let tlsKey {
            do {
                tls = try TLSServerContext(
                    certificate: Certificate(pem: String(contentsOfFile: tlsCert, encoding: .utf8)),
                    key: PrivateKey(pem: String(contentsOfFile: tlsKey, encoding: .utf8)))
            } catch {
                throw ValidationError("cannot use \(tlsCert) / \(tlsKey) for HTTPS: \(error)")
            }
        } else if tlsCert != nil || tlsKey != nil {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        for path in partnerCertificate {
            do {
                try simulator.addPartnerCertificate(Certificate(pem: String(contentsOfFile: path, encoding: .utf8)))
            } catch {
                throw ValidationError("--partner-certificate \(path): not a PEM certificate: \(error)")
            }
        }
        let base = try simulator.start(port: port, tls: tls)
        if let credentials {
            var document: [String: Any] = [
                "login_base_url": base, "partner_tenant_id": world.partnerTenant.id.uuidString.lowercased(),
                "partner_client_id": world.partnerApp.appID.uuidString.lowercased(),
                "partner_client_secret": world.partnerSecret,
                "partners": world.partners.map { partner in
                    [
                        "msp": partner.msp, "cloud": partner.cloud,
                        "tenant_id": partner.tenant.id.uuidString.lowercased(),
                        "client_id": partner.app.appID.uuidString.lowercased(), "client_secret": partner.secret,
                    ]
                },
            ]
            document["pbx"] = Dictionary(
                uniqueKeysWithValues: world.pbxes.values.map { pbx in
                    (
                        pbx.name,
                        [
                            "url": "\(base)/pbx/\(pbx.name)", "client_id": pbx.clientID,
                            "client_secret": pbx.clientSecret,
                        ]
                    )
                })
            let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
            let owned: [FileAttributeKey: Any] = [.posixPermissions: 0o600]
            guard FileManager.default.createFile(atPath: credentials, contents: data, attributes: owned)
            else { throw ValidationError("--credentials \(credentials): cannot be written") }
        }
        if let pbxSecrets {
            let document = [
                "pbx": Dictionary(
                    uniqueKeysWithValues: world.pbxes.values.map { ($0.name, ["client_secret": $0.clientSecret]) })
            ]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            let owned: [FileAttributeKey: Any] = [.posixPermissions: 0o600]
            guard FileManager.default.createFile(atPath: pbxSecrets, contents: data, attributes: owned)
            else { throw ValidationError("--pbx-secrets \(pbxSecrets): cannot be written") }
        }
        FileHandle.standardOutput.write(
            Data(
                "onboarder-sim: \(world.customers.count) customer tenants on \(base) (seed \(description.seed))\n".utf8)
        )
        // Serves until SIGTERM/SIGINT end the process.
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
