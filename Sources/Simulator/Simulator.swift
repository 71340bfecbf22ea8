import Crypto
import Foundation
import Synchronization

/// The local stand-in for Entra ID, Microsoft Graph, each customer's 3CX PBX and a Cloudflare-shaped DNS
/// API: a world of tenants behind a real HTTP server on loopback. Start it in-process (tests) or with
/// `onboarder-sim`.
///
/// Made of services, one per surface — the token endpoint (`EntraTokenService`), Graph's applications,
/// service principals and directory (behind one `GraphSurface`), Graph beta's reports (another), the PBX
/// (which signs in through the token service and reads Graph in process), DNS and `/_sim/` — each behind
/// its `(method, path pattern)` routes; the router picks the surface by path; fault injection and the
/// journal wrap the surfaces that have them. This type only builds them and is the public handle on them.
public final class Simulator: Sendable {
    public let world: World
    private let directory: DirectoryStore
    private let faultController = FaultController()
    private let counter = RequestCounter()
    private let dns: DNSService
    private let router: Router
    private let server: Mutex<SimHTTPServer?> = Mutex(nil)
    private let servingScheme = ServingScheme()

    /// `journal`: a file to write every request and response to, as JSON lines (secrets redacted).
    public init(world: World, journal: String? = nil) throws {
        self.world = world
        let directory = DirectoryStore(world: world)
        self.directory = directory
        let journal = try Journal(path: journal)
        let (faults, counter) = (faultController, self.counter)
        let dns = DNSService(faults: faults, counter: counter)
        let scheme = servingScheme
        let tokens = try EntraTokenService(
            directory: directory, faults: faults, counter: counter, scheme: { scheme.current })
        let graph = GraphSurface(
            directory: directory, tokens: tokens, counter: counter, scheme: { scheme.current },
            routes: GraphApplicationsService(faults: faults).routes + ServicePrincipalsService(faults: faults).routes
                + DirectoryService(dns: dns).routes + DeletionsService().routes + GDAPService().routes)
        let beta = GraphSurface(
            directory: directory, tokens: tokens, counter: counter, scheme: { scheme.current },
            routes: ReportsService().routes)
        let pbx = PBXService(
            directory: directory, faults: faults, counter: counter, tokens: tokens, graph: graph,
            scheme: { scheme.current })
        let admin = AdminService(directory: directory, pbx: pbx, faults: faults, counter: counter)
        let partnerCenterState = PartnerCenterState()
        let partnerCenterTokens = try PartnerCenterTokens(directory: directory, state: partnerCenterState)
        let partnerCenter = PartnerCenterService(
            directory: directory, tokens: partnerCenterTokens, state: partnerCenterState, appOnlyTokens: tokens,
            counter: counter)
        self.dns = dns
        func plain(_ handle: @escaping @Sendable (SimRequest) -> SimResponse) -> Endpoint {
            { Handled(response: handle($0)) }
        }
        router = Router(
            mounts: [
                Mount(prefix: PathPattern("/_sim/partnercenter"), endpoint: plain(partnerCenter.handleAdmin)),
                Mount(prefix: PathPattern("/_sim"), endpoint: plain(admin.handle)),
                // Partner Center's consent API (api.partnercenter.microsoft.com/v1/…).
                Mount(prefix: PathPattern("/v1"), endpoint: journal.wrap(plain(partnerCenter.handle))),
                Mount(prefix: PathPattern("/client/v4"), endpoint: plain(dns.handle)),
                Mount(prefix: PathPattern("/pbx"), endpoint: journal.wrap(plain(pbx.handle))),
                Mount(
                    prefix: PathPattern("/v1.0"),
                    endpoint: journal.wrap(
                        GraphResponseHeaders().wrap(
                            FaultInjection(profile: .graph, faults: faults, counter: counter).wrap(
                                plain { graph.handle($0) })))),
                Mount(
                    prefix: PathPattern("/beta"),
                    endpoint: journal.wrap(
                        GraphResponseHeaders().wrap(
                            FaultInjection(profile: .graph, faults: faults, counter: counter).wrap(
                                plain { beta.handle($0) })))),
                Mount(
                    prefix: PathPattern("/{tenant}/oauth2"),
                    endpoint: journal.wrap(
                        FaultInjection(profile: .token, faults: faults, counter: counter).wrap(
                            plain { request in
                                // The refresh-token grant (Partner Center's app+user tokens) is modelled beside
                                // Partner Center; client credentials are the token service's.
                                guard PartnerCenterTokens.isRefreshGrant(request),
                                    let tenant = request.path.split(separator: "/").first
                                else { return tokens.handle(request) }
                                return partnerCenterTokens.grant(request, tenantKey: String(tenant))
                            }))),
                // OpenID Connect discovery: the metadata document and the signing keys.
                Mount(prefix: PathPattern("/{tenant}/v2.0/.well-known"), endpoint: journal.wrap(plain(tokens.handle))),
                Mount(prefix: PathPattern("/{tenant}/discovery"), endpoint: journal.wrap(plain(tokens.handle))),
            ],
            unknown: plain(SimResponse.unknownEndpoint))
    }

    /// Serves on 127.0.0.1:`port` (0: any free port), over HTTPS when `tls` is given; returns the base URL
    /// (`https://localhost:…` with TLS, so the certificate's name matches).
    public func start(port: UInt16 = 0, tls: TLSServerContext? = nil) throws -> String {
        let router = router
        let server = try SimHTTPServer(port: port, tls: tls) { request in
            let handled = router.handle(request)
            return handled.dropped ? .drop : .respond(handled.response, delay: handled.delay)
        }
        self.server.withLock { $0 = server }
        servingScheme.set(tls: tls != nil)
        return tls == nil ? "http://127.0.0.1:\(server.port)" : "https://localhost:\(server.port)"
    }

    public func stop() async {
        let server = self.server.withLock { server in
            defer { server = nil }
            return server
        }
        await server?.stop()
    }

    /// Replaces the fault settings (and reseeds their generator).
    public func setFaults(_ faults: Faults) { faultController.set(faults) }

    public var faults: Faults { faultController.faults }

    /// Requests served per endpoint (`POST token`, …).
    public var requestCounts: [String: Int] { counter.snapshot }

    /// Replaces the DNS account's settings (records stay).
    public func setDNSAccount(_ account: SimDNSAccount) { dns.setAccount(account) }

    /// Domain verification also looks TXT records up with `lookup` (a real DNS server), as Microsoft does.
    public func setDNSLookup(_ lookup: @escaping @Sendable (String) -> [String]) { dns.setLookup(lookup) }

    /// The TXT values the simulated DNS provider holds for `name` (published and propagated).
    public func txtRecords(_ name: String) -> [String] { dns.txtRecords(name) }

    /// Uploads a certificate to the partner app (what an MSP does once in its own tenant).
    public func addPartnerCertificate(_ certificate: Certificate) throws {
        let key = KeyCredential(
            keyID: UUID(), displayName: certificate.commonName ?? "certificate", certificate: certificate,
            sha1Thumbprint: try certificate.sha1Thumbprint, sha256Thumbprint: try certificate.sha256Thumbprint)
        directory.withWorld { world in world.partnerApp.keys.append(key) }
    }

    /// Runs `body` with the directory (tenants and everything in them) locked.
    public func withWorld<T>(_ body: (World) -> T) -> T { directory.withWorld(body) }
}
