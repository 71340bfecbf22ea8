import Crypto
import Foundation
import TestSupport
import Testing

@testable import Simulator

@Suite("The simulated PBXs' key pairs")
struct KeyPairSupplyTests {
    /// "Generate New Key Pair" draws on the vendored primes, not on a prime search: the simulator's first keys are
    /// made of the resource's first primes (a supply that searched would give primes of its own).
    @Test func theFirstKeysAreMadeOfTheVendoredPrimes() async throws {
        let vendored = KeyPairSupply.vendoredPrimes
        #expect(vendored.count == 160)
        let supply = KeyPairSupply()
        let first = try await rsaPrimes(ofKeyPEM: try supply.take().pem())
        let second = try await rsaPrimes(ofKeyPEM: try supply.take().pem())
        // The supply makes up to four keys ahead on a thread of its own, so which pairs come first is not fixed:
        // by the second key at most six exist, every one of them from the first four primes (pairs in order
        // (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)), and the two differ.
        let firstFour = Set(vendored.prefix(4))
        #expect(first.count == 2 && first.isSubset(of: firstFour))
        #expect(second.count == 2 && second.isSubset(of: firstFour) && first != second)
    }
}
