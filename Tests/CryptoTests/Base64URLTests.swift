import Crypto
import Foundation
import Testing

@Suite("base64url (RFC 4648 §5, no padding)")
struct Base64URLTests {
    /// RFC 4648 §10's test vectors, and bytes whose standard encoding has `+` and `/`.
    static let vectors: [(bytes: [UInt8], text: String)] = [
        ([], ""), (Array("f".utf8), "Zg"), (Array("fo".utf8), "Zm8"), (Array("foo".utf8), "Zm9v"),
        (Array("foob".utf8), "Zm9vYg"), (Array("fooba".utf8), "Zm9vYmE"), (Array("foobar".utf8), "Zm9vYmFy"),
        ([0xFB, 0xFF, 0xBF], "-_-_"), ([0xFF, 0xEF], "_-8"), ([0x00], "AA"), ([0xFF], "_w"),
    ]

    @Test(arguments: vectors)
    func encodesAndDecodes(bytes: [UInt8], text: String) {
        #expect(Base64URL.encode(bytes) == text)
        #expect(Base64URL.decode(text) == bytes)
    }

    @Test func agreesWithFoundationOnEveryLength() {
        var random = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let standard = Data(bytes).base64EncodedString()
            let expected = String(standard.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }.filter { $0 != "=" })
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == bytes)
        }
    }

    @Test(arguments: [
        ("Zm9+", "a character of standard base64"), ("Zm9/", "a character of standard base64"),
        ("Zm9vY", "a length no encoding has (4n + 1)"), ("Zm 9", "a space"), ("Zm9v\nA", "a newline"),
        ("Zm9vé", "a character outside ASCII"), ("Zg===", "three padding characters"),
        ("Zh", "unused bits that are not zero (Zg is f)"), ("Zm9", "unused bits that are not zero (Zm8 is fo)"),
        ("Zm9v==", "padding after a complete group"), ("Zg=", "padding that does not complete the group"),
    ])
    func refuses(text: String, why: String) {
        #expect(Base64URL.decode(text) == nil, "\(why)")
    }

    @Test func readsPaddingAsPadding() {
        #expect(Base64URL.decode("Zg==") == Array("f".utf8))
        #expect(Base64URL.decode("Zm8=") == Array("fo".utf8))
    }
}
