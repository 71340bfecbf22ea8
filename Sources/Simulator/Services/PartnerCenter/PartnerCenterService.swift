import Foundation

/// Partner Center's Control Panel Vendor consent API, as Microsoft documents it
/// (learn.microsoft.com/partner-center/developer/control-panel-vendor-apis):
///   POST   /v1/customers/{customer tenant id}/applicationconsents
///          {"applicationId", "displayName", "applicationGrants": [{"enterpriseApplicationId", "scope"}]}
///   DELETE /v1/customers/{customer tenant id}/applicationconsents/{application id}
/// with an app+user token for `https://api.partnercenter.microsoft.com` (`PartnerCenterTokens`), at most 50
/// requests a second per applicationId (429 with Retry-After past it).
///
/// What a consent makes in the customer's directory is what the API is used for: the application's service
/// principal (if it has none) and, per grant, a tenant-wide (AllPrincipals) delegated grant of the listed
/// scopes on that resource — never an application-role assignment (application permissions are assigned
/// through Graph's appRoleAssignedTo, or by the customer's admin consent). The partner's admin agent must
/// have a relationship with the customer holding Global Administrator, Privileged Role Administrator or
/// Cloud Application Administrator. Error bodies are Partner Center's shape (`code`, `description`,
/// `data`, `source`); their numeric codes are the simulator's own (Onboarder reads the status only).
/// `/_sim/partnercenter/…`: the partner's side a test or the demo sets up (the admin agent's consent, a
/// customer's relationship and roles, the request limit).
struct PartnerCenterService: Sendable {
    let directory: DirectoryStore
    let tokens: PartnerCenterTokens
    let state: PartnerCenterState
    /// The token endpoint's verification: an app-only token for Partner Center is recognised and refused.
    let appOnlyTokens: EntraTokenService
    let counter: RequestCounter

    typealias Call = ServiceCall<PartnerCenterService>

    private static let table = RouteTable<Call>([
        Route("POST", "/v1/customers/{customer}/applicationconsents") { $0.service.create($0) },
        Route("DELETE", "/v1/customers/{customer}/applicationconsents/{application}") { $0.service.delete($0) },
    ])

    private static let admin = RouteTable<Call>([
        // The partner's admin agent consents the partner app interactively (MFA): the refresh token it leaves.
        Route("POST", "/_sim/partnercenter/agents") { $0.service.consentAgent($0) },
        Route("PATCH", "/_sim/partnercenter/customers/{tenant}") { $0.service.setCustomer($0) },
        Route("PUT", "/_sim/partnercenter/limit") { $0.service.setLimit($0) },
    ])

    func handle(_ request: SimRequest) -> SimResponse {
        guard case .found(let route, let parameters) = Self.table.resolve(request) else {
            return Self.error(404, 404, "The requested resource was not found.")
        }
        counter.count("\(request.method) applicationconsents")
        return route.handle(Call(service: self, request: request, parameters: parameters))
    }

