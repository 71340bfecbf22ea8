import Foundation

/// Graph's request-body schema (`shared/reference/graph/validate_body.py --strict`), for tests.
public enum GraphSchema {
    /// The validator: `../shared` beside the project (as on CI), or wherever `ONBOARDER_SHARED_DIR` says;
    /// nil when it is missing.
    public static var validatorPath: String? {
        let shared =
            ProcessInfo.processInfo.environment["ONBOARDER_SHARED_DIR"].map { URL(fileURLWithPath: $0) }
            ?? TestDatabase.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
        let path = shared.appendingPathComponent("reference/graph/validate_body.py").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Validates `json` as the request body of `operation` (`POST:/applications`).
    public static func validate(_ json: String, _ operation: String) async throws -> (valid: Bool, output: String) {
        guard let validator = validatorPath else {
            return (false, "Graph's schema validator is missing: set ONBOARDER_SHARED_DIR to the shared folder")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("body-\(UUID().uuidString).json").path
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (status, output) = try await runCommand(["python3", validator, operation, file, "--strict"])
        return (status == 0 && output.contains("VALID"), output)
    }

    /// Validates every Graph request body in a simulator journal (JSON lines); returns the problems, how
    /// many bodies were checked and of which operations.
    public static func validateJournal(_ text: String) async throws -> (
        problems: [String], checked: Int, operations: Set<String>
    ) {
        var problems: [String] = []
        var checked = 0
        var operations = Set<String>()
        for line in text.split(separator: "\n") {
            guard let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let path = entry["path"] as? String, path.hasPrefix("/v1.0/"),
                let method = entry["method"] as? String,
                let body = entry["request_body"], !(body is NSNull),
                let operation = operation(method, String(path.dropFirst("/v1.0/".count)))
            else { continue }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            let (valid, output) = try await validate(json, operation)
            if !valid { problems.append("\(operation): \(output)") }
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
