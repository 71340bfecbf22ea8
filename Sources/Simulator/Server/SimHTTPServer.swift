import CLinux
import Crypto
import Foundation
import SimTLS
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A request as the simulator's handlers see it.
public struct SimRequest: Sendable {
    public let method: String
    /// The path without the query string, percent-decoded.
    public let path: String
    public let query: [String: String]
    /// Header names lowercased.
    public let headers: [String: String]
    public let body: [UInt8]

    package init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// What a handler answers.
public enum SimReply: Sendable {
    /// A response, sent after `delay` (latency injection; the I/O thread never sleeps).
    case respond(SimResponse, delay: Duration)
    /// Close the connection without answering — after the handler has applied the request, this is a
    /// lost response.
    case drop
}

public struct SimResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from an encodable value or a ready JSON string.
    public static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(text.utf8))
    }
}

/// A small HTTP/1.1 server for the simulator: one thread, epoll, keep-alive, pipelining-safe (one
/// request at a time per connection), delayed replies from a timer heap, and the ability to drop a
/// connection on purpose. No dependency: the simulator must never be a benchmark's bottleneck, and it
/// needs to fail in ways (a dropped connection after the work is done) that frameworks make awkward.
///
/// Sendable: the listening state is behind a `Mutex`; connections live on the I/O thread only.
public final class SimHTTPServer: Sendable {
    public typealias Handler = @Sendable (SimRequest) -> SimReply

    public let port: UInt16
    private let listenFD: Int32
    private let epollFD: Int32
    private let wakeFD: Int32
    private let stopping = Atomic<Bool>(false)
    private let finished = Mutex<[CheckedContinuation<Void, Never>]?>([])

    /// Binds 127.0.0.1:`port` (0 picks a free port) and starts serving with `handler`.
    /// With `tls`, every connection speaks HTTPS.
    public init(port: UInt16 = 0, tls: TLSServerContext? = nil, handler: @escaping Handler) throws {
        let fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SimServerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 4096) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw SimServerError("cannot listen on 127.0.0.1:\(port): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.listenFD = fd
        self.epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        self.wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        var listenEvent = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: fd))
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &listenEvent)
        var wakeEvent = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: wakeFD))
        epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &wakeEvent)
        let thread = Thread { [self] in
            var loop = EventLoop(listenFD: fd, epollFD: epollFD, wakeFD: wakeFD, tls: tls, handler: handler)
            loop.run(stopping: stopping)
            close(listenFD)
            close(epollFD)
            close(wakeFD)
            let waiters = finished.withLock { waiters in
                defer { waiters = nil }
                return waiters ?? []
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = "onboarder-sim.http"
        thread.start()
    }

    /// Stops accepting, closes every connection, and returns when the I/O thread has finished.
    public func stop() async {
        stopping.store(true, ordering: .relaxed)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }
}

public struct SimServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The I/O thread's state. Not shared.
private struct EventLoop {
    final class Connection {
        let fd: Int32
        var input: [UInt8] = []
        var output: [UInt8] = []
        var awaitingDelayedReply = false
        var closeAfterWrite = false
        /// HTTPS: the TLS session over `fd`.
        let tls: TLSConnection?
        init(fd: Int32, tls: TLSConnection?) {
            self.fd = fd
            self.tls = tls
        }
    }

    struct Delayed {
        let due: ContinuousClock.Instant
        let fd: Int32
        let bytes: [UInt8]
        let close: Bool
    }

    let listenFD: Int32
    let epollFD: Int32
    let wakeFD: Int32
    let handler: SimHTTPServer.Handler
    let tls: TLSServerContext?
    var connections: [Int32: Connection] = [:]
    var delayed: [Delayed] = []  // kept sorted by due time

    init(
        listenFD: Int32, epollFD: Int32, wakeFD: Int32, tls: TLSServerContext?, handler: @escaping SimHTTPServer.Handler
    ) {
        self.listenFD = listenFD
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.tls = tls
        self.handler = handler
    }