    func handleAdmin(_ request: SimRequest) -> SimResponse {
        guard case .found(let route, let parameters) = Self.admin.resolve(request) else {
            return .json(404, #"{"error":"unknown simulator endpoint"}"#)
        }
        return route.handle(Call(service: self, request: request, parameters: parameters))
    }

    /// Partner Center's error body.
    static func error(_ status: Int, _ code: Int, _ description: String, headers: [(String, String)] = [])
        -> SimResponse
    {
        let body: [String: Any] = ["code": code, "description": description, "data": [], "source": "PartnerFD"]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return .json(status, String(decoding: data, as: UTF8.self), headers: headers)
    }

    /// The caller: an app+user token this Partner Center accepts, or the refusal.
    private func caller(_ request: SimRequest) -> Result<PartnerCenterTokens.Claims, Refusal> {
        guard let header = request.headers["authorization"], header.hasPrefix("Bearer ") else {
            return .failure(Refusal(Self.error(401, 401, "Authorization header is missing.")))
        }
        let token = String(header.dropFirst(7))
        if let claims = tokens.verified(token) { return .success(claims) }
        if let appOnly = appOnlyTokens.verifiedClaims(token), appOnly.aud == PartnerCenterTokens.audience {
            return .failure(
                Refusal(
                    Self.error(
                        403, 403,
                        "App-only authentication is not supported for this operation: use App+User authentication (the secure application model)."
                    )))
        }
        return .failure(
            Refusal(
                Self.error(
                    401, 401,
                    "The token is not valid for the audience https://api.partnercenter.microsoft.com, or it has expired."
                )))
    }

    struct Refusal: Error {
        let response: SimResponse
        init(_ response: SimResponse) { self.response = response }
    }

    /// A JSON member by name, case-insensitively (Partner Center's model binding is).
    private static func member(_ object: [String: JSONValue], _ name: String) -> JSONValue? {
        object.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    /// Everything the two routes check before acting: the token, the application (the partner's own, the
    /// one the token was issued to), the customer's relationship and the agent's role, the rate.
    private func admitted(_ call: Call, applicationID: String) -> Result<(World, SimTenant, SimPartner), Refusal> {
        let claims: PartnerCenterTokens.Claims
        switch caller(call.request) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let found): claims = found
        }
        if let wait = state.admit(applicationID: applicationID.lowercased()) {
            return .failure(
                Refusal(
                    Self.error(
                        429, 429, "Rate limit is exceeded. Try again in \(wait) seconds.",
                        headers: [("Retry-After", String(wait))])))
        }
        return directory.withWorld { world in
            guard let partnerTenant = UUID(uuidString: claims.tid), let home = world.tenants[partnerTenant],
                let partner = world.partner(homeTenant: home), applicationID.lowercased() == claims.appid,
                applicationID.lowercased() == partner.app.appID.uuidString.lowercased()
            else {
                return .failure(
                    Refusal(
                        Self.error(
                            403, 403,
                            "The application \(applicationID) is not the partner's application the token was issued to."
                        )))
            }
            guard let customerID = UUID(uuidString: call["customer"]), let customer = world.tenants[customerID],
                customer.id != partnerTenant
            else {
                return .failure(Refusal(Self.error(404, 600, "Customer \(call["customer"]) was not found.")))
            }
            let relationship = state.customer(customer.id)
            guard relationship.relationship ?? (customer.partnerMSP == partner.msp) else {
                return .failure(
                    Refusal(
                        Self.error(
                            403, 900,
                            "The partner has no delegated admin relationship with customer \(call["customer"]).")))
            }
            guard !relationship.roles.isDisjoint(with: PartnerCenterState.consentingRoles) else {
                return .failure(
                    Refusal(
                        Self.error(
                            403, 901,
                            "The user does not hold a role that may consent applications in customer \(call["customer"]) (Global Administrator, Privileged Role Administrator or Cloud Application Administrator through the relationship)."
                        )))
            }
            return .success((world, customer, partner))
        }
    }

    /// `POST …/applicationconsents`: the service principal and one delegated grant per resource.
    private func create(_ call: Call) -> SimResponse {
        guard let body = JSONValue.parse(call.request.body)?.object,
            let applicationID = Self.member(body, "applicationId")?.string,
            let grants = Self.member(body, "applicationGrants")?.array, !grants.isEmpty
        else {
            return Self.error(400, 400, "applicationId and applicationGrants are required.")
        }
        // Each grant: a resource the simulator knows (Microsoft Graph) and scopes it offers as delegated ones.
        var scopes: [String] = []
        for grant in grants {
            guard let object = grant.object,
                Self.member(object, "enterpriseApplicationId")?.string?.lowercased()
                    == GraphPermissionCatalogue.resourceAppID,
                let scope = Self.member(object, "scope")?.string
            else {
                return Self.error(
                    400, 400,
                    "Each application grant needs the enterpriseApplicationId of a known resource and a scope.")
            }
            for name in scope.split(whereSeparator: { $0 == "," || $0 == " " }).map({ String($0) }) {
                guard GraphPermissionCatalogue.microsoftGraph.scope(named: name) != nil else {
                    return Self.error(400, 400, "The scope \(name) is not a delegated permission of the resource.")
                }
                if !scopes.contains(name) { scopes.append(name) }
            }
        }
        switch admitted(call, applicationID: applicationID) {
        case .failure(let refusal): return refusal.response
        case .success(let (world, customer, partner)):
            return directory.withWorld { _ in
                world.partnerCenterConsent(in: customer, partner: partner, scopes: scopes)
            } ? .json(201, call.request.bodyText) : Self.error(409, 409, "Permission entry already exists.")
        }
    }

