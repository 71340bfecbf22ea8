import Foundation
import Graph
import HTTP
import Testing

func response(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
    HTTPResponse(status: status, headers: headers, body: Array(body.utf8), clientRequestID: UUID())
}

func odata(_ code: String, _ message: String) -> String {
    #"{"error":{"code":"\#(code)","message":"\#(message)","innerError":{"date":"2026-11-26T16:00:00","request-id":"req-1","client-request-id":"c"}}}"#
}

func entra(_ code: Int, _ description: String) -> String {
    #"{"error":"invalid_client","error_description":"AADSTS\#(code): \#(description)\r\nTrace ID: t\r\nCorrelation ID: c","error_codes":[\#(code)],"timestamp":"2026-11-26 16:00:00Z","trace_id":"trace-1","correlation_id":"corr-1"}"#
}

@Suite("Failure classification")
struct ClassificationTests {
    let fresh = FailureContext(
        recentlyCreatedObject: true, recentlyCreatedCredential: true, tenantID: "t1", clientID: "c1")
    let settled = FailureContext(tenantID: "t1", clientID: "c1")

    @Test func throttlingAndServerErrorsAreTransientWithRetryAfter() throws {
        let throttled = FailureClassifier.classify(
            response(429, odata("TooManyRequests", "Too many requests"), headers: [("Retry-After", "7")]))
        #expect(throttled.failure == .transient(retryAfter: .seconds(7)))
        #expect(throttled.serverRequestID == "req-1")
        for status in [500, 502, 503, 504, 408, 424] {
            #expect(FailureClassifier.classify(response(status, "")).failure == .transient(retryAfter: nil))
        }
        let date = FailureClassifier.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT")
        #expect(date == .zero)  // in the past: retry now
        #expect(FailureClassifier.parseRetryAfter("120") == .seconds(120))
        #expect(FailureClassifier.parseRetryAfter("soon") == nil)
        // A hostile or broken server (found while building scripts/fuzz): 2^63 seconds and more digits than an Int holds
        // used to reach an overflow trap in the worker; they are a day at most now, as is a far-future date.
        for huge in ["9223372036854775807", "99999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            #expect(FailureClassifier.parseRetryAfter(huge) == FailureClassifier.longestRetryAfter, "\(huge)")
        }
        #expect(FailureClassifier.parseRetryAfter("-5") == nil)
        // Foundation's DateFormatter trapped on text like this (libFuzzer): the HTTP date is parsed by hand.
        #expect(FailureClassifier.parseRetryAfter("T\u{0555}\u{FFFD}\u{FFFD}") == nil)
        #expect(FailureClassifier.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT") == .zero)
        #expect(FailureClassifier.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 UTC") == nil)
        let soon = Date(timeIntervalSinceNow: 90)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let parsed = try #require(FailureClassifier.parseRetryAfter(formatter.string(from: soon)))
        #expect(parsed > .seconds(85) && parsed <= .seconds(90))
        // An error body with an empty message (found by scripts/fuzz) still says what happened.
        let silent = FailureClassifier.classify(response(403, odata("Authorization_RequestDenied", "")))
        #expect(silent.message == "HTTP 403, no message" && silent.code == "Authorization_RequestDenied")
    }

    @Test func replicationLagOnlyJustAfterACreate() {
        let notFound = response(
            404,
            odata(
                "Request_ResourceNotFound",
                "Resource 'x' does not exist or one of its queried reference-property objects are not present."))
        #expect(FailureClassifier.classify(notFound, context: fresh).failure == .replication)
        #expect(FailureClassifier.classify(notFound, context: settled).failure == .invalidRequest)
        let spCreate = response(
            400,
            odata(
                "Request_BadRequest",
                "The appId 'a' of the service principal does not reference a valid application object."))
        #expect(FailureClassifier.classify(spCreate, context: fresh).failure == .replication)
        let reference = response(400, odata("Request_BadRequest", "Not a valid reference update."))
        #expect(FailureClassifier.classify(reference, context: fresh).failure == .replication)
    }

    @Test func credentialPropagationAndItsLimits() {
        let badSecret = response(401, entra(7000215, "Invalid client secret provided."))
        #expect(FailureClassifier.classify(badSecret, context: fresh).failure == .propagation)
        guard case .needsAttention(let fix) = FailureClassifier.classify(badSecret, context: settled).failure else {
            Issue.record("an old secret refused is not propagation")
            return
        }
        #expect(fix.contains("rotate"))
        let unknownCert = response(401, entra(700027, "Client assertion failed signature validation."))
        #expect(FailureClassifier.classify(unknownCert, context: fresh).failure == .propagation)
        let expired = FailureClassifier.classify(
            response(401, entra(7000222, "The provided client secret keys are expired.")), context: fresh)
        #expect(expired.code == "AADSTS7000222")
        if case .needsAttention = expired.failure {} else { Issue.record("an expired secret needs a person") }
    }

    @Test func missingConsentNeedsAttentionWithTheConsentURL() {
        for body in [
            entra(65001, "The user or administrator has not consented."),
            entra(700016, "Application not found in the directory."),
        ] {
            let error = FailureClassifier.classify(response(400, body), context: settled)
            guard case .needsAttention(let fix) = error.failure else {
                Issue.record("\(body) should need attention")
                continue
            }
            #expect(fix.contains("https://login.microsoftonline.com/t1/adminconsent?client_id=c1"))
            #expect(error.serverRequestID == "trace-1")
            #expect(!error.message.contains("Trace ID"))
        }
        let denied = FailureClassifier.classify(
            response(403, odata("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")),
            context: settled)
        if case .needsAttention(let fix) = denied.failure {
            #expect(fix.contains("adminconsent"))
        } else {
            Issue.record("403 denied needs attention")
        }
        let noTenant = FailureClassifier.classify(response(400, entra(90002, "Tenant 'x' not found.")))
        if case .needsAttention(let fix) = noTenant.failure {
            #expect(fix.contains("tenant id"))
        } else {
            Issue.record("90002 needs attention")
        }
    }

