import Foundation
import Graph
import Store

/// Graph's answers as JSON, decoded the way the client decodes them (the models have no public initialisers).
func graph<T: Decodable>(_ type: T.Type, _ json: String) -> T {
    try! JSONDecoder().decode(T.self, from: Data(json.utf8))
}

func certificate(_ id: Int64, _ thumbprint: String, _ state: CredentialState) -> StoredCertificate {
    StoredCertificate(
        id: id, state: state, source: "generated", thumbprint: thumbprint, pem: "PEM \(thumbprint)", sealedKey: nil,
        displayName: "certificate \(id)")
}