    /// `DELETE …/applicationconsents/{application}`: the service principal and its grants go.
    private func delete(_ call: Call) -> SimResponse {
        switch admitted(call, applicationID: call["application"]) {
        case .failure(let refusal): return refusal.response
        case .success(let (world, customer, partner)):
            let removed = directory.withWorld { _ in world.removePartnerConsent(in: customer, partner: partner) }
            return removed ? SimResponse(status: 204, headers: [], body: []) : Self.error(404, 404, "Not found.")
        }
    }

    /// `{"partner": "acme"}` (default: the default MSP): that MSP's admin agent consents its partner app.
    private func consentAgent(_ call: Call) -> SimResponse {
        let msp = JSONValue.parse(call.request.body)?.object?["partner"]?.string ?? SimPartner.defaultMSP
        guard let partner = directory.withWorld({ $0.partner(msp: msp)?.tenant.id }) else {
            return .json(400, #"{"error":"partner is not one of the world's MSPs"}"#)
        }
        return .json(200, #"{"refresh_token":"\#(state.consentAgent(partner: partner))"}"#)
    }

    /// `{"relationship": true|false, "roles": ["Cloud Application Administrator", …]}`
    private func setCustomer(_ call: Call) -> SimResponse {
        guard let body = JSONValue.parse(call.request.body)?.object,
            let tenant = directory.withWorld({ $0.tenant(call["tenant"])?.id })
        else { return .json(400, #"{"error":"a JSON object for a known tenant"}"#) }
        var customer = state.customer(tenant)
        if case .bool(let relationship)? = body["relationship"] { customer.relationship = relationship }
        if let roles = body["roles"]?.array { customer.roles = Set(roles.compactMap(\.string)) }
        state.setCustomer(tenant, customer)
        return .json(200, #"{"roles":\#(customer.roles.count)}"#)
    }

    /// `{"requests_per_second": n}` (default 50, as documented).
    private func setLimit(_ call: Call) -> SimResponse {
        guard let limit = JSONValue.parse(call.request.body)?.object?["requests_per_second"]?.number else {
            return .json(400, #"{"error":"requests_per_second"}"#)
        }
        state.setRequestsPerSecond(Int(limit))
        return .json(200, #"{"requests_per_second":\#(Int(limit))}"#)
    }
}

extension World {
    /// What Partner Center's consent makes in `tenant` for the partner app: its service principal (without
    /// application roles) and an AllPrincipals grant of `scopes` on Microsoft Graph. False when the grant is
    /// there already (Partner Center's "Permission entry already exists").
    func partnerCenterConsent(in tenant: SimTenant, partner: SimPartner, scopes: [String]) -> Bool {
        let app = partner.app
        let principal =
            tenant.principal(appID: app.appID)
            ?? SimServicePrincipal(
                id: Self.derivedID(tenant.id, app.appID), appID: app.appID, displayName: app.displayName)
        if tenant.permissionGrants.contains(where: {
            $0.clientID == principal.id && $0.resourceID == tenant.graphPrincipal.id
                && $0.consentType == "AllPrincipals"
        }) {
            return false
        }
        tenant.principals[principal.id] = principal
        if tenant.servicePrincipals[app.appID] == nil { tenant.servicePrincipals[app.appID] = [] }
        tenant.permissionGrants.append(
            SimPermissionGrant(
                id: Base64URLID.make(), clientID: principal.id, resourceID: tenant.graphPrincipal.id,
                consentType: "AllPrincipals", scope: scopes.joined(separator: " ")))
        return true
    }

    /// `DELETE …/applicationconsents/{app}`: the partner app's service principal, its grants and assignments.
    func removePartnerConsent(in tenant: SimTenant, partner: SimPartner) -> Bool {
        let partnerApp = partner.app
        guard let principal = tenant.principal(appID: partnerApp.appID) else { return false }
        tenant.permissionGrants.removeAll { $0.clientID == principal.id }
        tenant.appRoleAssignments.removeAll { $0.principalID == principal.id }
        tenant.principals[principal.id] = nil
        tenant.servicePrincipals[partnerApp.appID] = nil
        return true
    }
}
