import Foundation
import Testing

@testable import Simulator

/// The simulator's hand-written wire formats: the JSON it answers with and the form bodies of the token
/// endpoints, byte for byte what the formats say (Foundation's encoder and decoder are the reference).
@Suite("The simulator's JSON and form bodies")
struct WireFormatTests {
    @Test(arguments: [
        (JSONValue.string("plain"), #""plain""#),
        (.string("quote \" backslash \\ slash /"), #""quote \" backslash \\ slash /""#),
        (.string("line\nreturn\rtab\tbell\u{7}nul-ish\u{1}"), #""line\nreturn\rtab\tbell\u0007nul-ish\u0001""#),
        (.string("ünïcødé € 👍"), "\"ünïcødé € 👍\""),
        (.string(""), #""""#),
        (.number(42), "42"), (.number(-1.5), "-1.5"), (.bool(true), "true"), (.null, "null"),
        (
            .object(["b": .array([.number(1), .string("x")]), "a": .object([:]), "\"k": .null]),
            #"{"\"k":null,"a":{},"b":[1,"x"]}"#
        ),
    ])
    func jsonIsWrittenAsTheFormatSays(_ value: JSONValue, _ expected: String) throws {
        #expect(value.text == expected)
        // Foundation reads it back as the same value.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(value.text.utf8)) == value)
    }

    @Test(arguments: [
        ("a=1&b=two+words&c=%E2%82%AC%20%2B%26%3D", ["a": "1", "b": "two words", "c": "€ +&="]),
        ("empty=&flag", ["empty": "", "flag": ""]),
        ("broken=%zz&short=%4&bad-utf8=%FF%FE", ["broken": "%zz", "short": "%4", "bad-utf8": "%FF%FE"]),
        ("k%65y=v", ["key": "v"]),
        ("assertion=eyJ.a-b_c.d~e", ["assertion": "eyJ.a-b_c.d~e"]),
    ])
    func formBodiesAreDecodedAsTheFormatSays(_ body: String, _ expected: [String: String]) {
        #expect(FormBody.parse(body) == expected)
    }

    @Test func formBodiesRoundTripEveryByte() {
        let fields = ["client_secret": "a+b/c=d&e%f ~ü€\n", "scope": "https://graph.microsoft.com/.default"]
        let encoded = FormBody.encode(fields)
        #expect(
            encoded
                == "client_secret=a%2Bb%2Fc%3Dd%26e%25f%20~%C3%BC%E2%82%AC%0A&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        )
        #expect(FormBody.parse(encoded) == fields)
    }

    /// Every answer's `Date` header: IMF-fixdate (RFC 9110 §5.6.7), two-digit day and time fields.
    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (1_796_083_200, "Tue, 01 Dec 2026 00:00:00 GMT"),
        (1_798_761_599, "Thu, 31 Dec 2026 23:59:59 GMT"),
        (1_764_985_509, "Sat, 06 Dec 2025 01:45:09 GMT"),
    ])
    func datesAreIMFFixdate(_ seconds: Double, _ expected: String) {
        #expect(HTTPParser.httpDate(Date(timeIntervalSince1970: seconds)) == expected)
    }
}

/// The one-object `$filter` of the service principal and grant lists.
@Suite("The simulator's id equality filter")
struct IDEqualityFilterTests {
    @Test(arguments: [
        ("appId eq '00000003-0000-0000-c000-000000000000'", "appId", "00000003-0000-0000-c000-000000000000"),
        ("clientId eq 'ABCDEF-12'", "clientId", "ABCDEF-12"),
    ])
    func readsTheValue(_ filter: String, _ property: String, _ value: String) {
        #expect(IDEqualityFilter.value(of: property, in: filter) == Substring(value))
    }

    @Test(arguments: [
        "appId eq ''", "appId eq 'xyz'", "appId eq '1' or appId eq '2'", "appid eq '12'", "appId  eq '12'",
        "appId eq 12", "appId eq '12", " appId eq '12'", "appId eq '12' ", "clientId eq '12'", "appId eq '1'2'",
    ])
    func refusesAnythingElse(_ filter: String) {
        #expect(IDEqualityFilter.value(of: "appId", in: filter) == nil)
    }
}
