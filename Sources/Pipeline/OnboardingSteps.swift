import Crypto
import Foundation
import Graph
import HTTP
import PBX
import Postgres

#if canImport(Glibc)
    import Glibc
#endif

/// The steps. Each finds what it would make by a natural key first and adopts it (ARCHITECTURE §6).
extension Run {
    // MARK: 1. Resolve the tenant

    mutating func resolveTenant() async throws {
        let graph = try graph()
        guard let organization = try await graph.organization(context: context()) else {
            throw StepStop.retry(.retry, "GET /organization listed no organization")
        }
        let id = organization.id.lowercased()
        if let given = UUID(uuidString: job.tenantKey), given.uuidString.lowercased() != id {
            throw StepStop.attention(
                "A token for \(job.tenantKey) was issued for tenant \(id): check the customer's tenant id.")
        }
        facts.entraTenantID = id
        facts.defaultDomain = organization.defaultDomain?.lowercased()
        let microsoftGraph = try await graph.microsoftGraphServicePrincipal()
        facts.graphServicePrincipalID = microsoftGraph.id.lowercased()
        do {
            let resolved = try GraphClient.resolve(
                roles: settings.roles, scopes: settings.scopes, offeredBy: microsoftGraph)
            facts.roleIDs = resolved.roles
            facts.scopeIDs = resolved.scopes
        } catch let error as PermissionError {
            throw StepStop.attention(
                "The configured permissions do not resolve in this tenant: \(error). Correct onboarding.roles / onboarding.scopes, then onboarder retry."
            )
        }
        let skus = try await graph.subscribedSkus()
        let phoneSystem = skus.contains { $0.planNames.contains(ServicePlans.phoneSystem) }
        facts.phoneSystemAvailable = phoneSystem
        if !phoneSystem {
            warn(
                "No subscription of this tenant includes Phone System (MCOEV): users cannot call through Teams until one is bought (Teams Phone Standard, or Microsoft 365 E5)."
            )
        }
        try await store.recordIntegration(
            tenant: job.tenantID, path: payload.path, entraTenantID: id,
            defaultDomain: organization.defaultDomain?.lowercased(), phoneSystem: phoneSystem,
            pbxURL: payload.pbxURL)
    }

    // MARK: 2. The app registration

    mutating func registerApp() async throws {
        let graph = try graph()
        let redirect = payload.redirectURI ?? settings.redirectURI(pbxURL: payload.pbxURL)
        let permissions = ResolvedPermissions(roles: facts.roleIDs ?? [:], scopes: facts.scopeIDs ?? [:])
        // The idempotent upsert: a create whose answer was lost, run again, updates the same app.
        let app = try await graph.upsertApplication(
            uniqueName: settings.appUniqueName,
            ApplicationRegistration(
                displayName: settings.appName, signInAudience: "AzureADMyOrg", redirectURIs: [redirect],
                requiredResourceAccess: permissions.requiredResourceAccess),
            context: context())
        facts.appObjectID = app.id.lowercased()
        facts.appID = app.appId.lowercased()
        facts.appRegisteredAt = facts.appRegisteredAt ?? Date()
        try await store.recordIntegration(tenant: job.tenantID, appObjectID: facts.appObjectID, appID: facts.appID)
    }

    // MARK: 3. The service principal

    mutating func servicePrincipal() async throws {
        let graph = try graph()
        let appID = try require(facts.appID, "app id")
        let context = context(createdAt: facts.appRegisteredAt)
        let principal: GraphServicePrincipal
        if let existing = try await graph.servicePrincipal(appID: appID, context: context) {
            principal = existing
        } else {
            do {
                principal = try await graph.createServicePrincipal(appID: appID, context: context)
                facts.servicePrincipalAt = Date()
            } catch let error as GraphError where error.status == 409 {
                // Made by an earlier try whose answer was lost, and not listed yet: find it next time.
                throw StepStop.retry(.replication, "the service principal exists but is not listed yet (\(error))")
            }
        }
        facts.servicePrincipalID = principal.id.lowercased()
        try await store.recordIntegration(tenant: job.tenantID, servicePrincipalID: facts.servicePrincipalID)
    }

