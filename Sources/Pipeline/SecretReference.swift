/// Where a secret given at enqueue time is, so that no secret sits in a job's payload in clear. The text
/// forms (what an enqueue file's `pbx_secret` column holds):
///
///     env:NAME                   an environment variable of the worker, whose name starts with one of
///                                `secrets.reference_env_prefixes` (default `PBX_SECRET_`)
///     file:PATH                  a file's whole content (trimmed), inside `secrets.reference_dirs`; a
///                                relative PATH is taken inside the first of them
///     json:PATH#pbx.acme.secret  a string member of a JSON file, inside the same directories
///     sealed:og1.…               sealed with the deployment key for one MSP and customer
///                                (`onboarder secret seal --msp M --customer C`)
///
/// An enqueue row is input from MSP staff: it must never be able to name something the deployment holds
/// (the partner app's secret in the worker's environment, the key file, the partner certificate). Parsing
/// here is syntax only; `SecretReferencePolicy` decides what the deployment allows, and `SecretResolver`
/// checks both again when a worker reads the value, so a row written straight into the database gets no
/// further than one that came through `onboarder enqueue`.
public enum SecretReference: Equatable, Sendable {
    case environment(String)
    case file(String)
    case json(file: String, member: [String])
    case sealed(String)

    /// The longest reference accepted (the SQL side checks the same).
    public static let maxLength = 4096

    public static let forms = "env:NAME, file:PATH, json:PATH#member, sealed:…"

    /// The reference `text` names, or why it names none. Never echoes `text`: a secret pasted where its
    /// reference belongs must not reach a terminal or a log.
    public static func parse(_ text: String) -> Result<SecretReference, SecretReferenceError> {
        guard text.utf8.count <= maxLength else {
            return .failure(.init("a secret reference has at most \(maxLength) bytes"))
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return .failure(.init("a secret reference cannot contain control characters"))
        }
        if let name = text.stripping("env:") {
            guard isEnvironmentName(name) else {
                return .failure(.init("env: needs a variable name (letters, digits, _; not starting with a digit)"))
            }
            return .success(.environment(name))
        }
        if let path = text.stripping("file:") {
            if let problem = pathProblem(path) { return .failure(.init("file: \(problem)")) }
            return .success(.file(path))
        }
        if let rest = text.stripping("json:") {
            let parts = rest.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { return .failure(.init("json: needs PATH#member (a # before the member)")) }
            if let problem = pathProblem(parts[0]) { return .failure(.init("json: \(problem)")) }
            let member = parts[1].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !member.contains(where: \.isEmpty) else {
                return .failure(.init("json: the member after # is a dotted path of names (pbx.acme.secret)"))
            }
            return .success(.json(file: parts[0], member: member))
        }
        if let sealed = text.stripping("sealed:") {
            guard isSealedSyntax(sealed) else {
                return .failure(.init("sealed: needs the og1.… value `onboarder secret seal` printed"))
            }
            return .success(.sealed(sealed))
        }
        return .failure(.init("a secret reference (\(forms)), not the secret itself"))
    }

    /// The AES-GCM associated data of a `sealed:` reference: the MSP and the customer (the tenant key as
    /// enqueued) it was sealed for. A value copied into another MSP's or customer's row does not open.
    public static func sealingContext(msp: String, customer: String) -> String {
        "onboarder.reference/\(msp.lowercased())/\(customer.lowercased())"
    }

    /// What references sealed before they were bound to a customer used; such a value is refused.
    static let unboundSealingContext = "reference"

    static func isEnvironmentName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...128).contains(bytes.count), !(0x30...0x39).contains(bytes[0]) else { return false }
        return bytes.allSatisfy { Validation.isAlphanumeric($0) || $0 == 0x5F }
    }

    /// Absolute or relative, but never `..` (a relative path is taken inside the first allowed directory,
    /// and `..` would walk out of it).
    static func pathProblem(_ path: String) -> String? {
        guard !path.isEmpty else { return "needs a path" }
        guard !path.split(separator: "/").contains("..") else { return "a path cannot contain '..'" }
        return nil
    }

    /// `og1.<key id>.<base64url>`, as `AESGCM.seal` writes it.
    static func isSealedSyntax(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "og1", !parts[1].isEmpty, !parts[2].isEmpty else { return false }
        return parts.dropFirst().allSatisfy { part in
            part.utf8.allSatisfy { Validation.isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F }
        }
    }
}

public struct SecretReferenceError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    func stripping(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
