import Crypto
import Foundation
import Synchronization

/// What a PBX's admin configures, and its one active XAPI token. Kept by the PBX service, under its lock.
struct PBXSettings: Sendable {
    /// Only one access token is active per client: a new one invalidates the previous.
    var activeToken: String?
    /// As an unconfigured PBX answers (the XAPI schema's `Pbx.Microsoft365Integration`): the two ids are
    /// non-nullable strings, empty until set; `SharedMailboxesSync` is a `Pbx.UsersSyncConfiguration` object.
    var microsoft365: [String: JSONValue] = [
        "Id": .number(1), "ApplicationId": .string(""), "TenantId": .string(""),
        "SharedMailboxesSync": .object([
            "IsEnabled": .bool(false), "SelectedUsers": .array([]), "SyncType": .string("SyncAllUsers"),
        ]),
        "AdUsers": .object([
            "IsEnabled": .bool(false), "SelectedUsers": .array([]), "SelectedGroups": .array([]),
            "StartingExtensionNumber": .string("100"), "SyncType": .string("SyncAllUsers"),
        ]),
    ]
    var teams: [String: JSONValue] = [
        "Id": .number(1), "Enabled": .bool(false), "SbcFQDN": .null, "SipDomain": .null,
        "SecureSipEnabled": .bool(true),
        "IsNativeFQDN": .bool(false), "TlsPortForNonNativeFQDN": .number(5061), "AreaCode": .null,
        "DialPlanCode": .null,
    ]
    /// What the technician gave the Microsoft 365 page beyond the two ids the XAPI takes.
    var custody = PBXCustody()

    /// The two ids as set (empty until set).
    var tenantID: String { microsoft365["TenantId"]?.string ?? "" }
    var applicationID: String { microsoft365["ApplicationId"]?.string ?? "" }
    /// "Log into Microsoft 365" was done for the ids set now.
    var signedIn: Bool {
        custody.signedIn == PBXCustody.SignIn(tenantID: tenantID, applicationID: applicationID)
    }
}

/// A PBX request as a route's handler sees it.
struct PBXCall {
    let service: PBXService
    let request: SimRequest
    let parameters: [String: String]
    let pbx: SimPBX

    subscript(_ name: String) -> String { parameters[name] ?? "" }

    /// The host the PBX was reached at: the simulator, which is also where the PBX reaches Entra and Graph.
    var host: String { request.headers["host"] ?? "localhost" }
}

/// Each customer's 3CX V20 XAPI at `/pbx/{name}` (the shapes of `Tests/Fixtures/3cx/xapi-subset.openapi.json`):
/// the client-credentials token endpoint, the Microsoft 365 and Teams integrations, and the checks that
/// read the customer's tenant (TestSubscription, CheckFqdnRecord). Its settings under its own lock; the
/// directory is read through `DirectoryStore`, never while that lock is held.
final class PBXService: Sendable {
    let world: World
    let directory: DirectoryStore
    let faults: FaultController
    private let counter: RequestCounter
    let settings: Mutex<[String: PBXSettings]>
    /// Where the PBX signs in and reads Graph: the simulator's own token service and Graph, called in
    /// process with the request a PBX would send.
    let tokens: EntraTokenService
    let graph: GraphSurface
    let scheme: @Sendable () -> String
    let keyPairs: KeyPairSupply

    init(
        directory: DirectoryStore, faults: FaultController, counter: RequestCounter, tokens: EntraTokenService,
        graph: GraphSurface, scheme: @escaping @Sendable () -> String
    ) {
        world = directory.world
        self.directory = directory
        self.faults = faults
        self.counter = counter
        self.tokens = tokens
        self.graph = graph
        self.scheme = scheme
        keyPairs = KeyPairSupply()
        // The PBXs are fixed when the world is built; only their settings change.
        settings = Mutex(directory.world.pbxes.mapValues { _ in PBXSettings() })
    }

    static let microsoft365Properties: [String: XAPIProperty] = [
        "ApplicationId": .string(nullable: false), "TenantId": .string(nullable: false),
        "AdUsers": .nullableObject, "SharedMailboxesSync": .nullableObject,
    ]
    static let teamsProperties: [String: XAPIProperty] = [
        "Enabled": .nullableBoolean, "SbcFQDN": .string(nullable: true), "SipDomain": .string(nullable: true),
        "SecureSipEnabled": .nullableBoolean, "IsNativeFQDN": .nullableBoolean, "IsDynamicIP": .nullableBoolean,
        "TlsPortForNativeFQDN": .nullableInteger, "TlsPortForNonNativeFQDN": .nullableInteger,
        "AreaCode": .string(nullable: true), "DialPlanCode": .string(nullable: true),
        "SbcCertificate": .nullableObject, "SbcPrivateKey": .nullableObject,
    ]