    // MARK: 4. Admin consent

    mutating func consent() async throws {
        let graph = try graph()
        let principal = try require(facts.servicePrincipalID, "service principal id")
        let resource = try require(facts.graphServicePrincipalID, "Microsoft Graph's service principal id")
        let context = context(createdAt: facts.servicePrincipalAt ?? facts.appRegisteredAt)
        let wanted = Set((facts.roleIDs ?? [:]).values.map { $0.lowercased() })

        func granted() async throws -> Set<String> {
            Set(
                try await graph.appRoleAssignments(principalID: principal, context: context).filter {
                    $0.resourceId.lowercased() == resource
                }.map { $0.appRoleId.lowercased() })
        }
        for role in wanted.subtracting(try await granted()).sorted() {
            do {
                try await graph.assignAppRole(
                    principalID: principal, resourceID: resource, appRoleID: role, context: context)
            } catch let error as GraphError where error.message.contains("already exists") {
                // An earlier try's answer was lost; the assignment is there.
            }
        }
        let scopes = Set((facts.scopeIDs ?? [:]).keys)
        func grant() async throws -> GraphPermissionGrant? {
            try await graph.permissionGrants(clientID: principal, context: context).first {
                $0.resourceId.lowercased() == resource && $0.consentType == "AllPrincipals"
            }
        }
        if !scopes.isEmpty {
            if let existing = try await grant() {
                if !scopes.isSubset(of: existing.scopes) {
                    try await graph.updateGrant(
                        id: existing.id, scopes: existing.scopes.union(scopes).sorted(), context: context)
                }
            } else {
                do {
                    try await graph.grantDelegated(
                        clientID: principal, resourceID: resource, scopes: scopes.sorted(),
                        context: context)
                } catch let error as GraphError where error.status == 409 {
                    // Made by an earlier try whose answer was lost.
                }
            }
        }
        // Consent is what Graph shows, not what the requests said.
        let missing = wanted.subtracting(try await granted())
        let grantOK = scopes.isEmpty ? true : (try await grant()).map { scopes.isSubset(of: $0.scopes) } ?? false
        guard missing.isEmpty && grantOK else {
            throw StepStop.retry(
                .replication,
                "consent not visible yet: \(missing.count) application role(s) and \(grantOK ? "no" : "the") delegated grant missing on read-back"
            )
        }
    }

    // MARK: 5. The client secret

