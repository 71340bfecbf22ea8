import Foundation
import HTTP

/// Proof that a credential just made works, with a token for it rather than this client's own.
extension GraphClient {
    /// Reads one user with `token` rather than this client's credential: proof that a credential just
    /// made (a new secret, a new certificate) works for its app.
    public func proveAccess(with token: AccessToken, context: FailureContext) async throws {
        let response: HTTPResponse
        do {
            response = try await http.execute(
                HTTPRequest(
                    method: "GET", url: baseURL + "/users?$top=1&$select=id",
                    headers: [("Authorization", "Bearer \(token.value)"), ("Accept", "application/json")]))
        } catch let error as HTTPError {
            throw FailureClassifier.classify(error)
        }
        guard (200..<300).contains(response.status) else {
            throw FailureClassifier.classify(response, context: context)
        }
    }
}
