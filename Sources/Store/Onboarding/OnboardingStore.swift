import Foundation
import Postgres

/// The pipeline's SQL: checkpoints, the per-tenant records and credentials. Every statement is short and
/// none spans a network call; each runs on the executor it is given — the pool, or a connection inside
/// the caller's transaction when a step stores what it made together with its checkpoint.
public enum OnboardingStore {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