    mutating func clientSecret() async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        let context = context(createdAt: facts.appRegisteredAt)
        let passwords = try await graph.passwords(applicationID: appObject, context: context)
        try await removeOrphanPasswords(graph, appObject: appObject, listed: passwords)
        if let active = try await store.activePassword(tenant: job.tenantID),
            passwords.contains(where: { $0.keyId.lowercased() == active.keyID.lowercased() })
        {
            facts.passwordKeyID = active.keyID.lowercased()  // recorded by an earlier onboarding: keep it
            return .done
        }
        let displayName = "\(settings.passwordMarker) job \(job.id)"
        let added = try await addClampedPassword(
            graph, appObject: appObject, displayName: displayName,
            forbidden:
                "and the PBX needs one: exempt the app \(settings.appName) from the policy (a custom appManagementPolicy assigned to it) or lift the restriction, then onboarder retry."
        )
        CrashPoint.check("after-call:client-secret")
        facts.passwordKeyID = added.keyID.lowercased()
        facts.passwordAddedAt = Date()
        do {
            let sealed = try vault.seal(
                added.secret, context: SecretVault.context(kind: "password", tenantID: job.tenantID))
            let facts = self.facts
            try await store.pool.transaction { connection in
                try await store.insertPassword(
                    tenant: job.tenantID, job: job.id, appObjectID: appObject, keyID: added.keyID,
                    displayName: displayName, sealed: sealed, expires: Self.date(added.end), on: connection)
                try await store.complete(job: job.id, step: "client-secret", facts: facts, on: connection)
            }
        } catch {
            // The secret exists only in this process: take it off the app rather than leave one nobody holds.
            try? await graph.removePassword(applicationID: appObject, keyID: added.keyID)
            throw error
        }
        // Look once more: an addPassword that ran twice on the way (a retried step whose first answer
        // was lost, seen only now that Graph lists it) left a password nobody holds.
        let after = try await graph.passwords(applicationID: appObject, context: context)
        try await removeOrphanPasswords(graph, appObject: appObject, listed: after)
        return .committed
    }

    /// `addPassword` for `settings.secretLifetimeDays`, clamped to the tenant's policy (read when the
    /// partner app may, else learnt from addPassword's refusal), a warning saying so. A policy that forbids
    /// secrets stops the step: `forbidden` finishes the sentence that tells the operator what to do.
    mutating func addClampedPassword(
        _ graph: GraphClient, appObject: String, displayName: String, forbidden: String
    ) async throws -> AddedPassword {
        var days = settings.secretLifetimeDays
        do {
            if let cap = try await graph.maxPasswordLifetimeDays(), cap < days {
                days = cap
                warn(
                    "The tenant's app-management policy limits client secrets to \(cap) days: the PBX secret expires after \(cap) days, not \(settings.secretLifetimeDays); secret rotation replaces it in time."
                )
            }
        } catch let error as GraphError where error.code == "Authorization_RequestDenied" {
            // Reading the policy needs Policy.Read.All, which the partner app may lack; addPassword's own
            // refusal ("Credential lifetime exceeds the max value allowed") tells the cap below.
        }
        while true {
            do {
                return try await graph.addPassword(
                    applicationID: appObject, displayName: displayName,
                    end: Date(timeIntervalSinceNow: TimeInterval(days) * 86_400))
            } catch let error as GraphError
                where error.code == "CredentialTypeNotAllowedAsPerAppPolicy"
                || error.message.contains("not allowed as per assigned policy")
            {
                throw StepStop.attention(
                    "The tenant's app-management policy forbids client secrets (a passwordAddition restriction), \(forbidden) (\(error.description))"
                )
            } catch let error as GraphError
                where error.message.contains("Credential lifetime exceeds") && days > 30
            {
                days = [365, 180, 90, 30].first { $0 < days } ?? 30
                warn(
                    "The tenant's app-management policy refused a \(settings.secretLifetimeDays)-day client secret: it was clamped to \(days) days; secret rotation replaces it in time."
                )
            }
        }
    }

    /// Removes the passwords Onboarder made (display-name marker) that it never recorded: their secret
    /// was lost with a crash or a lost answer, nobody holds it. Passwords Onboarder recorded, or did not
    /// make, are never touched.
    func removeOrphanPasswords(_ graph: GraphClient, appObject: String, listed: [GraphPasswordCredential])
        async throws
    {
        let recorded = try await store.recordedPasswordKeyIDs(tenant: job.tenantID)
        for password in listed
        where (password.displayName ?? "").hasPrefix(settings.passwordMarker)
            && !recorded.contains(password.keyId.lowercased())
        {
            do {
                try await graph.removePassword(applicationID: appObject, keyID: password.keyId)
            } catch let error as GraphError
                where error.status == 404 || error.message.contains("No password credential")
            {
                // Removed already (by an earlier try whose answer was lost).
            }
            try await store.event(
                job: job.id, kind: "orphan_password_removed", step: "client-secret", detail: ["key_id": password.keyId])
        }
    }

    // MARK: 6. The certificate

    mutating func certificate(currentStep: String = "certificate") async throws -> StepResult {
        let graph = try graph()
        let appObject = try require(facts.appObjectID, "application object id")
        var stored = try await store.certificates(tenant: job.tenantID)
        var candidate = stored.first { $0.state == "supplied" } ?? stored.first { $0.state == "pending" }
        let keys = try await graph.certificates(
            applicationID: appObject, context: context(createdAt: facts.appRegisteredAt))
        let onApp = Set(keys.compactMap { $0.customKeyIdentifier?.uppercased() })
        if candidate == nil {
            if facts.rotatedThumbprint == nil,
                let active = stored.first(where: { $0.state == "active" && onApp.contains($0.thumbprint) })
            {
                facts.certificateThumbprint = active.thumbprint  // uploaded by an earlier onboarding
                return .done
            }
            guard settings.certificateSource == "generate" else {
                return .wait(
                    until: Date(timeIntervalSinceNow: Double(settings.inputRecheck.components.seconds)),
                    message:
                        "waiting for input: certificate from the PBX. Download it from the PBX (Integrations → Microsoft 365) and run: onboarder cert add \(job.tenantKey) FILE"
                )
            }
            // RSA key generation is CPU-bound (about 0.3 s on these machines): off Swift's cooperative pool,
            // so other onboardings' network calls keep moving meanwhile.
            let key = try await Self.generateKey()
            let certificate = try Certificate.issue(
                Certificate.Options(
                    commonName: "\(settings.appName) \(tenant)", validFor: settings.certificateLifetimeDays),
                for: key)
            let sealed = try vault.seal(
                try key.pem(), context: SecretVault.context(kind: "certificate", tenantID: job.tenantID))
            try await store.insertCertificate(
                tenant: job.tenantID, job: job.id, state: "pending", source: "generated",
                thumbprint: Self.hex(try certificate.sha1Thumbprint), pem: certificate.pem, sealedKey: sealed,
                displayName: "PBX certificate · onboarder job \(job.id)", expires: certificate.notAfter)
            stored = try await store.certificates(tenant: job.tenantID)
            candidate = stored.first { $0.state == "pending" }
        }
        guard let candidate else { throw StepStop.retry(.retry, "the new certificate was not recorded") }
        if !onApp.contains(candidate.thumbprint) {
            // keyCredentials PATCH replaces the whole list: send every certificate to keep with the new one.
            let known = Dictionary(
                stored.filter { $0.state == "active" || $0.state == "superseded" }.map { ($0.thumbprint, $0) },
                uniquingKeysWith: { first, _ in first })
            let unknown = onApp.subtracting(known.keys)
            guard unknown.isEmpty else {
                throw StepStop.attention(
                    "The app already has certificates Onboarder does not hold (thumbprints \(unknown.sorted().joined(separator: ", "))). Uploading replaces the whole list and would remove them: add them with onboarder cert add, or remove them from the app, then onboarder retry."
                )
            }
            var certificates: [CertificateUpload] = []
            for keep in known.values where onApp.contains(keep.thumbprint) {
                certificates.append(CertificateUpload(try Certificate(pem: keep.pem), displayName: keep.displayName))
            }
            certificates.append(
                CertificateUpload(try Certificate(pem: candidate.pem), displayName: candidate.displayName))
            try await graph.setCertificates(applicationID: appObject, certificates)
            CrashPoint.check("after-call:certificate")
            facts.certificateAddedAt = Date()
        }
        facts.certificateThumbprint = candidate.thumbprint
        let facts = self.facts
        try await store.pool.transaction { connection in
            try await store.activateCertificate(id: candidate.id, appObjectID: appObject, keyID: nil, on: connection)
            try await store.complete(job: job.id, step: currentStep, facts: facts, on: connection)
        }
        return .committed
    }

    // MARK: 7. PBX hand-over

    mutating func pbxHandover() async throws {
        let pbx = try await pbx()
        let appID = try require(facts.appID, "app id")
        let current = try await pbx.microsoft365Integration()
        if current.TenantId?.lowercased() != tenant || current.ApplicationId?.lowercased() != appID {
            try await pbx.setMicrosoft365Application(tenantID: tenant, applicationID: appID)
        }
        // The XAPI has no field for the client secret (ARCHITECTURE §8): an operator hands it over,
        // exported once with `onboarder secret export`.
        if facts.secretHandedOff != true {
            facts.secretHandedOff = true
            try await store.event(
                job: job.id, kind: "secret_handoff", step: "pbx-handover",
                detail: [
                    "key_id": facts.passwordKeyID ?? "", "export": "onboarder secret export \(job.tenantKey)",
                ])
        }
    }

    // MARK: 8. Verify ("Log into Microsoft 365")

    mutating func verify() async throws {
        let appID = try require(facts.appID, "app id")
        guard let password = try await store.activePassword(tenant: job.tenantID) else {
            throw StepStop.attention("No client secret is recorded for this tenant; onboarder retry adds one.")
        }
        let secret = try vault.open(
            password.sealed, context: SecretVault.context(kind: "password", tenantID: job.tenantID))
        let secretContext = context(credentialAddedAt: facts.passwordAddedAt ?? Date())
        let bySecret = try await tokens.freshToken(
            tenant: tenant, clientID: appID, credential: .secret(secret), context: secretContext)
        try await read(with: bySecret, context: secretContext)
        if let active = try await store.certificates(tenant: job.tenantID).first(where: {
            $0.state == "active" && $0.thumbprint == facts.certificateThumbprint
        }), let sealedKey = active.sealedKey {
            let key = try PrivateKey(
                pem: try vault.open(
                    sealedKey, context: SecretVault.context(kind: "certificate", tenantID: job.tenantID)))
            let certificateContext = context(credentialAddedAt: facts.certificateAddedAt ?? Date())
            let byCertificate = try await tokens.freshToken(
                tenant: tenant, clientID: appID,
                credential: .certificate(try Certificate(pem: active.pem), key, preferred: .ps256),
                context: certificateContext)
            try await read(with: byCertificate, context: certificateContext)
        }
        let test = try await pbx().testSubscription()
        guard test.IsSubscriptionAvailable else {
            let message = test.ExceptionMessage ?? "no reason given"
            let propagating = ["AADSTS7000215", "AADSTS700016", "AADSTS700027", "AADSTS65001"].contains {
                message.contains($0)
            }
            if propagating, Date().timeIntervalSince(facts.passwordAddedAt ?? .distantPast) < settings.replicationWindow
            {
                throw StepStop.retry(.replication, "the PBX's Microsoft 365 check does not pass yet: \(message)")
            }
            throw StepStop.attention(
                "The PBX's own Microsoft 365 check (TestSubscription) fails: \(message). Check the PBX's Microsoft 365 settings, then onboarder retry."
            )
        }
    }

    /// A Graph read with `token`: proof that the credential behind it works for this app.
    func read(with token: AccessToken, context: FailureContext) async throws {
        try await graph().proveAccess(with: token, context: context)
    }

    // MARK: 9. Teams path

    func sbcFQDN() throws -> String {
        if let given = payload.sbcDomain?.lowercased(), given.contains(".") { return given }
        let label =
            payload.sbcDomain?.lowercased()
            ?? (facts.defaultDomain ?? (UUID(uuidString: job.tenantKey) == nil ? job.tenantKey.lowercased() : nil))
            .map { String($0.prefix { $0 != "." }) }
        guard let label, !settings.sbcParentDomain.isEmpty else {
            throw StepStop.attention(
                "The Teams path needs an SBC domain: give sbc_domain when enqueuing, or set onboarding.sbc_parent_domain, then onboarder retry."
            )
        }
        return "\(label).\(settings.sbcParentDomain.lowercased())"
    }

    mutating func teamsDomain() async throws -> StepResult {
        let graph = try graph()
        let fqdn = try sbcFQDN()
        if facts.sbcFQDN != fqdn {
            facts.sbcFQDN = fqdn
            try await store.recordIntegration(tenant: job.tenantID, sbcFQDN: fqdn)
        }
        var domain: GraphDomain
        do {
            domain = try await graph.domain(fqdn)
        } catch let error as GraphError where error.status == 404 {
            do {
                domain = try await graph.createDomain(fqdn)
            } catch let error as GraphError where error.message.contains("already exists") {
                domain = try await graph.domain(fqdn, context: context(createdAt: Date()))
            }
        }
        if domain.isVerified == true {
            // Tidying only: a zone setting that does not fit does not stop a verified domain.
            if let zone = try? dnsZone(for: fqdn) { await removeLeftoverVerificationRecords(of: fqdn, zone: zone) }
            return .done
        }
        let zone = try dnsZone(for: fqdn)
        let records = try await graph.verificationRecords(of: fqdn, context: context(createdAt: Date()))
        guard let txt = records.txt else {
            throw StepStop.retry(.replication, "the domain \(fqdn) shows no TXT verification record yet")
        }
        return try await publishAndVerify(fqdn, txt: txt, zone: zone, graph: graph)
    }

    mutating func activationUser() async throws {
        let graph = try graph()
        let fqdn = try require(facts.sbcFQDN, "SBC domain")
        let upn = "\(settings.activationUser)@\(fqdn)"
        var user: GraphUser
        do {
            user = try await graph.user(upn)
        } catch let error as GraphError where error.status == 404 {
            // The account exists only to activate the domain for Direct Routing; nobody signs in with it,
            // so its random password is not kept anywhere.
            let password = Base64URL.encode(try SecureRandom.bytes(24)) + "aA1!"
            do {
                user = try await graph.createUser(
                    NewUser(
                        upn: upn, displayName: "Teams Direct Routing activation",
                        usageLocation: settings.usageLocation, password: password))
            } catch let error as GraphError where error.message.contains("already exists") {
                user = try await graph.user(upn, context: context(createdAt: Date()))
            }
        }
        facts.activationUPN = upn
        let skus = try await graph.subscribedSkus()
        let teamsSKUs = skus.filter {
            !$0.planNames.isDisjoint(with: [ServicePlans.teams, ServicePlans.phoneSystem])
        }
        let has = Set((user.assignedLicenses ?? []).map { $0.skuId.lowercased() })
        if teamsSKUs.contains(where: { has.contains($0.skuId.lowercased()) }) { return }
        guard let sku = teamsSKUs.first(where: { $0.freeUnits > 0 }) else {
            let names = teamsSKUs.compactMap(\.skuPartNumber)
            throw StepStop.attention(
                "No free licence that includes Microsoft Teams for the activation user \(upn): "
                    + (names.isEmpty
                        ? "the tenant has no subscription with Teams; buy one (e.g. Microsoft 365 Business Standard, Office 365 E3 or E5)"
                        : "free or buy one more of \(names.joined(separator: ", "))")
                    + ", then onboarder retry.")
        }
        if user.usageLocation == nil {
            try await graph.setUsageLocation(user: user.id, settings.usageLocation)
        }
        try await graph.assignLicense(user: user.id, skuID: sku.skuId)
    }

    mutating func teamsPBX() async throws {
        let pbx = try await pbx()
        let fqdn = try require(facts.sbcFQDN, "SBC domain")
        try await pbx.setTeamsIntegration(sbcFQDN: fqdn, sipDomain: fqdn)
        for (name, function) in [("dial-plan", "GetDialPlanScript"), ("map-users", "GetMapUsersScript")] {
            let body = try await pbx.teamsScript(function)
            try await store.storeScript(tenant: job.tenantID, job: job.id, name: name, body: body)
        }
    }

    // MARK: 10. Microsoft 365 path

    mutating func m365Users() async throws {
        let graph = try graph()
        var users: [GraphUser] = []
        if let wanted = payload.users, !wanted.isEmpty {
            var missing: [String] = []
            for upn in wanted {
                do {
                    users.append(try await graph.user(upn))
                } catch let error as GraphError where error.status == 404 {
                    missing.append(upn)
                }
            }
            guard missing.isEmpty else {
                throw StepStop.attention(
                    "These users are not in the tenant: \(missing.joined(separator: ", ")). Correct the user list (onboarder cancel, enqueue again), or create them, then onboarder retry."
                )
            }
        } else {
            users = try await graph.users().filter {
                !($0.assignedLicenses ?? []).isEmpty && $0.accountEnabled != false
            }
        }
        // Phone System per user, from the tenant's SKUs (one call) rather than licenceDetails per user.
        let plans = Dictionary(
            try await graph.subscribedSkus().map {
                ($0.skuId.lowercased(), $0.planNames)
            },
            uniquingKeysWith: { first, _ in first })
        let withoutPhone = users.filter { user in
            !(user.assignedLicenses ?? []).contains {
                plans[$0.skuId.lowercased()]?.contains(ServicePlans.phoneSystem) == true
            }
        }.map(\.userPrincipalName)
        if !withoutPhone.isEmpty {
            let shown = withoutPhone.prefix(10).joined(separator: ", ")
            warn(
                "\(withoutPhone.count) selected user(s) lack the Phone System (MCOEV) plan and cannot make PBX calls from Teams: \(shown)\(withoutPhone.count > 10 ? ", …" : "")"
            )
        }
        let pbx = try await pbx()
        var selected = try await pbx.microsoft365Integration().AdUsers?.SelectedUsers ?? []
        let upns = users.map(\.userPrincipalName)
        var start = 0
        while start < upns.count {
            let batch = upns[start..<min(start + max(1, settings.userBatchSize), upns.count)]
            let new = batch.filter { upn in !selected.contains { $0.lowercased() == upn.lowercased() } }
            if !new.isEmpty {
                selected += new
                try await pbx.setSelectedUsers(selected)
            }
            start += batch.count
        }
        facts.selectedUsers = upns
    }

    // MARK: 11. Finish

    mutating func finish() async throws {
        var summary: String
        if payload.path == "teams" {
            summary =
                "Teams Direct Routing: app \(facts.appID ?? "?") registered and consented, SBC domain \(facts.sbcFQDN ?? "?") verified, activation user \(facts.activationUPN ?? "?") licensed, PBX configured; scripts: onboarder scripts \(job.tenantKey)."
        } else {
            summary =
                "Microsoft 365: app \(facts.appID ?? "?") registered and consented, PBX configured, \(facts.selectedUsers?.count ?? 0) user(s) in the PBX's user sync."
        }
        summary += " Client secret for the PBX: onboarder secret export \(job.tenantKey)."
        if !facts.warnings.isEmpty { summary += " \(facts.warnings.count) warning(s)." }
        try await store.recordIntegration(tenant: job.tenantID, summary: summary, onboarded: true)
    }

    // MARK: Helpers

    func require(_ value: String?, _ what: String) throws -> String {
        guard let value else {
            throw StepStop.attention("The job's checkpoints lack the \(what); onboarder retry starts the job again.")
        }
        return value
    }

    static func generateKey() async throws -> PrivateKey {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(with: Result { try PrivateKey.generateRSA(bits: 2048) })
            }
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02X", $0) }.joined() }

    static func date(_ text: String) -> Date? {
        // Only ASCII reaches Foundation's formatter: its DateFormatter traps on some non-ASCII input
        // (libFuzzer found it in the Retry-After parser), and this text comes from a server.
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// Fault injection for the crash tests: `ONBOARDER_CRASH_AT=after:consent` (or `before:…`,
/// `after-call:client-secret`, `after-call:certificate`) makes the worker kill itself with SIGKILL right
/// there, exactly as a power cut would. Unset in production; nothing else reads it.
enum CrashPoint {
    static let configured = ProcessInfo.processInfo.environment["ONBOARDER_CRASH_AT"]

    static func check(_ point: String) {
        if let configured, configured == point { kill(getpid(), SIGKILL) }
    }
}
