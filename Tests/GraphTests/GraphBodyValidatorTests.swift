import Foundation
import TestSupport
import Testing

/// One body and what the validator must say of it.
struct BodyCase: Sendable, CustomTestStringConvertible {
    let name: String
    let operation: String
    let body: String
    /// The problem expected (kind and JSON Pointer); nil for a body that must be accepted.
    let expected: (kind: GraphBodyValidator.Problem.Kind, path: String)?
    var rule: String? = nil

    var testDescription: String { name }

    static func accepts(_ name: String, _ operation: String, _ body: String) -> BodyCase {
        BodyCase(name: name, operation: operation, body: body, expected: nil)
    }

    static func refuses(
        _ name: String, _ operation: String, _ body: String, _ kind: GraphBodyValidator.Problem.Kind, at path: String,
        rule: String? = nil
    ) -> BodyCase {
        BodyCase(name: name, operation: operation, body: body, expected: (kind, path), rule: rule)
    }
}

private let createApp = "POST:/applications"
private let patchApp = "PATCH:/applications/{application-id}"
private let addPassword = "POST:/applications/{application-id}/addPassword"
private let createUser = "POST:/users"
private let grant = "POST:/oauth2PermissionGrants"
private let extensionName = "extension_0123456789abcdef0123456789abcdef_costCentre"

/// A certificate entry of a keyCredentials PATCH with `key` and the other members as given.
private func keyCredential(key: String = "\"AQIDBA==\"", _ more: String = "") -> String {
    #"{"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": \#(key)\#(more)}]}"#
}

private func passwordEnding(_ date: String) -> String {
    #"{"passwordCredential": {"displayName": "PBX Secret", "endDateTime": "\#(date)"}}"#
}

