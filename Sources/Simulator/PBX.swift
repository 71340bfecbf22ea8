import Crypto
import Foundation

/// One customer's PBX (a 3CX V20 XAPI), served at `/pbx/{name}` — e.g. `/pbx/customer7` — with the
/// shapes of `Tests/Fixtures/3cx/xapi-subset.openapi.json`.
public final class SimPBX: @unchecked Sendable {
    public let name: String
    public let tenantID: UUID
    /// The XAPI client created in the PBX's admin (Integrations → API).
    public let clientID = "onboarder"
    public let clientSecret: String
    /// Only one access token is active per client: a new one invalidates the previous.
    var activeToken: String?
    var microsoft365: [String: JSONValue] = [
        "Id": .number(1), "ApplicationId": .null, "TenantId": .null, "SharedMailboxesSync": .bool(false),
        "AdUsers": .object([
            "IsEnabled": .bool(false), "SelectedUsers": .array([]), "SelectedGroups": .array([]),
            "StartingExtensionNumber": .string("100"),
        ]),
    ]
    var teams: [String: JSONValue] = [
        "Id": .number(1), "Enabled": .bool(false), "SbcFQDN": .null, "SipDomain": .null,
        "SecureSipEnabled": .bool(true),
        "IsNativeFQDN": .bool(false), "TlsPortForNonNativeFQDN": .number(5061), "AreaCode": .null,
        "DialPlanCode": .null,
    ]

    init(name: String, tenantID: UUID, clientSecret: String) {
        self.name = name
        self.tenantID = tenantID
        self.clientSecret = clientSecret
    }
}

extension Simulator {
    static let microsoft365Properties: Set<String> = ["ApplicationId", "TenantId", "AdUsers", "SharedMailboxesSync"]
    static let teamsProperties: Set<String> = [
        "Enabled", "SbcFQDN", "SipDomain", "SecureSipEnabled", "IsNativeFQDN", "IsDynamicIP", "TlsPortForNativeFQDN",
        "TlsPortForNonNativeFQDN", "AreaCode", "DialPlanCode", "SbcCertificate", "SbcPrivateKey",
    ]

