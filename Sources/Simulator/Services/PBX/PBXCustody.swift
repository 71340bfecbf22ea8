import Crypto
import Foundation
import Synchronization

/// What a 3CX PBX's Microsoft 365 page holds besides the two ids its XAPI takes: the client secret pasted
/// in, its own key pair ("Generate New Key Pair", whose certificate the technician uploads to the app), and
/// whether "Log into Microsoft 365" was done, for which ids. Neither the secret nor the key ever leaves the
/// PBX service: the PBX uses them to sign in, and `/_sim/pbx/{pbx}` shows only what they match.
struct PBXCustody: Sendable {
    struct SignIn: Equatable, Sendable {
        let tenantID: String
        let applicationID: String
    }

    var secret: String?
    var keyPair: (key: PrivateKey, certificate: Certificate)?
    var signedIn: SignIn?
}

/// RSA key pairs made ahead on a background thread, the simulator's one I/O thread never stopping for one while a
/// technician (or a benchmark playing hundreds of them) asks for new key pairs. Each is a distinct RSA-2048 key,
/// as the PBX's page makes, but made from primes shared with other PBXs' keys (SharedPrimeRSA), the first 160 of
/// them read from the vendored `Resources/pbx-primes.txt` (12,720 keys): a prime search for every key was most of
/// the simulator's CPU per customer, and the searches for the shared primes still a third of it in a
/// 1,000-customer run. FIDELITY.md says so.
final class KeyPairSupply: Sendable {
    private let primes = SharedPrimeRSA(madeAhead: KeyPairSupply.vendoredPrimes)
    private let ready = Mutex<[PrivateKey]>([])
    private let filling = Atomic<Bool>(false)
    private let depth = 4

    /// A fresh key: one made ahead if there is one, else made now.
    func take() throws -> PrivateKey {
        let made = ready.withLock { $0.popLast() }
        refill()
        return try made ?? primes.take()
    }

    private func refill() {
        guard filling.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let thread = Thread { [self] in
            while ready.withLock({ $0.count }) < depth, let key = try? primes.take() {
                ready.withLock { $0.append(key) }
            }
            filling.store(false, ordering: .releasing)
        }
        thread.name = "onboarder-sim.keypairs"
        thread.start()
    }

    /// The primes of `Resources/pbx-primes.txt` (hexadecimal, one a line; `#` lines say where they come from).
    static let vendoredPrimes: [String] = {
        guard let url = Bundle.module.url(forResource: "pbx-primes", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { fatalError("the simulator's resource pbx-primes.txt is missing from its bundle") }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map(String.init)
    }()
}
