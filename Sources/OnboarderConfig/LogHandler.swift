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
        let flat = Self.flatten(merged)
        let line: String
        switch format {
        case .json: line = jsonLine(level: event.level, message: "\(event.message)", metadata: flat)
        case .human: line = humanLine(level: event.level, message: "\(event.message)", metadata: flat)
        }
        sink.write(line + "\n")
    }

    func jsonLine(level: Logger.Level, message: String, metadata: [(String, String)]) -> String {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp(Date())), ("level", level.rawValue), ("logger", label), ("msg", message),
        ]
        fields += metadata
        return "{" + fields.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",") + "}"
    }

    func humanLine(level: Logger.Level, message: String, metadata: [(String, String)]) -> String {
        let time = Self.timestamp(Date()).dropFirst(11).dropLast()  // HH:MM:SS.mmm
        let pairs = metadata.map { "\($0.0)=\($0.1.contains(" ") ? "\"\($0.1)\"" : $0.1)" }.joined(separator: " ")
        let levelText = level.rawValue.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0)
        return "\(time) \(levelText) \(message)" + (pairs.isEmpty ? "" : "  " + pairs)
    }

    /// Nested metadata becomes dotted keys, sorted so lines diff well.
    static func flatten(_ metadata: Logger.Metadata, prefix: String = "") -> [(String, String)] {
        var out = [(String, String)]()
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

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(s.value, radix: 16).count)
                    + String(s.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let millis = Int(date.timeIntervalSince1970 * 1000) % 1000
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}

/// Where log lines go. Writes are whole lines, serialised, so lines from many tasks never interleave.
public final class LogSink: Sendable {
    private let write: @Sendable (String) -> Void
    private let lock = Mutex(())

    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    public static let standardError = LogSink { line in
        // One write(2) per line: lines from several processes sharing the stream stay whole.
        let bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
    }

    func write(_ line: String) {
        lock.withLock { _ in write(line) }
    }
}