    /// `/pbx/{name}/connect/token` and `/pbx/{name}/xapi/v1/…`. Called with the world locked.
    func pbx(_ request: SimRequest, world: World) -> SimResponse {
        let segments = request.path.split(separator: "/").map(String.init)
        guard segments.count >= 3, let pbx = world.pbxes[segments[1]] else {
            return .json(404, #"{"error":{"code":"NotFound","message":"No such PBX"}}"#)
        }
        count("\(request.method) pbx \(segments.dropFirst(2).first ?? "")")
        if segments[2] == "connect", segments.count == 4, segments[3] == "token", request.method == "POST" {
            let form = Self.parseForm(request.bodyText)
            guard form["grant_type"] == "client_credentials" else {
                return .json(
                    400,
                    #"{"error":"unsupported_grant_type","error_description":"The specified grant type is not supported."}"#
                )
            }
            guard form["client_id"] == pbx.clientID, form["client_secret"] == pbx.clientSecret else {
                return .json(
                    400,
                    #"{"error":"invalid_client","error_description":"The client application is not known or is not authorized."}"#
                )
            }
            var random = SystemRandomNumberGenerator()
            let token = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
            pbx.activeToken = token  // the previous token stops working
            return .json(
                200,
                #"{"token_type":"Bearer","expires_in":3600,"access_token":"\#(token)","refresh_token":"\#(Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }))"}"#
            )
        }
        guard segments[2] == "xapi", segments.count >= 5, segments[3] == "v1" else {
            return .json(404, #"{"error":{"code":"NotFound","message":"Unknown XAPI path"}}"#)
        }
        guard let header = request.headers["authorization"], header == "Bearer \(pbx.activeToken ?? "-")" else {
            return SimResponse(status: 401, headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        }
        func error(_ status: Int, _ message: String) -> SimResponse {
            .json(
                status,
                JSONValue.object(["error": .object(["code": .string("\(status)"), "message": .string(message)])]).text)
        }
        let resource = segments[4]
        let function = segments.count > 5 ? segments[5] : nil
        switch (request.method, resource, function) {
        case ("GET", "Microsoft365Integration", nil):
            return .json(200, JSONValue.object(pbx.microsoft365).text)
        case ("PATCH", "Microsoft365Integration", nil):
            guard let body = JSONValue.parse(request.body)?.object else {
                return error(400, "The request body is not JSON.")
            }
            for key in body.keys.sorted() where !Self.microsoft365Properties.contains(key) {
                return error(400, "The property '\(key)' does not exist on type 'Pbx.Microsoft365Integration'.")
            }
            for (key, value) in body { pbx.microsoft365[key] = value }
            return SimResponse(status: 204)
        case ("GET", "Microsoft365Integration", "Pbx.TestSubscription()"):
            let (ok, problem) = subscriptionWorks(pbx, world: world)
            return .json(
                200,
                JSONValue.object([
                    "IsSubscriptionAvailable": .bool(ok), "Fqdn": .string("\(pbx.name).pbx.example.com"),
                    "ExceptionMessage": problem.map { .string($0) } ?? .null,
                ]).text)
        case ("GET", "Microsoft365Integration", "Pbx.GetMicrosoft365Directory()"):
            let (ok, problem) = subscriptionWorks(pbx, world: world)
            return .json(
                200,
                JSONValue.object([
                    "ApplicationId": pbx.microsoft365["ApplicationId"] ?? .null, "ProvisionUrl": .null,
                    "ExceptionMessage": ok ? .null : .string(problem ?? "not configured"),
                ]).text)
        case ("GET", "Microsoft365TeamsIntegration", nil):
            return .json(200, JSONValue.object(pbx.teams).text)
        case ("PATCH", "Microsoft365TeamsIntegration", nil):
            guard let body = JSONValue.parse(request.body)?.object else {
                return error(400, "The request body is not JSON.")
            }
            for key in body.keys.sorted() where !Self.teamsProperties.contains(key) {
                return error(400, "The property '\(key)' does not exist on type 'Pbx.Microsoft365TeamsIntegration'.")
            }
            for (key, value) in body where key != "SbcPrivateKey" { pbx.teams[key] = value }
            return SimResponse(status: 204)
        case ("GET", "Microsoft365TeamsIntegration", let call?) where call.hasPrefix("Pbx.CheckFqdnRecord(fqdn="):
            let fqdn = String(call.dropFirst("Pbx.CheckFqdnRecord(fqdn='".count).dropLast(2)).replacingOccurrences(
                of: "''", with: "'")
            let tenant = world.tenants[pbx.tenantID]
            let resolves =
                tenant?.domains.values.contains { $0.isVerified && (fqdn == $0.name || fqdn.hasSuffix("." + $0.name)) }
                ?? false
            return .json(200, #"{"value":\#(resolves)}"#)
        case ("GET", "Microsoft365TeamsIntegration", "Pbx.GetDialPlanScript()"):
            let fqdn = pbx.teams["SbcFQDN"]?.string ?? "sbc.example.com"
            return .json(
                200,
                JSONValue.object([
                    "value": .string(
                        "Set-CsOnlinePstnUsage -Identity Global -Usage @{Add=\"\(pbx.name)\"}\nNew-CsOnlineVoiceRoute -Identity \"\(pbx.name)\" -NumberPattern \".*\" -OnlinePstnGatewayList \(fqdn) -OnlinePstnUsages \"\(pbx.name)\"\nNew-CsOnlineVoiceRoutingPolicy \"\(pbx.name)\" -OnlinePstnUsages \"\(pbx.name)\""
                    )
                ]).text)
        case ("GET", "Microsoft365TeamsIntegration", "Pbx.GetMapUsersScript()"):
            let users = pbx.microsoft365["AdUsers"]?["SelectedUsers"]?.array?.compactMap(\.string) ?? []
            let lines = users.enumerated().map { index, upn in
                "Set-CsPhoneNumberAssignment -Identity \"\(upn)\" -PhoneNumber \"+1555010\(String(format: "%04d", index + 100))\" -PhoneNumberType DirectRouting\nGrant-CsOnlineVoiceRoutingPolicy -Identity \"\(upn)\" -PolicyName \"\(pbx.name)\""
            }
            return .json(200, JSONValue.object(["value": .string(lines.joined(separator: "\n"))]).text)
        case ("GET", "Users", nil):
            let users = pbx.microsoft365["AdUsers"]?["SelectedUsers"]?.array?.compactMap(\.string) ?? []
            let start = Int(pbx.microsoft365["AdUsers"]?["StartingExtensionNumber"]?.string ?? "100") ?? 100
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
        default:
            return error(404, "Resource not found for the segment '\(function ?? resource)'.")
        }
    }

    /// What `TestSubscription()` checks: the configured tenant is this PBX's, the app exists there with a
    /// service principal that holds at least one granted application role, and it has a credential that
    /// Entra accepts by now.
    func subscriptionWorks(_ pbx: SimPBX, world: World) -> (Bool, String?) {
        guard let tenantText = pbx.microsoft365["TenantId"]?.string, let tenantID = UUID(uuidString: tenantText),
            tenantID == pbx.tenantID, let tenant = world.tenants[tenantID]
        else { return (false, "The Microsoft 365 tenant is not configured, or is not this customer's.") }
        guard let appText = pbx.microsoft365["ApplicationId"]?.string, let appID = UUID(uuidString: appText),
            let app = tenant.application(appID: appID), visible(app.createdDateTime)
        else {
            return (
                false,
                "AADSTS700016: Application with identifier '\(pbx.microsoft365["ApplicationId"]?.string ?? "")' was not found in the directory."
            )
        }
        guard !tenant.roles(appID: appID).isEmpty else {
            return (false, "AADSTS65001: The user or administrator has not consented to use the application.")
        }
        let credential =
            app.passwords.contains { propagated($0.start) && $0.end > Date() }
            || app.keys.contains { propagated($0.added) }
        guard credential else { return (false, "AADSTS7000215: Invalid client secret provided.") }
        return (true, nil)
    }
}