    private static let connect = RouteTable<PBXCall>([
        Route("POST", "/pbx/{pbx}/connect/token") { $0.service.token($0) }
    ])

    private static let xapi: RouteTable<PBXCall> = {
        let m365 = "/pbx/{pbx}/xapi/v1/Microsoft365Integration"
        let teams = "/pbx/{pbx}/xapi/v1/Microsoft365TeamsIntegration"
        return RouteTable([
            Route("GET", m365) { call in .json(200, JSONValue.object(call.service.read(call.pbx).microsoft365).text) },
            Route("PATCH", m365) { call in
                call.service.patch(
                    call, allowed: PBXService.microsoft365Properties, type: "Pbx.Microsoft365Integration"
                ) {
                    settings, body in
                    let before = PBXCustody.SignIn(tenantID: settings.tenantID, applicationID: settings.applicationID)
                    for (key, value) in body { settings.microsoft365[key] = value }
                    // New ids are another tenant or app: the sign-in done for the old ones no longer holds.
                    if before != PBXCustody.SignIn(tenantID: settings.tenantID, applicationID: settings.applicationID) {
                        settings.custody.signedIn = nil
                    }
                }
            },
            Route("GET", m365 + "/Pbx.TestSubscription()") { call in
                let problem = call.service.subscriptionProblem(call.pbx, host: call.host)
                let ok = problem == nil
                return .json(
                    200,
                    JSONValue.object([
                        "IsSubscriptionAvailable": .bool(ok), "Fqdn": .string("\(call.pbx.name).pbx.example.com"),
                        "ExceptionMessage": problem.map { .string($0) } ?? .null,
                    ]).text)
            },
            Route("GET", m365 + "/Pbx.GetMicrosoft365Directory()") { call in
                let settings = call.service.read(call.pbx)
                let problem = call.service.subscriptionProblem(call.pbx, host: call.host)
                let ok = problem == nil
                return .json(
                    200,
                    JSONValue.object([
                        "ApplicationId": settings.microsoft365["ApplicationId"] ?? .null, "ProvisionUrl": .null,
                        "ExceptionMessage": ok ? .null : .string(problem ?? "not configured"),
                    ]).text)
            },
            Route("GET", teams) { call in .json(200, JSONValue.object(call.service.read(call.pbx).teams).text) },
            Route("PATCH", teams) { call in
                call.service.patch(call, allowed: PBXService.teamsProperties, type: "Pbx.Microsoft365TeamsIntegration")
                {
                    settings, body in
                    for (key, value) in body where key != "SbcPrivateKey" { settings.teams[key] = value }
                }
            },
            Route("GET", teams + "/Pbx.CheckFqdnRecord(fqdn='{fqdn}')") { call in
                let fqdn = call["fqdn"].replacingOccurrences(of: "''", with: "'")
                let resolves = call.service.directory.withWorld { world in
                    world.tenants[call.pbx.tenantID]?.domains.values.contains {
                        $0.isVerified && (fqdn == $0.name || fqdn.hasSuffix("." + $0.name))
                    } ?? false
                }
                return .json(200, #"{"value":\#(resolves)}"#)
            },
            Route("GET", teams + "/Pbx.GetDialPlanScript()") { call in
                let pbx = call.pbx
                let settings = call.service.read(pbx)
                let fqdn = settings.teams["SbcFQDN"]?.string ?? "sbc.example.com"
                return .json(
                    200,
                    JSONValue.object([
                        "value": .string(
                            "Set-CsOnlinePstnUsage -Identity Global -Usage @{Add=\"\(pbx.name)\"}\nNew-CsOnlineVoiceRoute -Identity \"\(pbx.name)\" -NumberPattern \".*\" -OnlinePstnGatewayList \(fqdn) -OnlinePstnUsages \"\(pbx.name)\"\nNew-CsOnlineVoiceRoutingPolicy \"\(pbx.name)\" -OnlinePstnUsages \"\(pbx.name)\""
                        )
                    ]).text)
            },
            Route("GET", teams + "/Pbx.GetMapUsersScript()") { call in
                let pbx = call.pbx
                let settings = call.service.read(pbx)
                let users = settings.microsoft365["AdUsers"]?["SelectedUsers"]?.array?.compactMap(\.string) ?? []
                let lines = users.enumerated().map { index, upn in
                    "Set-CsPhoneNumberAssignment -Identity \"\(upn)\" -PhoneNumber \"+1555010\(String(format: "%04d", index + 100))\" -PhoneNumberType DirectRouting\nGrant-CsOnlineVoiceRoutingPolicy -Identity \"\(upn)\" -PolicyName \"\(pbx.name)\""
                }
                return .json(200, JSONValue.object(["value": .string(lines.joined(separator: "\n"))]).text)
            },
            Route("GET", "/pbx/{pbx}/xapi/v1/Users") { call in
                let settings = call.service.read(call.pbx)
                let users = settings.microsoft365["AdUsers"]?["SelectedUsers"]?.array?.compactMap(\.string) ?? []
                let start = Int(settings.microsoft365["AdUsers"]?["StartingExtensionNumber"]?.string ?? "100") ?? 100
                return .json(
                    200,
                    JSONValue.object([
                        "value": .array(
                            users.enumerated().map { index, upn in
                                .object([
                                    "Id": .number(Double(index + 1)), "Number": .string(String(start + index)),
                                    "EmailAddress": .string(upn),
                                    "Require2FA": .bool(false),
                                ])
                            })
                    ]).text)
            },
        ])
    }()

    /// `/pbx/{name}/connect/token` and `/pbx/{name}/xapi/v1/…`.
    func handle(_ request: SimRequest) -> SimResponse {
        let segments = request.path.split(separator: "/")
        guard segments.count >= 3, let pbx = world.pbxes[String(segments[1])] else {
            return .json(404, #"{"error":{"code":"NotFound","message":"No such PBX"}}"#)
        }
        counter.count("\(request.method) pbx \(segments[2])")
        if case .found(let route, let parameters) = Self.connect.resolve(request) {
            return route.handle(PBXCall(service: self, request: request, parameters: parameters, pbx: pbx))
        }
        guard segments[2] == "xapi", segments.count >= 5, segments[3] == "v1" else {
            return .json(404, #"{"error":{"code":"NotFound","message":"Unknown XAPI path"}}"#)
        }
        let token = settings.withLock { $0[pbx.name]?.activeToken }
        guard let header = request.headers["authorization"], header == "Bearer \(token ?? "-")" else {
            return SimResponse(status: 401, headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        }
        guard case .found(let route, let parameters) = Self.xapi.resolve(request) else {
            // The XAPI answers an unknown entity, function or method alike.
            let unknown = segments.count > 5 ? segments[5] : segments[4]
            return Self.error(404, "Resource not found for the segment '\(unknown)'.")
        }
        return route.handle(PBXCall(service: self, request: request, parameters: parameters, pbx: pbx))
    }

    /// The XAPI's error body.
    static func error(_ status: Int, _ message: String) -> SimResponse {
        .json(
            status,
            JSONValue.object(["error": .object(["code": .string("\(status)"), "message": .string(message)])]).text)
    }

    func read(_ pbx: SimPBX) -> PBXSettings { settings.withLock { $0[pbx.name] ?? PBXSettings() } }

    /// A PATCH of an integration: every property must be one the entity has, with a value of its kind.
    private func patch(
        _ call: PBXCall, allowed: [String: XAPIProperty], type: String,
        _ apply: (inout PBXSettings, [String: JSONValue]) -> Void
    ) -> SimResponse {
        guard let body = JSONValue.parse(call.request.body)?.object else {
            return Self.error(400, "The request body is not JSON.")
        }
        for key in body.keys.sorted() {
            guard let property = allowed[key] else {
                return Self.error(400, "The property '\(key)' does not exist on type '\(type)'.")
            }
            guard property.admits(body[key]!) else {
                return Self.error(
                    400,
                    "Cannot convert the value of property '\(key)' to \(property.nullable ? "" : "a non-null ")\(property.kind.rawValue)."
                )
            }
        }
        settings.withLock { all in apply(&all[call.pbx.name, default: PBXSettings()], body) }
        return SimResponse(status: 204)
    }

    /// Client credentials; a new token invalidates the previous one.
    private func token(_ call: PBXCall) -> SimResponse {
        let form = FormBody.parse(call.request.bodyText)
        guard form["grant_type"] == "client_credentials" else {
            return .json(
                400,
                #"{"error":"unsupported_grant_type","error_description":"The specified grant type is not supported."}"#
            )
        }
        guard form["client_id"] == call.pbx.clientID, form["client_secret"] == call.pbx.clientSecret else {
            return .json(
                400,
                #"{"error":"invalid_client","error_description":"The client application is not known or is not authorized."}"#
            )
        }
        var random = SystemRandomNumberGenerator()
        let token = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
        settings.withLock { $0[call.pbx.name, default: PBXSettings()].activeToken = token }
        return .json(
            200,
            #"{"token_type":"Bearer","expires_in":3600,"access_token":"\#(token)","refresh_token":"\#(Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }))"}"#
        )
    }

    /// The PBX of `tenantID` as `GET /_sim/tenants/…` shows it (never the SBC's private key).
    func inspection(tenantID: UUID) -> JSONValue {
        guard let pbx = world.pbxes.values.first(where: { $0.tenantID == tenantID }) else { return .null }
        let settings = read(pbx)
        return .object([
            "name": .string(pbx.name), "microsoft365Integration": .object(settings.microsoft365),
            "teamsIntegration": .object(settings.teams.filter { $0.key != "SbcPrivateKey" }),
        ])
    }
}
