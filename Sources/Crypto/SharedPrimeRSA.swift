import COpenSSL
import COpenSSLShims
import Synchronization

/// RSA-2048 keys made from a growing set of shared 1024-bit primes: every key is the product of a pair of them,
/// distinct from every other key, with e = 65537. **For the simulator's PBXs only** ("Generate New Key Pair"):
/// two keys of one set share a prime, so anyone holding both public keys factors them (a gcd). A real PBX makes
/// its own key on its own hardware; the simulator shares the machine with what a benchmark measures, and a prime
/// search per key (0.2 s of CPU on this project's standard machine) was most of its CPU per customer. With k
/// primes the set holds k(k − 1)/2 keys: 10,000 keys cost 142 prime searches instead of 20,000 — or none, when the
/// primes were made ahead (the simulator's vendored list): each is then only checked, once, when first used.
package final class SharedPrimeRSA: Sendable {
    /// BIGNUM pointers, never freed (the set lives as long as the simulator); the next pair to use.
    private struct State: @unchecked Sendable {
        var primes: [OpaquePointer] = []
        var pair = (newer: 1, older: 0)
    }
    private let state = Mutex(State())
    /// Primes made ahead (hexadecimal), used in this order before any search.
    private let madeAhead: [String]

    /// `madeAhead`: 1024-bit primes in hexadecimal to use first; one that is not such a prime fails the `take()`
    /// that reaches it (a damaged list is an error, not a weaker key).
    package init(madeAhead: [String] = []) {
        self.madeAhead = madeAhead
    }

    /// A key no earlier call returned.
    package func take() throws(CryptoError) -> PrivateKey {
        let (p, q): (OpaquePointer, OpaquePointer) = try state.withLock { (state) throws(CryptoError) in
            // Pairs in order (1,0) (2,0) (2,1) (3,0)…: a new prime only when the newest one has met every other.
            while state.primes.count <= state.pair.newer {
                state.primes.append(try nextPrime(index: state.primes.count))
            }
            let pair = (state.primes[state.pair.newer], state.primes[state.pair.older])
            state.pair.older += 1
            if state.pair.older == state.pair.newer { state.pair = (state.pair.newer + 1, 0) }
            return pair
        }
        guard let key = COpenSSLShims_RSA_from_primes(p, q) else { throw CryptoError(operation: "RSA key from primes") }
        return PrivateKey(raw: key)
    }

    private func nextPrime(index: Int) throws(CryptoError) -> OpaquePointer {
        guard index < madeAhead.count else {
            guard let prime = COpenSSLShims_RSA_prime(1024) else { throw CryptoError(operation: "RSA prime search") }
            return prime
        }
        guard let prime = COpenSSLShims_RSA_prime_from_hex(madeAhead[index], 1024) else {
            throw CryptoError(operation: "RSA prime made ahead, number \(index + 1): not a usable 1024-bit prime")
        }
        return prime
    }
}
