/// The PBX's user sync selection grown batch by batch: one `SelectedUsers` PATCH per batch of
/// `batchSize` users that adds someone, each carrying the whole selection so far (the PBX replaces the
/// list). Users compare case-blind; those selected already, by the PBX's admin or an earlier try, stay.
enum UserSelection {
    static func updates(adding upns: [String], to selected: [String], batchSize: Int) -> [[String]] {
        var selection = selected
        var updates: [[String]] = []
        var start = 0
        while start < upns.count {
            let batch = upns[start..<min(start + max(1, batchSize), upns.count)]
            let new = batch.filter { upn in !selection.contains { $0.lowercased() == upn.lowercased() } }
            if !new.isEmpty {
                selection += new
                updates.append(selection)
            }
            start += batch.count
        }
        return updates
    }
}