    mutating func run(stopping: borrowing Atomic<Bool>) {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var scratch = [UInt8](repeating: 0, count: 65_536)
        while !stopping.load(ordering: .relaxed) {
            let timeout: Int32
            if let next = delayed.first {
                let wait = ContinuousClock.now.duration(to: next.due)
                timeout =
                    wait <= .zero
                    ? 0
                    : Int32(
                        min(
                            1000,
                            wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000 + 1))
            } else {
                timeout = 1000
            }
            let count = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            if count > 0 {
                for index in 0..<Int(count) {
                    let fd = events[index].data.fd
                    let flags = events[index].events
                    if fd == listenFD {
                        acceptAll()
                    } else if fd == wakeFD {
                        var value: UInt64 = 0
                        _ = read(wakeFD, &value, 8)
                    } else if let connection = connections[fd] {
                        if flags & EPOLLOUT.rawValue != 0 {
                            flush(connection)
                            // A TLS handshake that wanted to write continues in the read path.
                            if connection.tls != nil, connections[fd] != nil {
                                readAvailable(connection, scratch: &scratch)
                            }
                        }
                        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
                        {
                            readAvailable(connection, scratch: &scratch)
                        }
                    }
                }
            }
            sendDueReplies()
        }
        for fd in connections.keys { close(fd) }
        connections = [:]
    }

    mutating func acceptAll() {
        while true {
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { return }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var event = epoll_event(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, data: epoll_data_t(fd: fd))
            epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
            let session = tls.flatMap { try? TLSConnection(context: $0, socket: fd) }
            if tls != nil && session == nil {
                close(fd)
                continue
            }
            connections[fd] = Connection(fd: fd, tls: session)
        }
    }

    mutating func readAvailable(_ connection: Connection, scratch: inout [UInt8]) {
        var sawEOF = false
        if let session = connection.tls {
            // TLS: the handshake runs inside SSL_read; it may also need to write (then EPOLLOUT).
            reading: while true {
                switch scratch.withUnsafeMutableBytes({ session.read(into: $0) }) {
                case .done(let n): connection.input.append(contentsOf: scratch[0..<n])
                case .wantRead: break reading
                case .wantWrite:
                    watchWritable(connection.fd)
                    break reading
                case .closed:
                    sawEOF = true
                    break reading
                }
            }
            processRequests(connection)
            if sawEOF && connection.output.isEmpty && !connection.awaitingDelayedReply {
                closeConnection(connection.fd)
            }
            return
        }
        while true {
            let n = scratch.withUnsafeMutableBytes { read(connection.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                connection.input.append(contentsOf: scratch[0..<n])
            } else if n == 0 {
                sawEOF = true
                break
            } else {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                sawEOF = true
                break
            }
        }
        processRequests(connection)
        if sawEOF && connection.output.isEmpty && !connection.awaitingDelayedReply { closeConnection(connection.fd) }
    }

    mutating func processRequests(_ connection: Connection) {
        while !connection.awaitingDelayedReply, connections[connection.fd] != nil {
            guard let (request, consumed, wantsClose) = HTTPParser.parse(connection.input) else { return }
            connection.input.removeFirst(consumed)
            switch handler(request) {
            case .drop:
                closeConnection(connection.fd)
                return
            case .respond(let response, let delay):
                let bytes = HTTPParser.serialize(response, close: wantsClose)
                if delay <= .zero {
                    connection.output.append(contentsOf: bytes)
                    connection.closeAfterWrite = wantsClose
                    flush(connection)
                } else {
                    connection.awaitingDelayedReply = true
                    let item = Delayed(due: .now + delay, fd: connection.fd, bytes: bytes, close: wantsClose)
                    let position = delayed.firstIndex { $0.due > item.due } ?? delayed.endIndex
                    delayed.insert(item, at: position)
                }
            }
        }
    }

    mutating func sendDueReplies() {
        let now = ContinuousClock.now
        while let first = delayed.first, first.due <= now {
            delayed.removeFirst()
            guard let connection = connections[first.fd] else { continue }
            connection.awaitingDelayedReply = false
            connection.output.append(contentsOf: first.bytes)
            connection.closeAfterWrite = first.close
            flush(connection)
            if connections[first.fd] != nil { processRequests(connection) }
        }
    }

    mutating func watchWritable(_ fd: Int32) {
        var event = epoll_event(
            events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue, data: epoll_data_t(fd: fd))
        epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    mutating func flush(_ connection: Connection) {
        if let session = connection.tls {
            while !connection.output.isEmpty {
                switch connection.output.withUnsafeBytes({ session.write($0) }) {
                case .done(let n): connection.output.removeFirst(n)
                case .wantWrite, .wantRead:
                    watchWritable(connection.fd)
                    return
                case .closed:
                    closeConnection(connection.fd)
                    return
                }
            }
            var event = epoll_event(
                events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, data: epoll_data_t(fd: connection.fd))
            epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, &event)
            if connection.closeAfterWrite { closeConnection(connection.fd) }
            return
        }
        while !connection.output.isEmpty {
            let n = connection.output.withUnsafeBytes { write(connection.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                connection.output.removeFirst(n)
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                var event = epoll_event(
                    events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue,
                    data: epoll_data_t(fd: connection.fd))
                epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, &event)
                return
            } else {
                closeConnection(connection.fd)
                return
            }
        }
        var event = epoll_event(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, data: epoll_data_t(fd: connection.fd))
        epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, &event)
        if connection.closeAfterWrite { closeConnection(connection.fd) }
    }

