import Foundation

/// Graph's request-body schema for tests: `GraphBodyValidator` over the vendored subset in `Tests/Fixtures/graph`.
public enum GraphSchema {
    /// Validates `json` as the request body of `operation` (`POST:/applications`): valid, or every problem on a
    /// line of its own (`INVALID at /web/redirectUris: expected an array, found a string`).
    public static func validate(_ json: String, _ operation: String) throws -> (valid: Bool, output: String) {
        let problems = try GraphBodyValidator.vendored().validate(json, operation: operation)
        return (problems.isEmpty, problems.isEmpty ? "VALID" : problems.map(\.description).joined(separator: "\n"))
    }

    /// Validates every Graph request body in a simulator journal (JSON lines); returns the problems, how
    /// many bodies were checked and of which operations.
    public static func validateJournal(_ text: String) throws -> (
        problems: [String], checked: Int, operations: Set<String>
    ) {
        let validator = try GraphBodyValidator.vendored()
        var problems: [String] = []
        var checked = 0
        var operations = Set<String>()
        for line in text.split(separator: "\n") {
            let entry = try StrictJSON.parse(Array(line.utf8))
            guard let path = entry["path"]?.string, path.hasPrefix("/v1.0/"),
                let method = entry["method"]?.string,
                let body = entry["request_body"], body != .null,
                let operation = operation(method, String(path.dropFirst("/v1.0/".count)))
            else { continue }
            let found = validator.validate(body, operation: operation)
            if !found.isEmpty { problems.append("\(operation): " + found.map(\.description).joined(separator: "; ")) }
            checked += 1
            operations.insert(operation)
        }
        return (problems, checked, operations)
    }

    /// `POST:/applications/{application-id}/addPassword` for `POST applications/…/addPassword` (a path
    /// relative to `/v1.0/`): the key of the operation in the schema subset; nil for operations the subset
    /// does not hold (PATCH /users).
    public static func operation(_ method: String, _ path: String) -> String? {
        let parts = path.split(separator: "?")[0].split(separator: "/").map(String.init)
        let placeholders = [
            "applications": "{application-id}", "servicePrincipals": "{servicePrincipal-id}",
            "domains": "{domain-id}", "users": "{user-id}",
        ]
        var template: [String] = []
        for (index, part) in parts.enumerated() {
            if part.hasPrefix("applications(uniqueName=") {
                template.append("applications(uniqueName='{uniqueName}')")
            } else if index == 1, let placeholder = placeholders[parts[0]] {
                template.append(placeholder)
            } else {
                template.append(part)
            }
        }
        let known: Set<String> = [
            "POST:/applications", "PATCH:/applications/{application-id}",
            "PATCH:/applications(uniqueName='{uniqueName}')",
            "POST:/applications/{application-id}/addPassword", "POST:/applications/{application-id}/removePassword",
            "POST:/servicePrincipals", "POST:/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo",
            "POST:/oauth2PermissionGrants", "POST:/domains", "POST:/users", "POST:/users/{user-id}/assignLicense",
        ]
        let operation = "\(method):/" + template.joined(separator: "/")
        return known.contains(operation) ? operation : nil
    }
}
