import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Onboarder's log output: one JSON object per line (for journald, Loki, files) or a compact human
/// line (for a terminal). Messages are constant; data goes in metadata keys (`job.id`, `tenant.id`).
public struct OnboarderLogHandler: LogHandler {
    public enum Format: String, Sendable {
        case json, human

        /// `auto`: human when standard error is a terminal, JSON otherwise.
        public static func resolve(_ setting: String) -> Format {
            switch setting {
            case "json": .json
            case "human": .human
            default: isatty(STDERR_FILENO) == 1 ? .human : .json
            }
        }
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let sink: LogSink

    public init(label: String, level: Logger.Level, format: Format, sink: LogSink = .standardError) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Installs the handler for the whole process. Call once, at start-up.
    public static func bootstrap(level: Logger.Level, format: Format) {
        LoggingSystem.bootstrap { label in OnboarderLogHandler(label: label, level: level, format: format) }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let flat = merged.isEmpty ? [] : Self.flatten(merged)
        var line: [UInt8]
        switch format {
        case .json: line = jsonLine(level: event.level, message: "\(event.message)", metadata: flat)
        case .human: line = Array(humanLine(level: event.level, message: "\(event.message)", metadata: flat).utf8)
        }
        line.append(UInt8(ascii: "\n"))
        sink.write(line)
    }

    /// Built byte by byte: a worker logs a line per finished job, and building it through String
    /// interpolation and joins was a quarter of a no-op job's CPU (`scripts/bench queue`, perf).
    func jsonLine(level: Logger.Level, message: String, metadata: [(String, String)]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(160 + message.utf8.count + metadata.count * 32)
        out.append(contentsOf: #"{"ts":""#.utf8)
        Self.appendTimestamp(Date(), to: &out)
        out.append(contentsOf: #"","level":""#.utf8)
        out.append(contentsOf: level.rawValue.utf8)
        out.append(contentsOf: #"","logger":"#.utf8)
        Self.appendJSONString(label, to: &out)
        out.append(contentsOf: #","msg":"#.utf8)
        Self.appendJSONString(message, to: &out)
        for (key, value) in metadata {
            out.append(UInt8(ascii: ","))
            Self.appendJSONString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            Self.appendJSONString(value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// For a terminal: metadata values carry text from outside (tenant names, remote services' errors), so
    /// everything but the level and time goes through `TerminalText.sanitized`.
    func humanLine(level: Logger.Level, message: String, metadata: [(String, String)]) -> String {
        let time = Self.timestamp(Date()).dropFirst(11).dropLast()  // HH:MM:SS.mmm
        let pairs = metadata.map { key, value in
            let shown = TerminalText.sanitized(value)
            return "\(TerminalText.sanitized(key))=\(shown.contains(" ") ? "\"\(shown)\"" : shown)"
        }.joined(separator: " ")
        let levelText = level.rawValue.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0)
        return "\(time) \(levelText) \(TerminalText.sanitized(message))" + (pairs.isEmpty ? "" : "  " + pairs)
    }

    /// Nested metadata becomes dotted keys, sorted so lines diff well.
    static func flatten(_ metadata: Logger.Metadata, prefix: String = "") -> [(String, String)] {
        var out = [(String, String)]()
        out.reserveCapacity(metadata.count)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value {
            case .string(let text): out.append((name, text))
            case .stringConvertible(let convertible): out.append((name, convertible.description))
            case .dictionary(let nested): out += flatten(nested, prefix: name)
            case .array(let values): out.append((name, "[" + values.map { "\($0)" }.joined(separator: ",") + "]"))
            }
        }
        return out
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string literal: quotes, backslashes and control characters escaped; other UTF-8 bytes as they
    /// are, except what `TerminalText` calls unsafe (DEL, C1 controls, bidi overrides), written as `\u`
    /// escapes too: JSON logs are read on terminals as well (`journalctl`, `tail`).
    static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        let start = out.count
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case 0x7F, 0xC2, 0xE2:
                // DEL, or the lead byte of what may be a C1 or bidi control: rare, so the string starts over
                // scalar by scalar rather than every string paying for the look-ahead.
                out.removeSubrange(start...)
                appendJSONStringByScalar(text, to: &out)
                return
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func appendJSONStringByScalar(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case "\\": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case "\n": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case "\r": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case "\t": out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case _ where TerminalText.isUnsafe(scalar):
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u")])
                for shift in [12, 8, 4, 0] { out.append(hexDigits[Int(scalar.value >> UInt32(shift)) & 0xF]) }
            default: UTF8.encode(scalar) { out.append($0) }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `2026-11-27T03:35:54.944Z` (UTC, milliseconds).
    static func appendTimestamp(_ date: Date, to out: inout [UInt8]) {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ count: Int) {
            var divisor: Int32 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        out.append(UInt8(ascii: "T"))
        digits(parts.tm_hour, 2)
        out.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        out.append(UInt8(ascii: ":"))
        digits(parts.tm_sec, 2)
        out.append(UInt8(ascii: "."))
        digits(Int32(milliseconds % 1000), 3)
        out.append(UInt8(ascii: "Z"))
    }

    static func timestamp(_ date: Date) -> String {
        var out = [UInt8]()
        appendTimestamp(date, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Where log lines go. Writes are whole lines, serialised, so lines from many tasks never interleave.
public final class LogSink: Sendable {
    private let write: @Sendable ([UInt8]) -> Void
    private let lock = Mutex(())

    /// A sink that receives each line as a string (tests, custom destinations).
    public init(_ write: @escaping @Sendable (String) -> Void) {
        self.write = { write(String(decoding: $0, as: UTF8.self)) }
    }

    private init(bytes write: @escaping @Sendable ([UInt8]) -> Void) { self.write = write }

    public static let standardError = LogSink(bytes: { bytes in
        // One write(2) per line: lines from several processes sharing the stream stay whole.
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
    })

    func write(_ line: [UInt8]) {
        lock.withLock { _ in write(line) }
    }
}