    mutating func closeConnection(_ fd: Int32) {
        guard connections.removeValue(forKey: fd) != nil else { return }
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        close(fd)
    }
}

/// HTTP/1.1 request parsing (Content-Length bodies) and response serialisation.
enum HTTPParser {
    /// A complete request at the start of `buffer`, the bytes it used, and whether the client asked to close.
    /// Works on bytes: String and Foundation text APIs cost more than the rest of a simulated request.
    static func parse(_ buffer: [UInt8]) -> (SimRequest, Int, Bool)? {
        guard let end = headerEnd(buffer) else { return nil }
        var lines: [Range<Int>] = []
        var lineStart = 0
        var index = 0
        while index < end {
            if buffer[index] == 13 && buffer[index + 1] == 10 {
                lines.append(lineStart..<index)
                index += 2
                lineStart = index
            } else {
                index += 1
            }
        }
        lines.append(lineStart..<end)
        let requestLine = buffer[lines[0]]
        guard let firstSpace = requestLine.firstIndex(of: 32) else { return nil }
        let afterMethod = requestLine.index(after: firstSpace)
        let secondSpace = requestLine[afterMethod...].firstIndex(of: 32) ?? requestLine.endIndex
        let method = String(decoding: requestLine[..<firstSpace], as: UTF8.self)
        let target = requestLine[afterMethod..<secondSpace]
        var headers: [String: String] = [:]
        headers.reserveCapacity(lines.count)
        for range in lines.dropFirst() {
            let line = buffer[range]
            guard let colon = line.firstIndex(of: 58) else { continue }
            var valueStart = line.index(after: colon)
            while valueStart < line.endIndex && (line[valueStart] == 32 || line[valueStart] == 9) { valueStart += 1 }
            var valueEnd = line.endIndex
            while valueEnd > valueStart && (line[valueEnd - 1] == 32 || line[valueEnd - 1] == 9) { valueEnd -= 1 }
            let name = String(decoding: line[..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
            headers[name] = String(decoding: line[valueStart..<valueEnd], as: UTF8.self)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = end + 4
        guard buffer.count >= bodyStart + length else { return nil }
        let question = target.firstIndex(of: 63)
        let path = decode(target[..<(question ?? target.endIndex)], plusIsSpace: false)
        var query: [String: String] = [:]
        if let question {
            for pair in target[target.index(after: question)...].split(separator: 38) {
                let equals = pair.firstIndex(of: 61)
                let name = decode(pair[..<(equals ?? pair.endIndex)], plusIsSpace: true)
                query[name] = equals.map { decode(pair[pair.index(after: $0)...], plusIsSpace: true) } ?? ""
            }
        }
        let request = SimRequest(
            method: method, path: path, query: query, headers: headers,
            body: Array(buffer[bodyStart..<bodyStart + length]))
        let wantsClose = headers["connection"]?.lowercased() == "close"
        return (request, bodyStart + length, wantsClose)
    }

    /// Percent-decoding (and `+` as space in query strings), skipped when there is nothing to decode.
    static func decode(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) -> String {
        guard bytes.contains(where: { $0 == 37 || (plusIsSpace && $0 == 43) }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 65...70: c - 55
            case 97...102: c - 87
            default: nil
            }
        }
        while index < bytes.endIndex {
            let c = bytes[index]
            if c == 37, index + 2 < bytes.endIndex, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(plusIsSpace && c == 43 ? 32 : c)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func headerEnd(_ buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    static func serialize(_ response: SimResponse, close: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(reason(response.status))\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        if !response.headers.contains(where: { $0.0.lowercased() == "date" }) {
            head += "Date: \(httpDate(Date()))\r\n"  // every HTTP/1.1 origin server sends one (RFC 9110 §6.6.1)
        }
        head += "Content-Length: \(response.body.count)\r\n"
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + response.body
    }

    /// IMF-fixdate: `Tue, 01 Dec 2026 00:30:00 GMT`.
    static func httpDate(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        // Interpolation, not String(format:): Foundation's formatting was a twentieth of the simulator's CPU
        // (every answer has a Date).
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let (weekday, month) = (days[Int(parts.tm_wday)], months[Int(parts.tm_mon)])
        let day = "\(weekday), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900)"
        return "\(day) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }
}
