import Crypto
import Foundation
import Postgres
import TestSupport
import Testing

@testable import onboarder

@Suite("onboarder cert add --dir, as built, as an operator", .serialized)
struct CertAddFolderTests {
    /// A certificate as a PBX's "Generate New Key Pair" downloads it.
    static func certificate(_ name: String) throws -> Certificate {
        try Certificate.issue(.init(commonName: "\(name) PBX"), for: try PrivateKey.generateRSA(bits: 2048))
    }

    static func thumbprint(_ certificate: Certificate) throws -> String {
        try certificate.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()
    }

    @Test func aFolderOfCertificatesIsAddedFileByFileAndEveryFailureNamesItsFile() async throws {
        let lab = try await CommandLab("certdir")
        let folder = lab.directory.appendingPathComponent("certificates")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func write(_ name: String, _ data: Data) {
            _ = FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: data)
        }
        let a = try Self.certificate("a")
        let b = try Self.certificate("b")
        let c = try Self.certificate("c")
        // Named after the customer (PEM; DER with the name in capitals), listed in the index under another
        // name, unknown, not a certificate, another MSP's customer, and a file that is not looked at.
        write("a.example.pem", Data(try a.pem.utf8))
        write("B.EXAMPLE.CER", Data(try b.der))
        write("pbx-c.crt", Data(try c.pem.utf8))
        write("nobody.example.pem", Data(try Self.certificate("nobody").pem.utf8))
        write("d.example.crt", Data("not a certificate".utf8))
        write("z.example.pem", Data(try Self.certificate("z").pem.utf8))
        write("README.txt", Data("the PBX certificates".utf8))
        write("index.csv", Data("file,customer\npbx-c.crt,c.example\nmissing.pem,e.example\n".utf8))

        try await TestDatabase.countFunctionCalls(database: lab.name)
        let result = try await lab.onboarder(
            ["cert", "add", "--dir", folder.path, "--actor", "tech.tom"], as: .operator)
        #expect(result.status == 2, "\(result.output)")
        // The three certificates recorded in one call, each on its own.
        #expect(
            try await TestDatabase.functionCalls(
                ["onboarder.supply_certificates", "onboarder.supply_certificate"], on: lab.pool)
                == ["onboarder.supply_certificates": 1])
        let lines = result.output.split(separator: "\n").map(String.init)
        for (file, customer, certificate) in [
            ("a.example.pem", "a.example", a), ("B.EXAMPLE.CER", "b.example", b), ("pbx-c.crt", "c.example", c),
        ] {
            let expected =
                "\(file): certificate \(try Self.thumbprint(certificate)) recorded for \(customer); 1 waiting job(s) resumed"
            #expect(lines.contains(expected), "\(expected)\n\(result.output)")
        }
        for problem in [
            "error: index.csv:3: missing.pem: no such file in the folder",
            "error: nobody.example.pem: no customer nobody.example is known (name the file after the customer, or list it in index.csv)",
            "error: z.example.pem: no customer z.example is known (name the file after the customer, or list it in index.csv)",
        ] {
            #expect(lines.contains(problem), "\(problem)\n\(result.output)")
        }
        #expect(
            lines.contains { $0.hasPrefix("error: d.example.crt: not an X.509 certificate in PEM or DER") },
            "\(result.output)")
        #expect(!result.output.contains("README"))
        #expect(lines.contains("cert add --dir: 4 file(s) or index line(s) not added"))

        // Recorded for the right customers, as the PBX supplied them, by whom.
        let recorded = try await lab.strings(
            """
            SELECT t.tenant_key || ' ' || c.thumbprint || ' ' || c.source || ' ' || c.state
              FROM onboarder.credentials c JOIN onboarder.tenants t ON t.id = c.tenant_id
             WHERE c.kind = 'certificate' ORDER BY t.tenant_key
            """)
        #expect(
            recorded == [
                "a.example \(try Self.thumbprint(a)) pbx supplied", "b.example \(try Self.thumbprint(b)) pbx supplied",
                "c.example \(try Self.thumbprint(c)) pbx supplied",
            ])
        #expect(
            try await lab.strings("SELECT actor FROM onboarder.events WHERE kind = 'certificate_supplied'")
                == ["tech.tom", "tech.tom", "tech.tom"])

        // Every file good (the bad ones gone): exit 0; already recorded ones say so.
        for name in ["nobody.example.pem", "d.example.crt", "z.example.pem", "index.csv"] {
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("pbx-c.crt"))
        let again = try await lab.onboarder(["cert", "add", "--dir", folder.path], as: .operator)
        #expect(again.status == 0, "\(again.output)")
        #expect(
            again.output.contains(
                "a.example.pem: certificate \(try Self.thumbprint(a)) was already recorded for a.example"))

        // The single-file form still works, and still refuses a file that is not a certificate.
        let single = try await lab.onboarder(
            ["cert", "add", "d.example", folder.appendingPathComponent("a.example.pem").path], as: .operator)
        #expect(single.status == 0 && single.output.contains("recorded for d.example; 1 waiting job(s) resumed"))
        write("bad.cer", Data("junk".utf8))
        let bad = try await lab.onboarder(
            ["cert", "add", "d.example", folder.appendingPathComponent("bad.cer").path], as: .operator)
        #expect(bad.status == 1 && bad.output.contains("bad.cer: not an X.509 certificate"), "\(bad.output)")
        // Both forms at once, or neither: a usage error.
        #expect(
            try await lab.onboarder(["cert", "add", "a.example", "--dir", folder.path], as: .operator).status == 64)
        #expect(try await lab.onboarder(["cert", "add"], as: .operator).status == 64)
        // An empty folder is an error, not a success.
        let empty = lab.directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let nothing = try await lab.onboarder(["cert", "add", "--dir", empty.path], as: .operator)
        #expect(nothing.status == 2 && nothing.output.contains("no .pem, .cer or .crt file"), "\(nothing.output)")
        try await lab.close()
    }
}
