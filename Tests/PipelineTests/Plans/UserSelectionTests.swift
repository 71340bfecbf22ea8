import Testing

@testable import Pipeline

@Suite("UserSelection: the PBX's user sync grown batch by batch")
struct UserSelectionTests {
    @Test(
        arguments: [
            // (users to add, selected already, batch size, the selections sent)
            ([String](), [String](), 100, [[String]]()),
            (["a", "b", "c"], [], 100, [["a", "b", "c"]]),
            (["a", "b", "c"], [], 2, [["a", "b"], ["a", "b", "c"]]),
            (["a", "b", "c"], ["x"], 1, [["x", "a"], ["x", "a", "b"], ["x", "a", "b", "c"]]),
            (["A", "b"], ["a"], 1, [["a", "b"]]),
            (["a", "b"], ["a", "B"], 1, []),
            (["a", "b"], [], 0, [["a"], ["a", "b"]]),
        ] as [([String], [String], Int, [[String]])])
    func updates(_ upns: [String], _ selected: [String], _ batchSize: Int, _ expected: [[String]]) {
        #expect(UserSelection.updates(adding: upns, to: selected, batchSize: batchSize) == expected)
    }
}