private let accepted: [BodyCase] = [
    .accepts(
        "an application naming its own type", createApp,
        ##"{"displayName": "x", "@odata.type": "#microsoft.graph.application"}"##),
    .accepts(
        "a directory extension property on an open type", createApp, #"{"displayName": "x", "\#(extensionName)": "42"}"#
    ),
    .accepts(
        "owners@odata.bind on a navigation collection", createApp,
        #"{"displayName": "x", "owners@odata.bind": ["https://graph.microsoft.com/v1.0/directoryObjects/1"]}"#),
    .accepts(
        "manager@odata.bind on a single navigation property", createUser,
        #"{"accountEnabled": true, "displayName": "A", "mailNickname": "a", "userPrincipalName": "a@contoso.com", "passwordProfile": {"password": "x"}, "manager@odata.bind": "https://graph.microsoft.com/v1.0/users/1"}"#
    ),
    .accepts(
        "@odata.context and @odata.id as strings", patchApp,
        #"{"@odata.context": "x", "@odata.id": "y", "notes": null}"#),
    .accepts("null where anyOf allows it", addPassword, #"{"passwordCredential": null}"#),
    .accepts("a nullable string set to null", patchApp, #"{"description": null}"#),
    .accepts("an empty body object for an action", addPassword, "{}"),
    .accepts(
        "a date-time with a fraction and an offset", addPassword, passwordEnding("2028-11-26T10:15:30.1234567+05:30")),
    .accepts(
        "a date-time with 12 fraction digits and a negative offset", addPassword,
        passwordEnding("2028-11-26T10:15:30.123456789012-08:00")),
    .accepts("a leap day", addPassword, passwordEnding("2028-02-29T00:00:00Z")),
    .accepts("standard base64, padded", patchApp, keyCredential(key: #""AQIDBA==""#)),
    .accepts("standard base64 with + and /, unpadded", patchApp, keyCredential(key: #""+/+/AQ""#)),
    .accepts("base64url", patchApp, keyCredential(key: #""-_-_AQI""#)),
    .accepts("an empty binary", patchApp, #"{"logo": ""}"#),
    .accepts("a whole int32 at its maximum", patchApp, #"{"api": {"requestedAccessTokenVersion": 2147483647}}"#),
    .accepts("an enum value of the schema", patchApp, #"{"nativeAuthenticationApisEnabled": "all"}"#),
    .accepts(
        "a GUID in upper case", "POST:/applications/{application-id}/removePassword",
        #"{"keyId": "9A8B7C6D-1234-4DEF-8ABC-0123456789AB"}"#),
    .accepts(
        "a delegated grant for one user", grant,
        #"{"clientId": "c", "consentType": "Principal", "principalId": "p", "resourceId": "r", "scope": "User.Read Mail.Send"}"#
    ),
    .accepts(
        "settable supported services", "PATCH:/domains/{domain-id}",
        #"{"supportedServices": ["Email", "OfficeCommunicationsOnline"]}"#),
    .accepts(
        "an upsert by unique name", "PATCH:/applications(uniqueName='{uniqueName}')",
        #"{"displayName": "x", "signInAudience": "AzureADMyOrg"}"#),
]

private let refused: [BodyCase] = [
    // Not a body at all.
    .refuses("single quotes", createApp, "{'displayName': 'x'}", .notJSON, at: ""),
    .refuses("a trailing comma", createApp, #"{"displayName": "x",}"#, .notJSON, at: ""),
    .refuses("a lone surrogate", createApp, #"{"displayName": "\ud800"}"#, .notJSON, at: ""),
    .refuses("no body", createApp, "", .missingBody, at: ""),
    .refuses("an operation the subset lacks", "PUT:/applications", "{}", .noSuchOperation, at: ""),
    // Properties Graph does not know (additionalProperties false).
    .refuses(
        "an unknown property", createApp, #"{"displayName": "x", "favouriteColour": "blue"}"#, .unknownProperty,
        at: "/favouriteColour"),
    .refuses(
        "an unknown property of a nested object", createApp,
        #"{"displayName": "x", "web": {"redirectUri": "https://a.example/cb"}}"#, .unknownProperty,
        at: "/web/redirectUri"),
    .refuses(
        "an unknown property inside an array's item", createApp,
        #"{"displayName": "x", "requiredResourceAccess": [{"resourceAppId": "g", "resourceAccess": [{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role", "name": "User.Read.All"}]}]}"#,
        .unknownProperty, at: "/requiredResourceAccess/0/resourceAccess/0/name"),
    .refuses(
        "an unknown parameter of an action", addPassword, #"{"passwordCredential": {}, "force": true}"#,
        .unknownProperty, at: "/force"),
    .refuses(
        "an extension property on a closed type", patchApp, keyCredential(#", "\#(extensionName)": 1"#),
        .unknownProperty, at: "/keyCredentials/0/\(extensionName)"),
    .refuses(
        "an extension property without the app id", createApp, #"{"displayName": "x", "extension_costCentre": "42"}"#,
        .unknownProperty, at: "/extension_costCentre"),
    .refuses(
        "a property given twice", createApp, #"{"displayName": "a", "displayName": "b"}"#, .duplicateProperty,
        at: "/displayName"),
    // Annotations.
    .refuses(
        "@odata.type of an unrelated type", createApp,
        ##"{"displayName": "x", "@odata.type": "#microsoft.graph.user"}"##,
        .badAnnotation, at: "/@odata.type"),
    .refuses(
        "@odata.type of no known type", createApp,
        ##"{"displayName": "x", "@odata.type": "#microsoft.graph.nothing"}"##,
        .badAnnotation, at: "/@odata.type"),
    .refuses(
        "@odata.type without #", createApp, #"{"displayName": "x", "@odata.type": "microsoft.graph.application"}"#,
        .badAnnotation, at: "/@odata.type"),
    .refuses(
        "@odata.type that is no string", createApp, #"{"displayName": "x", "@odata.type": 1}"#, .badAnnotation,
        at: "/@odata.type"),
    .refuses(
        "@odata.type on an action's parameters", addPassword,
        ##"{"@odata.type": "#microsoft.graph.passwordCredential"}"##,
        .badAnnotation, at: "/@odata.type"),
    .refuses(
        "an annotation Graph does not take", createApp, #"{"displayName": "x", "@odata.count": 1}"#, .badAnnotation,
        at: "/@odata.count"),
    .refuses(
        "@odata.bind on a structural property", createApp, #"{"displayName": "x", "notes@odata.bind": "u"}"#,
        .badAnnotation, at: "/notes@odata.bind"),
    .refuses(
        "@odata.bind of one URL for a collection", createApp, #"{"displayName": "x", "owners@odata.bind": "u"}"#,
        .wrongType, at: "/owners@odata.bind"),
    // JSON types.
    .refuses(
        "a string for a boolean", createUser,
        #"{"accountEnabled": "true", "displayName": "A", "mailNickname": "a", "userPrincipalName": "a@contoso.com", "passwordProfile": {"password": "x"}}"#,
        .wrongType, at: "/accountEnabled"),
    .refuses(
        "a number for a boolean", patchApp, #"{"isFallbackPublicClient": 1}"#, .wrongType, at: "/isFallbackPublicClient"
    ),
    .refuses("a number for a string", patchApp, #"{"displayName": 5}"#, .wrongType, at: "/displayName"),
    .refuses(
        "a string for an array", patchApp, #"{"web": {"redirectUris": "https://a.example/cb"}}"#, .wrongType,
        at: "/web/redirectUris"),
    .refuses("an array for an object", patchApp, #"{"web": []}"#, .wrongType, at: "/web"),
    .refuses(
        "a string where an object or null goes", addPassword, #"{"passwordCredential": "secret"}"#, .wrongType,
        at: "/passwordCredential"),
    .refuses("null for a collection", patchApp, #"{"identifierUris": null}"#, .wrongType, at: "/identifierUris"),
    .refuses(
        "null for a non-nullable boolean", patchApp, #"{"oauth2RequirePostResponse": null}"#, .wrongType,
        at: "/oauth2RequirePostResponse"),
    .refuses(
        "a fraction for an int32", patchApp, #"{"api": {"requestedAccessTokenVersion": 2.5}}"#, .wrongType,
        at: "/api/requestedAccessTokenVersion"),
    .refuses("an array for the body", createApp, "[]", .wrongType, at: ""),
    // Values.
    .refuses(
        "an int32 out of range", patchApp, #"{"api": {"requestedAccessTokenVersion": 2147483648}}"#, .outOfRange,
        at: "/api/requestedAccessTokenVersion"),
    .refuses(
        "a value outside the schema's enum", patchApp, #"{"nativeAuthenticationApisEnabled": "some"}"#, .notInEnum,
        at: "/nativeAuthenticationApisEnabled"),
    .refuses(
        "a GUID that is a permission name", createApp,
        #"{"displayName": "x", "requiredResourceAccess": [{"resourceAppId": "g", "resourceAccess": [{"id": "User.Read.All", "type": "Role"}]}]}"#,
        .malformedUUID, at: "/requiredResourceAccess/0/resourceAccess/0/id"),
    .refuses(
        "a GUID too short", "POST:/applications/{application-id}/removePassword", #"{"keyId": "1234"}"#, .malformedUUID,
        at: "/keyId"),
    // The documented rules the schema cannot express.
    .refuses(
        "an application without displayName", createApp, #"{"signInAudience": "AzureADMyOrg"}"#, .missingRequired,
        at: "/displayName",
        rule: "app.displayName.required"),
    .refuses(
        "passwordCredentials by PATCH", patchApp, #"{"passwordCredentials": []}"#, .ruleBroken,
        at: "/passwordCredentials",
        rule: "app.noPasswordOnCreate"),
    .refuses(
        "signInAudience Everyone", createApp, #"{"displayName": "x", "signInAudience": "Everyone"}"#, .notInEnum,
        at: "/signInAudience",
        rule: "app.signInAudience.enum"),
    .refuses(
        "resourceAccess type Delegated", createApp,
        #"{"displayName": "x", "requiredResourceAccess": [{"resourceAppId": "g", "resourceAccess": [{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Delegated"}]}]}"#,
        .notInEnum, at: "/requiredResourceAccess/0/resourceAccess/0/type", rule: "resourceAccess.type.enum"),
    .refuses(
        "51 resource APIs", patchApp,
        #"{"requiredResourceAccess": [\#(Array(repeating: #"{"resourceAppId": "g", "resourceAccess": []}"#, count: 51).joined(separator: ","))]}"#,
        .outOfRange, at: "/requiredResourceAccess", rule: "app.requiredResourceAccess.limits"),
    .refuses(
        "a certificate for signing", patchApp,
        #"{"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Sign", "key": "AQID"}]}"#,
        .ruleBroken, at: "/keyCredentials/0/usage", rule: "keyCredential.typeUsage"),
    .refuses(
        "a key usage Graph does not know", patchApp,
        #"{"keyCredentials": [{"type": "Symmetric", "usage": "Encrypt"}]}"#,
        .notInEnum, at: "/keyCredentials/0/usage", rule: "keyCredential.typeUsage"),
    .refuses(
        "a certificate without its key", patchApp,
        #"{"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify"}]}"#,
        .missingRequired, at: "/keyCredentials/0/key", rule: "keyCredential.typeUsage"),
    .refuses(
        "a service principal without appId", "POST:/servicePrincipals", "{}", .missingRequired, at: "/appId",
        rule: "sp.appId.required"),
    .refuses(
        "a role assignment without appRoleId", "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo",
        #"{"principalId": "33ad69f9-da99-4bed-acd0-3f24235cb296", "resourceId": "9028d19c-26a9-4809-8e3f-20ff73e2d75e"}"#,
        .missingRequired, at: "/appRoleId", rule: "appRoleAssignment.ids"),
    .refuses(
        "a tenant-wide grant naming a user", grant,
        #"{"clientId": "c", "consentType": "AllPrincipals", "principalId": "p", "resourceId": "r", "scope": "User.Read"}"#,
        .ruleBroken, at: "/principalId", rule: "oauth2Grant.fields"),
    .refuses(
        "a one-user grant without the user", grant,
        #"{"clientId": "c", "consentType": "Principal", "resourceId": "r", "scope": "User.Read"}"#,
        .missingRequired, at: "/principalId", rule: "oauth2Grant.fields"),
    .refuses(
        "scopes separated by a comma", grant,
        #"{"clientId": "c", "consentType": "AllPrincipals", "resourceId": "r", "scope": "User.Read,Mail.Send"}"#,
        .ruleBroken, at: "/scope", rule: "oauth2Grant.fields"),
    .refuses(
        "a domain created with more than its id", "POST:/domains", #"{"id": "contoso.com", "isDefault": true}"#,
        .ruleBroken, at: "/isDefault", rule: "domain.create.idOnly"),
    .refuses(
        "a supported service that cannot be set", "PATCH:/domains/{domain-id}", #"{"supportedServices": ["Intune"]}"#,
        .notInEnum, at: "/supportedServices/0", rule: "domain.supportedServices.settable"),
    .refuses(
        "a user without mailNickname", createUser,
        #"{"accountEnabled": true, "displayName": "A", "userPrincipalName": "a@contoso.com", "passwordProfile": {"password": "x"}}"#,
        .missingRequired, at: "/mailNickname", rule: "user.create.required"),
    .refuses(
        "a user without a password", createUser,
        #"{"accountEnabled": true, "displayName": "A", "mailNickname": "a", "userPrincipalName": "a@contoso.com", "passwordProfile": {}}"#,
        .missingRequired, at: "/passwordProfile/password", rule: "user.create.required"),
]

/// Edm.DateTimeOffset texts Graph refuses, each for its own reason.
private let badDateTimes = [
    "2028-11-26", "2028-11-26T00:00:00", "2028-11-26 00:00:00Z", "2028-11-26t00:00:00z", "2027-02-29T00:00:00Z",
    "2028-04-31T00:00:00Z", "2028-13-01T00:00:00Z", "2028-00-10T00:00:00Z", "2028-11-26T24:00:00Z",
    "2028-11-26T00:60:00Z", "2028-11-26T00:00:60Z", "2028-11-26T00:00:00.Z", "2028-11-26T00:00:00.1234567890123Z",
    "2028-11-26T00:00:00+05:60", "2028-11-26T00:00:00+24:00", "2028-11-26T00:00:00+5:00", "2028-11-26T00:00:00+0500",
    "0000-01-01T00:00:00Z", "+2028-11-26T00:00:00Z", "28-11-26T00:00:00Z", "2028-11-26T00:00:00ZZ", "",
]

/// Edm.Binary texts Graph refuses.
private let badBinaries = [
    "not base64!", "QUJD\nREVG", "QUJD REVG", "ab+_", "abcde", "ab=c", "QQ===", "QQ=", "=QQ=", "QUJDRA=\u{00e9}",
]

@Suite("Graph request bodies: the strict validator over the vendored schema")
struct GraphBodyValidatorTests {
    let validator: GraphBodyValidator

    init() throws { validator = try GraphBodyValidator.vendored() }

    static let validSamples: [(file: String, operation: String)] = [
        ("addPassword.json", "POST:/applications/{application-id}/addPassword"),
        ("appRoleAssignedTo.json", "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo"),
        ("assignLicense.json", "POST:/users/{user-id}/assignLicense"),
        ("create-application-bvoip.json", "POST:/applications"),
        ("create-domain.json", "POST:/domains"),
        ("create-user.json", "POST:/users"),
        ("oauth2PermissionGrant.json", "POST:/oauth2PermissionGrants"),
        ("patch-keyCredentials.json", "PATCH:/applications/{application-id}"),
    ]

    static func sample(_ file: String) throws -> String {
        try String(
            contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("Tests/Fixtures/graph/samples/\(file)"),
            encoding: .utf8)
    }

    @Test(arguments: validSamples)
    func theVendoredSamplesAreAccepted(file: String, operation: String) throws {
        let problems = validator.validate(try Self.sample(file), operation: operation)
        #expect(problems.isEmpty, "\(file): \(problems)")
    }

    @Test func theVendoredBadSampleIsRefusedForEachOfItsFaults() throws {
        let problems = validator.validate(try Self.sample("BAD-create-application.json"), operation: createApp)
        let found = Set(problems.map { "\($0.kind) \($0.path)" })
        #expect(
            found == [
                "wrongType /web/redirectUris",
                "malformedUUID /requiredResourceAccess/0/resourceAccess/0/id",
                "wrongType /passwordCredentials",
                "ruleBroken /passwordCredentials",
                "unknownProperty /redirectUri",
            ], "\(problems)")
        #expect(
            problems.contains {
                $0.message == "Property 'redirectUri' does not exist on type 'microsoft.graph.application'"
            })
    }

    @Test(arguments: accepted)
    func bodiesGraphTakesAreAccepted(_ test: BodyCase) {
        let problems = validator.validate(test.body, operation: test.operation)
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test(arguments: refused)
    func eachKindOfFaultIsRefusedWhereItIs(_ test: BodyCase) throws {
        let problems = validator.validate(test.body, operation: test.operation)
        let expected = try #require(test.expected)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.kind == expected.kind && problem.path == expected.path, "\(problem)")
        #expect(problem.rule == test.rule, "\(problem)")
        #expect(!problem.message.isEmpty)
    }

    @Test(arguments: badDateTimes)
    func malformedDateTimesAreRefused(_ text: String) {
        let problems = validator.validate(passwordEnding(text), operation: addPassword)
        #expect(problems.map(\.kind) == [.malformedDateTime], "\(text): \(problems)")
        #expect(problems.first?.path == "/passwordCredential/endDateTime")
    }

    @Test(arguments: badBinaries)
    func malformedBinariesAreRefused(_ text: String) throws {
        let json = String(decoding: try JSONEncoder().encode(text), as: UTF8.self)
        let problems = validator.validate(keyCredential(key: json), operation: patchApp)
        #expect(problems.map(\.kind) == [.malformedBinary], "\(text): \(problems)")
        #expect(problems.first?.path == "/keyCredentials/0/key")
    }

    @Test func aDerivedTypeNamedByODataTypeIsCheckedAsThatType() {
        let record = "microsoft.graph.domainDnsRecord"
        let txt: StrictJSON = .object([
            ("@odata.type", .string("#microsoft.graph.domainDnsTxtRecord")), ("recordType", .string("Txt")),
            ("text", .string("MS=ms12345678")), ("ttl", .number("3600")),
        ])
        #expect(validator.validate(txt, type: record).isEmpty)
        // Without the annotation, `text` is not a property of the base type.
        guard case .object(let members) = txt else { return }
        let plain = StrictJSON.object(members.filter { $0.name != "@odata.type" })
        #expect(validator.validate(plain, type: record).map(\.path) == ["/text"])
        // A base type is not one of its derived types.
        let base: StrictJSON = .object([("@odata.type", .string("#\(record)")), ("recordType", .string("Txt"))])
        #expect(validator.validate(base, type: "microsoft.graph.domainDnsTxtRecord").map(\.kind) == [.badAnnotation])
    }

    /// Every keyword, type and format the vendored schema uses is one the validator reads, and every pattern is
    /// the one its format implies: a refreshed subset with something new fails here, not silently later.
    @Test func everySchemaConstructIsOneTheValidatorReads() throws {
        let document = try StrictJSON.parse(
            try Data(contentsOf: URL(fileURLWithPath: GraphBodyValidator.vendoredDocumentPath)))
        let keywords: Set<String> = [
            "$ref", "allOf", "anyOf", "type", "properties", "items", "nullable", "enum", "format", "pattern",
            "minimum", "maximum", "required", "title", "description", "default", "x-ms-navigationProperty",
            "x-openType",
        ]
        var unread: [String] = []
        var schemasSeen = 0
        func walk(_ schema: StrictJSON, _ at: String) {
            schemasSeen += 1
            for (key, value) in schema.members ?? [] {
                if !keywords.contains(key) { unread.append("\(at): keyword \(key)") }
                switch key {
                case "properties": for (name, property) in value.members ?? [] { walk(property, "\(at).\(name)") }
                case "items": walk(value, "\(at)[]")
                case "allOf", "anyOf": for part in value.array ?? [] { walk(part, at) }
                case "$ref":
                    let name = value.string?.replacingOccurrences(of: "#/components/schemas/", with: "") ?? ""
                    if document["components"]?["schemas"]?[name] == nil {
                        unread.append("\(at): $ref \(name) is missing")
                    }
                default: break
                }
            }
            let type = schema["type"]?.string
            if let type, !["string", "number", "integer", "boolean", "array", "object"].contains(type) {
                unread.append("\(at): type \(type)")
            }
            if let format = schema["format"]?.string {
                let known = type == "string" ? GraphBodyValidator.stringFormats.contains(format) : format == "int32"
                if !known { unread.append("\(at): format \(format) of \(type ?? "no type")") }
            }
            if let pattern = schema["pattern"]?.string,
                schema["format"]?.string.flatMap({ GraphBodyValidator.patternsImpliedByFormat[$0] }) != pattern
            {
                unread.append("\(at): pattern \(pattern)")
            }
        }
        for (name, schema) in document["components"]?["schemas"]?.members ?? [] { walk(schema, name) }
        for operation in validator.operationsWithBodies {
            walk(try #require(validator.requestSchema(of: operation)), operation)
        }
        #expect(unread.isEmpty, "\(unread)")
        #expect(schemasSeen > 1000 && validator.operationsWithBodies.count >= 17)
    }

    @Test func everySemanticCheckNamesARuleOfTheVendoredFileAndAnOperationOfTheSchema() throws {
        let rules = try StrictJSON.parse(
            try Data(
                contentsOf: TestDatabase.repositoryRoot.appendingPathComponent(
                    "Tests/Fixtures/graph/semantic-rules.json")))
        let ids = Set((rules["rules"]?.array ?? []).compactMap { $0["id"]?.string })
        let operations = Set(validator.operationsWithBodies)
        #expect(ids.count >= 20)
        for rule in GraphBodyValidator.semanticRules {
            #expect(ids.contains(rule.id), "\(rule.id) is not in semantic-rules.json")
            #expect(rule.operations.isSubset(of: operations), "\(rule.id): \(rule.operations.subtracting(operations))")
        }
        // Each rule is shown broken by a case of its own above.
        #expect(Set(GraphBodyValidator.semanticRules.map(\.id)) == Set(refused.compactMap(\.rule)))
    }

    @Test func theSimulatorTestsOperationKeysAreTheSchemasOwn() {
        let operations = Set(validator.operationsWithBodies)
        for (method, path) in [
            ("POST", "applications"), ("PATCH", "applications/abc"), ("PATCH", "applications(uniqueName='bvoip-x')"),
            ("POST", "applications/abc/addPassword"), ("POST", "applications/abc/removePassword"),
            ("POST", "servicePrincipals"), ("POST", "servicePrincipals/abc/appRoleAssignedTo"),
            ("POST", "oauth2PermissionGrants"), ("POST", "domains"), ("POST", "users"),
            ("POST", "users/a@b.example/assignLicense"),
        ] {
            let operation = GraphSchema.operation(method, path)
            #expect(operation.map(operations.contains) == true, "\(method) \(path) → \(operation ?? "nil")")
        }
        #expect(GraphSchema.operation("PATCH", "users/abc") == nil)
    }

    @Test func strictJSONKeepsWhatALenientParserHides() throws {
        #expect(try StrictJSON.parse(#"{"a": 1, "a": 1.0, "b": true}"#).members?.map(\.name) == ["a", "a", "b"])
        #expect(try StrictJSON.parse("[1, 1.0, true]") == .array([.number("1"), .number("1.0"), .bool(true)]))
        #expect(try StrictJSON.parse(#""\ud83d\ude00""#) == .string("😀"))
        for bad in ["01", "1.", "-", "[1,]", "{\"a\" 1}", "\"\u{01}\"", "tru", "[1] 2", "\"\\x\"", "{\"a\":1,}"] {
            #expect(throws: StrictJSONError.self, "\(bad)") { try StrictJSON.parse(bad) }
        }
        #expect(throws: StrictJSONError.self) { try StrictJSON.parse(String(repeating: "[", count: 300)) }
    }
}
