import Foundation

/// Whether the PBX's own Microsoft 365 check (`TestSubscription`) passing proves the PBX signs in with the
/// credentials this job made, and if not, what the technician must still do. The XAPI cannot take the
/// secret, the key pair or the sign-in ("Log into Microsoft 365"), so a pass is the only sign the PBX holds
/// them; it counts only when nothing else on the app could have made it pass.
enum HandoverProof: Equatable {
    /// The PBX signs in with this job's credential; `evidence` says how that is known (recorded in an event).
    case proven(evidence: String)
    /// The technician's part is not done: what to do, for this customer, in words.
    case wait(String)
    /// Entra does not know the new credential everywhere yet (within the replication window): look again soon.
    case propagating(String)
    /// Something an operator must settle (credentials on the app that Onboarder did not create).
    case attention(String)

    /// Entra's answers while a new app or credential propagates (invalid secret, unknown app, unknown
    /// certificate, consent not seen yet): within the replication window of adding the secret they mean
    /// "look again soon", after it they mean the PBX holds something wrong.
    static let propagationCodes = ["AADSTS7000215", "AADSTS700016", "AADSTS700027", "AADSTS65001"]

    /// What the job hands over.
    enum Handover: Equatable {
        /// Onboarding: the app's only secret is the job's (`secretKeyID`).
        case onboarding(secretKeyID: String)
        /// Secret rotation: `old` stays on the app until the PBX is seen signing in with `new` later than
        /// Onboarder's own proof sign-in with it (`proof`), or, without the report, until the technician
        /// says so after the hand-over (`handedOverAt`, the new secret shown).
        case rotation(old: String, new: String, proof: ProofTime?, handedOverAt: Date?)
    }

    /// When Onboarder's own proof signed in with the new secret.
    enum ProofTime: Equatable {
        /// As the sign-in report recorded it: Entra's clock, comparable as is.
        case reported(Date)
        /// Onboarder's clock (the report did not show it yet): Entra's may differ by up to `skew`.
        case local(Date)
    }

    /// The per-credential sign-in report (`appCredentialSignInActivities`), as read.
    enum SignIns: Equatable {
        /// Last sign-in per keyId (lower-case).
        case report([String: Date])
        /// The tenant does not serve it (licence, permission): Graph's words.
        case unavailable(String)
        /// Not read (onboarding does not need it).
        case notRead
    }

    struct Observation: Equatable {
        var handover: Handover
        /// `TestSubscription`'s answer.
        var testPassed: Bool
        var testMessage: String?
        /// The app's passwordCredentials' and keyCredentials' identifiers as Graph lists them now.
        var passwordKeyIDs: [String]
        var certificateThumbprints: Set<String>
        /// The certificates Onboarder holds for this tenant (active, superseded, pending or supplied).
        var heldThumbprints: Set<String>
        var signIns: SignIns = .notRead
        /// When the technician last said `onboarder handover done` for this job.
        var handoverDoneAt: Date?
        /// When this job's secret was added (the replication window counts from it).
        var credentialAddedAt: Date?
        var now: Date
        var replicationWindow: TimeInterval
        /// How far apart Onboarder's clock and Entra's may be.
        var skew: TimeInterval = 120
    }

    /// What the technician does for `customer`, spelled out for the wait message.
    struct Todo: Equatable {
        var customer: String
        var pbxURL: String
        var certificateNeeded: Bool

        var pasteSecret: String {
            "enter the client secret in the PBX (Integrations → Microsoft 365 → Client Secret; it is on the hand-over sheet: onboarder handover sheet)"
        }
        var keyPair: String {
            "press Generate New Key Pair on the PBX and give Onboarder the certificate it downloads (onboarder cert add --dir DIR, the file named \(customer).pem)"
        }
        var signIn: String { "press Log into Microsoft 365 on the PBX and sign in as the customer's administrator" }
        var done: String {
            "then run onboarder handover done \(customer) (the job also looks again on its own)"
        }
    }

