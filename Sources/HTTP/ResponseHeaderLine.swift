/// One line libcurl hands the header callback: a status line (a new response begins: after a redirect or a
/// `100 Continue`), a header field, or neither (the blank line that ends the headers, a line without a colon).
///
/// Read byte by byte, on the I/O thread for every header of every response: Foundation's
/// `trimmingCharacters(in:)` had been 4 % of the worker's CPU (issue 23, BENCHMARKS.md). Whitespace is what
/// HTTP calls it (RFC 9110 §5.6.3: space and tab, and the line's CR LF), not Unicode's.
enum ResponseHeaderLine: Equatable {
    case status
    /// The name lowercased (ASCII), the value without the whitespace around it.
    case field(name: String, value: String)
    case other

    init(_ line: UnsafeRawBufferPointer) {
        func isWhitespace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\n")
        }
        var start = line.startIndex
        var end = line.endIndex
        while start < end, isWhitespace(line[start]) { start += 1 }
        while end > start, isWhitespace(line[end - 1]) { end -= 1 }
        let http = "HTTP/".utf8
        if end - start >= http.count, zip(line[start...], http).allSatisfy({ $0 == $1 }) {
            self = .status
            return
        }
        guard let colon = line[start..<end].firstIndex(of: UInt8(ascii: ":")) else {
            self = .other
            return
        }
        // Lower-cased straight into the string's storage: no array between (one allocation a header, if any).
        let nameBytes = UnsafeRawBufferPointer(rebasing: line[start..<colon])
        let name = String(unsafeUninitializedCapacity: nameBytes.count) { storage in
            for (index, byte) in nameBytes.enumerated() {
                storage[index] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            }
            return nameBytes.count
        }
        var valueStart = colon + 1
        while valueStart < end, isWhitespace(line[valueStart]) { valueStart += 1 }
        self = .field(
            name: name,
            value: String(decoding: UnsafeRawBufferPointer(rebasing: line[valueStart..<end]), as: UTF8.self))
    }
}
