import Testing

@testable import Pipeline
@testable import onboarder

/// A row the database refuses ("row N: …", N counted in its batch of enqueue_many) is reported by its file
/// line: another MSP's customer that became one between enqueue's own check and the write.
@Suite("onboarder enqueue: the database's row refusals by file and line")
struct EnqueueRefusalTests {
    static let rows = [3, 4, 7, 9].map { line in
        EnqueueFile.Row(
            line: line, msp: "acme", tenant: "c\(line).example", priority: 0,
            payload: OnboardingPayload(
                path: "m365", pbxURL: "https://pbx.example", pbxClientID: "x", pbxSecret: "env:X"))
    }

    @Test(
        arguments: [
            (
                "row 1: tenant: c3.example is already a customer of MSP other", 0, 3,
                "tenant: c3.example is already a customer of MSP other"
            ),
            (
                "row 2: pbx_url: the host x is not one of this MSP's allowed PBX hosts", 2, 9,
                "pbx_url: the host x is not one of this MSP's allowed PBX hosts"
            ),
        ] as [(String, Int, Int, String)])
    func aRefusedRowIsNamedByItsLine(_ message: String, _ offset: Int, _ line: Int, _ reason: String) {
        let refused = EnqueueCommand.refusedRow(message, offset: offset, rows: Self.rows)
        #expect(refused?.line == line && refused?.reason == reason)
    }

    @Test(arguments: ["row 9: past the rows", "row x: no number", "permission denied for table jobs", "row 0: zero"])
    func anyOtherMessageIsLeftAsItIs(_ message: String) {
        #expect(EnqueueCommand.refusedRow(message, offset: 0, rows: Self.rows) == nil)
    }
}
