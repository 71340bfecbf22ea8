import Crypto
import Foundation
import Postgres

/// The `.sql` files of a folder, read as UTF-8 with their SHA-256, in name order. Problems (unreadable,
/// not UTF-8) are collected, not thrown, so one message can name every bad file.
enum SQLFolder {
    struct File {
        let name: String
        let path: String
        let sql: String
        let checksum: String
    }

    static func read(_ directory: String, problems: inout [String]) throws(MigrationError) -> [File] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw MigrationError("cannot read the folder \(directory): \(error.localizedDescription)")
        }
        var files = [File]()
        for name in names.sorted() where name.hasSuffix(".sql") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append("\(path): cannot read the file")
                continue
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                problems.append("\(path): not UTF-8 text")
                continue
            }
            let checksum: String
            do { checksum = try Digest.sha256(data).hexString } catch { throw MigrationError("\(path): \(error)") }
            files.append(File(name: name, path: path, sql: sql, checksum: checksum))
        }
        return files
    }

    /// `file:line` for a server error with a position inside `sql`, else `path`.
    static func place(of error: PostgresError, path: String, sql: String) -> String {
        guard let position = error.position, position > 0 else { return path }
        let prefix = sql.prefix(position - 1)
        let line = prefix.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
        return "\(path):\(line)"
    }
}
