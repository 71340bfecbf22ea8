/// Rules of `Tests/Fixtures/graph/semantic-rules.json` that a request body alone can show broken. Each check
/// names its rule's id; rules about responses, tenants' state or what happens after a call (PATCH replaces a
/// collection, addKey's proof, licences needing a usage location) are not a body's to break and are left out.
extension GraphBodyValidator {
    public struct SemanticRule: Sendable {
        public struct Finding: Sendable {
            public let kind: Problem.Kind
            public let path: String
            public let message: String
        }

        /// The rule's id in `semantic-rules.json`.
        public let id: String
        /// The operations it applies to, as `validate(_:operation:)` names them.
        public let operations: Set<String>
        public let check: @Sendable (StrictJSON) -> [Finding]
    }

    static let applicationWrites: Set<String> = [
        "POST:/applications", "PATCH:/applications/{application-id}", "PATCH:/applications(uniqueName='{uniqueName}')",
    ]

    private static func finding(_ kind: Problem.Kind, _ path: String, _ message: String) -> SemanticRule.Finding {
        SemanticRule.Finding(kind: kind, path: path, message: message)
    }

    /// Members that must be present and neither null nor an empty string.
    private static func requireMembers(_ body: StrictJSON, _ names: [String], at path: String = "")
        -> [SemanticRule.Finding]
    {
        names.compactMap { name in
            let value = body[name]
            if value == nil || value == .null || value == .string("") {
                return finding(.missingRequired, "\(path)/\(name)", "'\(name)' is required here")
            }
            return nil
        }
    }

    private static func oneOf(_ value: StrictJSON?, _ allowed: [String], at path: String, _ what: String)
        -> [SemanticRule.Finding]
    {
        guard let value, value != .null else { return [] }
        guard let text = value.string, allowed.contains(text) else {
            return [
                finding(.notInEnum, path, "\(what) \(show(value)) is not one of: \(allowed.joined(separator: ", "))")
            ]
        }
        return []
    }

