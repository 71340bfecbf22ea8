import Graph
import Testing

@testable import Pipeline

@Suite("PasswordPlan: the orphan-password sweep and the secret's lifetime")
struct PasswordPlanTests {
    static let marker = "PBX Secret · onboarder"

    /// Only what Onboarder can prove it made: `<marker> job N`, N one of its jobs of this customer row (here
    /// 1, 2, 5 — this job — and 7, 8), and not recorded.
    @Test(
        arguments: [
            // (the app's passwords as "keyId:displayName", recorded key ids, orphans to remove)
            ([String](), Set<String>(), [String]()),
            (["k1:PBX Secret · onboarder job 1"], ["k1"], []),
            (["K1:PBX Secret · onboarder job 1"], ["k1"], []),
            (["k1:PBX Secret · onboarder job 1", "k2:PBX Secret · onboarder job 2"], ["k1"], ["k2"]),
            (["k1:PBX Secret · onboarder job 1", "k2:PBX Secret · onboarder job 1"], [], ["k1", "k2"]),
            (["k1:Someone else's secret", "k2:PBX Secret"], [], []),
            (["k1:"], [], []),
            // The marker alone, or with no number: anybody can type it.
            (
                ["k1:PBX Secret · onboarder", "k2:PBX Secret · onboarder job", "k3:PBX Secret · onboarder job x"], [],
                []
            ),
            // A job that is not this row's (another customer row of the same tenant, or none at all).
            (["k1:PBX Secret · onboarder job 3", "k2:PBX Secret · onboarder job 99"], [], []),
            (["k1:PBX Secret · onboarder job 5"], [], ["k1"]),
        ] as [([String], Set<String>, [String])])
    func orphans(_ listed: [String], _ recorded: Set<String>, _ expected: [String]) {
        #expect(
            PasswordPlan.orphans(
                listed: Self.passwords(listed), recorded: recorded, marker: Self.marker, job: 5, ours: [1, 2, 5, 7, 8])
                == expected)
    }

    /// Another job's unrecorded password is left while that job may still record it (its secret may be in a
    /// PBX by then); this job's own, and those of jobs that ended, go.
    @Test(
        arguments: [
            // (the app's passwords as "keyId:displayName", jobs still queued/running/waiting, orphans to remove)
            (["k1:PBX Secret · onboarder job 7"], [7], []),
            (["k1:PBX Secret · onboarder job 7"], [], ["k1"]),
            (["k1:PBX Secret · onboarder job 5"], [5], ["k1"]),  // this job's own (job 5)
            (["k1:PBX Secret · onboarder job 7", "k2:PBX Secret · onboarder job 8"], [8], ["k1"]),
            (["k1:PBX Secret · onboarder"], [7], []),  // names no job
        ] as [([String], Set<Int64>, [String])])
    func orphansOfJobsStillAtWork(_ listed: [String], _ busy: Set<Int64>, _ expected: [String]) {
        #expect(
            PasswordPlan.orphans(
                listed: Self.passwords(listed), recorded: [], marker: Self.marker, job: 5, ours: [5, 7, 8],
                busyJobs: busy) == expected)
    }

    static func passwords(_ listed: [String]) -> [GraphPasswordCredential] {
        let json = listed.map {
            let parts = $0.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return #"{"keyId": "\#(parts[0])", "displayName": "\#(parts[1])"}"#
        }
        return graph([GraphPasswordCredential].self, "[\(json.joined(separator: ","))]")
    }

    @Test func theRecordedPasswordIsFoundWhateverItsCase() {
        let passwords = graph([GraphPasswordCredential].self, #"[{"keyId": "AB-12"}]"#)
        #expect(PasswordPlan.isListed("ab-12", in: passwords))
        #expect(!PasswordPlan.isListed("ab-13", in: passwords))
    }

    @Test(
        arguments: [
            (730, nil, 730), (730, 180, 180), (730, 730, 730), (90, 180, 90), (730, 0, 0),
        ] as [(Int, Int?, Int)])
    func lifetime(_ configured: Int, _ cap: Int?, _ expected: Int) {
        #expect(PasswordPlan.lifetimeDays(configured: configured, policyCap: cap) == expected)
    }

    @Test(
        arguments: [(730, 365), (365, 180), (200, 180), (180, 90), (90, 30), (60, 30), (31, 30), (30, nil), (7, nil)]
            as [(Int, Int?)])
    func shorterAfterARefusal(_ days: Int, _ expected: Int?) {
        #expect(PasswordPlan.shorter(than: days) == expected)
    }
}