    /// The pass, attributed or refused, for `observation`; `todo` words the wait.
    static func decide(_ observation: Observation, todo: Todo) -> HandoverProof {
        let o = observation
        let passwords = o.passwordKeyIDs.map { $0.lowercased() }
        let ours: Set<String> =
            switch o.handover {
            case .onboarding(let key): [key.lowercased()]
            case .rotation(let old, let new, _, _): [old.lowercased(), new.lowercased()]
            }
        let foreign = passwords.filter { !ours.contains($0) }
        if !foreign.isEmpty {
            return .attention(
                "The app has client secrets Onboarder did not create (keyIds \(foreign.sorted().joined(separator: ", "))): a PBX check that passes cannot be told to use this job's secret. Remove them from the app (or, if the PBX uses one, let Onboarder's secret replace it), then onboarder retry."
            )
        }
        let unheld = o.certificateThumbprints.subtracting(o.heldThumbprints)
        if !unheld.isEmpty {
            return .attention(
                "The app has certificates Onboarder does not hold (thumbprints \(unheld.sorted().joined(separator: ", "))): add the PBX's with onboarder cert add or remove them from the app, then onboarder retry."
            )
        }
        guard o.testPassed else { return failing(o, todo: todo) }
        switch o.handover {
        case .onboarding(let key):
            guard passwords.contains(key.lowercased()) else {
                return .attention(
                    "This job's client secret (keyId \(key)) is no longer on the app; onboarder retry adds a new one.")
            }
            return .proven(evidence: "TestSubscription passed; the app's only client secret is this job's (\(key))")
        case .rotation(let old, let new, let proof, let handedOverAt):
            return rotation(
                o, old: old.lowercased(), new: new.lowercased(), proof: proof, handedOverAt: handedOverAt, todo: todo)
        }
    }

    /// A passing check during a rotation proves nothing by itself: the old secret still works.
    private static func rotation(
        _ o: Observation, old: String, new: String, proof: ProofTime?, handedOverAt: Date?, todo: Todo
    ) -> HandoverProof {
        let keep =
            "the old secret \(old) is kept until the PBX signs in with the new one \(new)"
        switch o.signIns {
        case .report(let lastSignIn):
            let floor: Date =
                switch proof {
                case .reported(let at): at
                case .local(let at): at.addingTimeInterval(o.skew)
                case nil: handedOverAt ?? .distantFuture
                }
            if let seen = lastSignIn[new], seen > floor {
                return .proven(
                    evidence:
                        "sign-in report: the new secret \(new) signed in at \(seen), after Onboarder's own proof at \(floor)"
                )
            }
            return .wait(
                "waiting for input: \(keep): the sign-in report shows no sign-in with it after Onboarder's own proof (the PBX still uses the old secret). For \(todo.customer) on \(todo.pbxURL): \(todo.pasteSecret), \(todo.done)."
            )
        case .unavailable, .notRead:
            let why: String =
                if case .unavailable(let why) = o.signIns { why } else { "not read" }
            if let done = o.handoverDoneAt, done > (handedOverAt ?? .distantFuture) {
                return .proven(
                    evidence:
                        "technician's word: onboarder handover done at \(done), after the hand-over, and TestSubscription passed (sign-in report unavailable: \(why))"
                )
            }
            return .wait(
                "waiting for input: \(keep), and the sign-in report that would show it is unavailable (\(why)): the technician's word stands in for it. For \(todo.customer) on \(todo.pbxURL): \(todo.pasteSecret), \(todo.done)."
            )
        }
    }

    /// The check fails: propagation within the window, else what the technician must still do, chosen
    /// from the PBX's own words.
    private static func failing(_ o: Observation, todo: Todo) -> HandoverProof {
        let message = o.testMessage ?? "no reason given"
        let recent = o.now.timeIntervalSince(o.credentialAddedAt ?? .distantPast) < o.replicationWindow
        if recent, propagationCodes.contains(where: { message.contains($0) }) {
            return .propagating(message)
        }
        let lower = message.lowercased()
        var steps: [String] = []
        if namesCertificate(message) {
            steps.append(todo.keyPair)
        } else if lower.contains("aadsts7000215") || lower.contains("aadsts7000222") || lower.contains("secret") {
            steps.append(todo.pasteSecret)
        } else if lower.contains("sign") || lower.contains("log into") || lower.contains("logged") {
            steps.append(todo.signIn)
        } else {
            steps = [todo.pasteSecret] + (todo.certificateNeeded ? [todo.keyPair] : []) + [todo.signIn]
        }
        return .wait(
            "waiting for input: the PBX's Microsoft 365 check says \"\(message)\". For \(todo.customer) on \(todo.pbxURL) (Integrations → Microsoft 365): \(steps.joined(separator: "; ")); \(todo.done)."
        )
    }

    /// The PBX's check names its key pair or the certificate on the app (no key pair yet, AADSTS700027: the
    /// certificate it signs with is not the app's): the technician makes one and hands its certificate over.
    static func namesCertificate(_ message: String?) -> Bool {
        let lower = (message ?? "").lowercased()
        return lower.contains("aadsts700027") || lower.contains("key pair") || lower.contains("certificate")
    }

    /// The delay before the next look after `checks` looks: 30 s doubling, at most `cap`.
    static func recheck(checks: Int, cap: Duration) -> Duration {
        let doubled = 30 * (1 << min(max(checks, 0), 20))
        return min(.seconds(doubled), max(cap, .seconds(30)))
    }
}
