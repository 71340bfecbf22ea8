import Testing

@testable import HTTP

@Suite("Response header lines as libcurl hands them over")
struct ResponseHeaderLineTests {
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\n", ResponseHeaderLine.status),
        ("HTTP/2 429 \r\n", .status),
        (
            "Content-Type: application/json; charset=utf-8\r\n",
            .field(name: "content-type", value: "application/json; charset=utf-8")
        ),
        ("Retry-After:   7 \t\r\n", .field(name: "retry-after", value: "7")),
        (
            "Location: https://graph.example/v1.0/x?a=b:c\r\n",
            .field(name: "location", value: "https://graph.example/v1.0/x?a=b:c")
        ),
        ("X-Empty:\r\n", .field(name: "x-empty", value: "")),
        ("x-ms-ags-diagnostic: {}\n", .field(name: "x-ms-ags-diagnostic", value: "{}")),
        ("X-Name: Zoë ünïcode\r\n", .field(name: "x-name", value: "Zoë ünïcode")),
        ("X-Nbsp: a\u{A0}\r\n", .field(name: "x-nbsp", value: "a\u{A0}")),
        ("\r\n", .other),
        ("no colon here\r\n", .other),
        ("", .other),
        ("HTTP\r\n", .other),
    ])
    func reads(_ text: String, _ expected: ResponseHeaderLine) {
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBytes { ResponseHeaderLine($0) } == expected)
    }
}