    @Test func validationErrorsAreInvalidRequests() {
        let bad = response(400, odata("Request_BadRequest", "Property 'signInAudience' has an invalid value."))
        #expect(FailureClassifier.classify(bad, context: fresh).failure == .invalidRequest)
        let transport = FailureClassifier.classify(
            HTTPError(
                code: .connectionLost, message: "Empty reply from server", method: "POST", url: "https://x/y",
                clientRequestID: UUID(), curlCode: 52))
        #expect(transport.failure == .transient(retryAfter: nil))
    }
}

@Suite("Tokens")
struct TokenTests {
    actor Counter {
        var calls = 0
        func increment() -> Int {
            calls += 1
            return calls
        }
    }

    @Test func oneFetchPerKeyHoweverManyAskAtOnce() async throws {
        let cache = TokenCache()
        let counter = Counter()
        let key = TokenKey(authority: "https://login", tenant: "t", clientID: "c", scope: "s")
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    try await cache.token(for: key) {
                        let n = await counter.increment()
                        try await Task.sleep(for: .milliseconds(50))
                        return AccessToken(value: "token-\(n)", expiresAt: .now + .seconds(3599))
                    }.value
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(await counter.calls == 1)
        #expect(Set(tokens) == ["token-1"])
        // Another tenant is another key.
        let other = TokenKey(authority: "https://login", tenant: "t2", clientID: "c", scope: "s")
        _ = try await cache.token(for: other) { AccessToken(value: "x", expiresAt: .now + .seconds(3599)) }
        #expect(await counter.calls == 1)
    }

    @Test func failuresAreSharedThenRetriedAndExpiringTokensRefreshed() async throws {
        struct Refused: Error {}
        let cache = TokenCache(refreshMargin: .seconds(300))
        let counter = Counter()
        let key = TokenKey(authority: "a", tenant: "t", clientID: "c", scope: "s")
        await #expect(throws: Refused.self) {
            try await cache.token(for: key) {
                _ = await counter.increment()
                throw Refused()
            }
        }
        // Not cached: the next ask fetches again. A token within the refresh margin is replaced.
        let short = try await cache.token(for: key) {
            _ = await counter.increment()
            return AccessToken(value: "short", expiresAt: .now + .seconds(60))
        }
        let fresh = try await cache.token(for: key) {
            _ = await counter.increment()
            return AccessToken(value: "fresh", expiresAt: .now + .seconds(3599))
        }
        #expect(short.value == "short" && fresh.value == "fresh")
        #expect(await counter.calls == 3)
    }

    @Test func theCacheDropsExpiredTokensThenTheOnesClosestToExpiryPastItsCapacity() async throws {
        let cache = TokenCache(capacity: 8)
        func key(_ i: Int) -> TokenKey { TokenKey(authority: "a", tenant: "t\(i)", clientID: "c", scope: "s") }
        // Four expired tokens (a fetch may return one: a clock skew) and four live ones fill it: the sweep at
        // capacity drops the expired ones only.
        for i in 0..<4 {
            _ = try await cache.token(for: key(i)) { AccessToken(value: "old", expiresAt: .now - .seconds(1)) }
        }
        for i in 4..<8 {
            _ = try await cache.token(for: key(i)) { AccessToken(value: "live", expiresAt: .now + .seconds(3000 + i)) }
        }
        #expect(await cache.count == 4)
        // Past the capacity, the live tokens closest to expiry go first; it never holds more than its capacity.
        for i in 8..<40 {
            _ = try await cache.token(for: key(i)) { AccessToken(value: "live", expiresAt: .now + .seconds(3000 + i)) }
            #expect(await cache.count <= 8)
        }
        let counter = Counter()
        _ = try await cache.token(for: key(39)) {
            _ = await counter.increment()
            return AccessToken(value: "again", expiresAt: .now + .seconds(3599))
        }
        _ = try await cache.token(for: key(4)) {
            _ = await counter.increment()
            return AccessToken(value: "again", expiresAt: .now + .seconds(3599))
        }
        // The newest token is still cached; the one closest to expiry was dropped and is fetched again.
        #expect(await counter.calls == 1)
    }

    @Test func assertionClaimsAndFormEncoding() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let claims = ClientAssertionClaims(
            clientID: "c1", tokenURL: "https://login/t/oauth2/v2.0/token", now: now, lifetime: 3600)
        #expect(claims.aud == "https://login/t/oauth2/v2.0/token")
        #expect(claims.iss == "c1" && claims.sub == "c1")
        #expect(claims.exp - claims.nbf == 600)  // capped at Entra's 10 minutes
        #expect(UUID(uuidString: claims.jti) != nil)
        let form = String(
            decoding: FormEncoding.encode([
                ("scope", "https://graph.microsoft.com/.default"), ("client_secret", "a+b/c=d&e~f"),
            ]), as: UTF8.self)
        #expect(form == "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=a%2Bb%2Fc%3Dd%26e~f")
    }
}