    public static let semanticRules: [SemanticRule] = [
        SemanticRule(id: "app.displayName.required", operations: ["POST:/applications"]) { body in
            requireMembers(body, ["displayName"])
        },
        SemanticRule(id: "app.noPasswordOnCreate", operations: applicationWrites) { body in
            body["passwordCredentials"] == nil
                ? []
                : [
                    finding(
                        .ruleBroken, "/passwordCredentials",
                        "passwordCredentials cannot be set on create or by PATCH: use addPassword")
                ]
        },
        SemanticRule(id: "app.signInAudience.enum", operations: applicationWrites) { body in
            oneOf(
                body["signInAudience"],
                [
                    "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                    "PersonalMicrosoftAccount",
                ],
                at: "/signInAudience", "signInAudience")
        },
        SemanticRule(id: "app.requiredResourceAccess.limits", operations: applicationWrites) { body in
            guard let resources = body["requiredResourceAccess"]?.array else { return [] }
            let permissions = resources.reduce(0) { $0 + ($1["resourceAccess"]?.array?.count ?? 0) }
            var findings: [SemanticRule.Finding] = []
            if resources.count > 50 {
                findings.append(
                    finding(.outOfRange, "/requiredResourceAccess", "\(resources.count) resource APIs, more than 50"))
            }
            if permissions > 400 {
                findings.append(
                    finding(.outOfRange, "/requiredResourceAccess", "\(permissions) permissions in all, more than 400"))
            }
            return findings
        },
        SemanticRule(id: "resourceAccess.type.enum", operations: applicationWrites) { body in
            let resources = body["requiredResourceAccess"]?.array ?? []
            return resources.enumerated().flatMap { index, resource in
                (resource["resourceAccess"]?.array ?? []).enumerated().flatMap { inner, access in
                    oneOf(
                        access["type"], ["Scope", "Role"],
                        at: "/requiredResourceAccess/\(index)/resourceAccess/\(inner)/type", "resourceAccess.type")
                }
            }
        },
        SemanticRule(
            id: "keyCredential.typeUsage",
            operations: applicationWrites.union(["POST:/applications/{application-id}/addKey"])
        ) { body in
            var credentials: [(String, StrictJSON)] = []
            for (index, credential) in (body["keyCredentials"]?.array ?? []).enumerated() {
                credentials.append(("/keyCredentials/\(index)", credential))
            }
            if let credential = body["keyCredential"] { credentials.append(("/keyCredential", credential)) }
            return credentials.flatMap { path, credential -> [SemanticRule.Finding] in
                guard credential.members != nil else { return [] }
                var findings =
                    oneOf(credential["usage"], ["Sign", "Verify"], at: "\(path)/usage", "usage")
                    + oneOf(
                        credential["type"], ["AsymmetricX509Cert", "X509CertAndPassword", "Symmetric"],
                        at: "\(path)/type", "type")
                if credential["type"] == .string("AsymmetricX509Cert") {
                    if let usage = credential["usage"], usage != .string("Verify"), usage != .null {
                        findings.append(
                            finding(
                                .ruleBroken, "\(path)/usage", "a certificate (AsymmetricX509Cert) is for usage Verify"))
                    }
                    findings += requireMembers(credential, ["key"], at: path)
                }
                return findings
            }
        },
        SemanticRule(id: "sp.appId.required", operations: ["POST:/servicePrincipals"]) { body in
            requireMembers(body, ["appId"])
        },
        SemanticRule(
            id: "appRoleAssignment.ids",
            operations: [
                "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo",
                "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignments",
            ]
        ) { body in
            requireMembers(body, ["principalId", "resourceId", "appRoleId"])
        },
        SemanticRule(id: "oauth2Grant.fields", operations: ["POST:/oauth2PermissionGrants"]) { body in
            var findings = requireMembers(body, ["clientId", "consentType", "resourceId", "scope"])
            findings += oneOf(body["consentType"], ["AllPrincipals", "Principal"], at: "/consentType", "consentType")
            let principal = body["principalId"].flatMap { $0 == .null ? nil : $0 }
            if body["consentType"] == .string("AllPrincipals"), principal != nil {
                findings.append(finding(.ruleBroken, "/principalId", "consentType AllPrincipals takes no principalId"))
            }
            if body["consentType"] == .string("Principal"), principal == nil {
                findings.append(finding(.missingRequired, "/principalId", "consentType Principal needs the user's id"))
            }
            if let scope = body["scope"]?.string, !scope.isEmpty,
                scope.contains(",") || scope.split(separator: " ", omittingEmptySubsequences: false).contains("")
            {
                findings.append(
                    finding(.ruleBroken, "/scope", "scope '\(scope)' is not scope values separated by single spaces"))
            }
            return findings
        },
        SemanticRule(id: "domain.create.idOnly", operations: ["POST:/domains"]) { body in
            let others = (body.members ?? []).map(\.name).filter { $0 != "id" && !$0.hasPrefix("@odata.") }
            return requireMembers(body, ["id"])
                + others.map { finding(.ruleBroken, "/\($0)", "only id can be given when a domain is created") }
        },
        SemanticRule(id: "domain.supportedServices.settable", operations: ["PATCH:/domains/{domain-id}"]) { body in
            (body["supportedServices"]?.array ?? []).enumerated().flatMap { index, service in
                oneOf(
                    service, ["Email", "OfficeCommunicationsOnline", "Yammer"], at: "/supportedServices/\(index)",
                    "a settable supported service")
            }
        },
        SemanticRule(id: "user.create.required", operations: ["POST:/users"]) { body in
            requireMembers(
                body, ["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"])
                + (body["passwordProfile"]?.members != nil
                    ? requireMembers(body["passwordProfile"]!, ["password"], at: "/passwordProfile") : [])
        },
    ]
}
