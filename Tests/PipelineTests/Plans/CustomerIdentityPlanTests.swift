import Graph
import Store
import Testing

@testable import Pipeline

@Suite("One customer, one tenant: the enqueue file's identities and resolve-tenant's claim")
struct CustomerIdentityPlanTests {
    static let id = "7a1f4e2b-1111-4c3d-9e8f-0123456789ab"

    @Test(
        arguments: [
            (id, id), (id.uppercased(), id), ("contoso.example", nil), ("00000000-0000-0000-0000-000000000000", nil),
            ("7a1f4e2b11114c3d9e8f0123456789ab", nil),
        ] as [(String, String?)])
    func aGUIDKeyIsItsOwnTenantID(_ key: String, _ expected: String?) {
        #expect(EnqueueIdentity.tenantID(ofKey: key) == expected)
    }

    /// Later rows naming a tenant an earlier row names: same MSP (another key), another MSP; unresolved rows
    /// are left to the database.
    @Test func aFileNamingOneTenantTwiceHasTheLaterRowsRejected() {
        let rows = [
            EnqueueIdentity.Row(line: 2, msp: "acme", key: "contoso.example", tenantID: Self.id),
            EnqueueIdentity.Row(line: 3, msp: "acme", key: Self.id, tenantID: Self.id),
            EnqueueIdentity.Row(line: 4, msp: "other", key: "contoso-sales.example", tenantID: Self.id),
            EnqueueIdentity.Row(line: 5, msp: "acme", key: "fabrikam.example", tenantID: nil),
            EnqueueIdentity.Row(line: 6, msp: "acme", key: "fabrikam2.example", tenantID: nil),
        ]
        let problems = EnqueueIdentity.duplicates(rows)
        #expect(problems.map(\.line) == [3, 4])
        #expect(problems[0].reason == "\(Self.id) is tenant \(Self.id), the customer contoso.example on line 2")
        #expect(
            problems[1].reason
                == "contoso-sales.example is tenant \(Self.id), MSP acme's customer on line 2: one Entra tenant is one MSP's customer"
        )
    }

    @Test func aLookupThatFailedSaysWhatToDo() {
        #expect(EnqueueIdentity.problem(domain: "c.example", outcome: .tenant(Self.id), loginBaseURL: "L") == nil)
        #expect(
            EnqueueIdentity.problem(domain: "c.example", outcome: .unknown("AADSTS90002: x"), loginBaseURL: "L")
                == "Entra knows no tenant with the domain c.example (AADSTS90002: x): check the domain, or give the tenant id"
        )
        #expect(
            EnqueueIdentity.problem(domain: "c.example", outcome: .failed("HTTP 503"), loginBaseURL: "https://l")
                == "could not look up the tenant id of c.example at https://l (HTTP 503): try again, or enqueue it by tenant id"
        )
    }

    @Test(
        arguments: [
            (CustomerClaim.claimed, nil),
            (
                .heldBy(CustomerHolder(tenant: 1, msp: "acme", key: id, activeJob: 7, activeJobState: "waiting")),
                "Entra tenant \(id) (contoso.example) is already this MSP's customer \(id) (its job 7 is waiting); nothing was written in the tenant. Onboard the customer as \(id) (onboarder enqueue reports its job), then onboarder cancel 9."
            ),
            (
                .heldBy(CustomerHolder(tenant: 1, msp: "other", key: "c.example", activeJob: nil, activeJobState: nil)),
                "Entra tenant \(id) (contoso.example) is already MSP other's customer c.example (it has no active job); nothing was written in the tenant. One Entra tenant is one MSP's customer: onboarder cancel 9, or have MSP other give it up first."
            ),
            (
                .recordedAs("0a0b0c0d-2222-4c3d-9e8f-0123456789ab"),
                "contoso.example was recorded as Entra tenant 0a0b0c0d-2222-4c3d-9e8f-0123456789ab, but its token was issued for tenant \(id): check the customer's domain; nothing was written in the tenant."
            ),
        ] as [(CustomerClaim, String?)])
    func theClaimStopsTheJobNamingTheOtherRow(_ claim: CustomerClaim, _ expected: String?) {
        #expect(
            CustomerClaimPlan.attention(claim, tenantID: Self.id, key: "contoso.example", msp: "acme", job: 9)
                == expected)
    }
}
