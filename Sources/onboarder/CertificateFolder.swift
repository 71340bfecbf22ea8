import Crypto
import Foundation

/// A certificate file the technician downloaded from a PBX, read and checked: the one parser behind both
/// forms of `onboarder cert add`.
enum PBXCertificateFile {
    /// Why a file is not a certificate `cert add` takes.
    struct Problem: Error, CustomStringConvertible {
        let description: String
        /// The file could not be read at all (missing, a folder, too large), rather than read and refused.
        let unreadable: Bool
    }

    /// A certificate is a few kilobytes; a folder of them or /dev/zero is not one.
    static let maxBytes = 1 << 20

    /// The certificate in `path` (PEM or DER), unexpired at `now`.
    static func load(_ path: String, now: Date = Date()) throws(Problem) -> Certificate {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard exists, !isFolder.boolValue, size <= maxBytes, let data = FileManager.default.contents(atPath: path),
            data.count <= maxBytes
        else {
            throw Problem(description: "cannot read \(path) as a certificate (at most 1 MiB)", unreadable: true)
        }
        return try parse(data, name: path, now: now)
    }

    /// The certificate in `data` (PEM or DER); `name` is the file's, for the messages.
    static func parse(_ data: Data, name: String, now: Date = Date()) throws(Problem) -> Certificate {
        let certificate: Certificate
        do {
            let text = String(decoding: data, as: UTF8.self)
            certificate =
                text.contains("-----BEGIN CERTIFICATE-----")
                ? try Certificate(pem: text) : try Certificate(der: [UInt8](data))
        } catch {
            throw Problem(description: "\(name): not an X.509 certificate in PEM or DER (\(error))", unreadable: false)
        }
        guard certificate.notAfter > now else {
            throw Problem(description: "\(name): the certificate expired on \(certificate.notAfter)", unreadable: false)
        }
        return certificate
    }
}

/// Which customer each file of a `cert add --dir` folder is for. Pure: the folder's file names and its
/// `index.csv` in, assignments and problems out; the command reads the files and finds the customers.
struct CertificateFolderPlan: Equatable {
    /// A file and the customer name it is for (a tenant key, an Entra tenant id or a default domain).
    struct Assignment: Equatable {
        let file: String
        let customer: String
    }

    var assignments: [Assignment] = []
    /// One line per file or index line that cannot be assigned: the file name (or `index.csv:LINE`) and why.
    var problems: [String] = []

    static let indexName = "index.csv"
    static let extensions: Set<String> = ["pem", "cer", "crt"]

    /// Every `.pem|.cer|.crt` file (any case) is for the customer its name without the extension names,
    /// unless `index.csv` (`file,customer`, a header line first) names another customer for it; the index
    /// may also name files with other extensions. Files that are neither (a README, say) are not looked at.
    static func plan(fileNames: [String], index: String?) -> CertificateFolderPlan {
        var plan = CertificateFolderPlan()
        let present = Set(fileNames)
        var indexed: [String: String] = [:]
        var indexOrder: [String] = []
        if let index {
            let lines = index.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
                .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            var sawHeader = false
            for (offset, raw) in lines.enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                let place = "\(indexName):\(offset + 1)"
                if line.isEmpty || line.hasPrefix("#") { continue }
                let fields = csvFields(line).map { $0.trimmingCharacters(in: .whitespaces) }
                if !sawHeader {
                    sawHeader = true
                    if fields.map({ $0.lowercased() }) != ["file", "customer"] {
                        plan.problems.append("\(place): the first line must be the header file,customer")
                        break
                    }
                    continue
                }
                guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                    plan.problems.append("\(place): expected two fields, file,customer")
                    continue
                }
                let (file, customer) = (fields[0], fields[1])
                if file.contains("/") || file == "." || file == ".." || file == indexName {
                    plan.problems.append("\(place): \(file): a file name in the folder, without a path")
                } else if !present.contains(file) {
                    plan.problems.append("\(place): \(file): no such file in the folder")
                } else if indexed[file] != nil {
                    plan.problems.append("\(place): \(file): listed twice")
                } else {
                    indexed[file] = customer
                    indexOrder.append(file)
                }
            }
        }
        for file in fileNames.sorted() where indexed[file] == nil && !file.hasPrefix(".") {
            guard let dot = file.lastIndex(of: "."), extensions.contains(file[file.index(after: dot)...].lowercased())
            else { continue }
            let customer = String(file[..<dot])
            if customer.isEmpty {
                plan.problems.append("\(file): the name before the extension must be the customer")
            } else {
                plan.assignments.append(Assignment(file: file, customer: customer))
            }
        }
        plan.assignments += indexOrder.map { Assignment(file: $0, customer: indexed[$0]!) }
        plan.assignments.sort { ($0.file.lowercased(), $0.file) < ($1.file.lowercased(), $1.file) }
        return plan
    }

    /// The fields of one CSV line (RFC 4180 quoting: "a, b" is one field, "" a quote inside one).
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            if quoted {
                if character == "\"" {
                    // A doubled quote is a quote; a single one ends the quoted part.
                    var lookahead = characters
                    if lookahead.next() == "\"" {
                        field.append("\"")
                        characters = lookahead
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(character)
            }
        }
        fields.append(field)
        return fields
    }
}
