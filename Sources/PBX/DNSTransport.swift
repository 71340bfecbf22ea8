import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A DNS server's address: `host:port`, `[v6 address]:port`, or `host` (port 53).
public struct DNSServer: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16 = 53) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(DNSFormatError) {
        let text = text.trimmingCharacters(in: .whitespaces)
        var host = text
        var port: UInt16 = 53
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw DNSFormatError("\(text): no closing ]") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let number = UInt16(rest.dropFirst()), number > 0 else {
                    throw DNSFormatError("\(text): not [address]:port")
                }
                port = number
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let number = UInt16(text[text.index(after: colon)...]), number > 0 else {
                throw DNSFormatError("\(text): the port is not a number from 1 to 65535")
            }
            port = number
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw DNSFormatError("\(text) is not host:port")
        }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A DNS exchange that got no answer: the server's address and what happened, in words.
public struct DNSTransportError: Error, Sendable, CustomStringConvertible {
    public let server: DNSServer
    public let reason: String

    public var description: String { "\(server): \(reason)" }
}

/// DNS over UDP and TCP (RFC 1035 §4.2) with plain blocking sockets, each exchange on a thread of its own
/// (`offload`) so that a slow server never holds one of Swift's cooperative threads. Exchanges are rare
/// (a few per onboarded customer), so a thread each costs nothing that matters.
enum DNSTransport {
    /// One UDP exchange: the first datagram from `server` whose ID matches the query's, within `timeout`.
    static func udp(_ query: [UInt8], to server: DNSServer, timeout: Duration) throws(DNSTransportError) -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        let fd = try connectedSocket(to: server, udp: true, deadline: deadline)
        defer { close(fd) }
        let sent = query.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == query.count else { throw DNSTransportError(server: server, reason: failure("send")) }
        var buffer = [UInt8](repeating: 0, count: 65_535)
        while true {
            try wait(fd, for: Int16(POLLIN), until: deadline, server: server)
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard received >= 0 else {
                if errno == EINTR || errno == EAGAIN { continue }
                throw DNSTransportError(
                    server: server,
                    reason: errno == ECONNREFUSED ? "nothing answers on UDP port \(server.port)" : failure("recv"))
            }
            // A stray or late datagram (another query's ID) is skipped, as resolvers do.
            if received >= 12, buffer[0] == query[0], buffer[1] == query[1] { return Array(buffer[0..<received]) }
        }
    }

    /// One TCP exchange: the message with its two-byte length, the answer likewise, within `timeout`.
    static func tcp(_ message: [UInt8], to server: DNSServer, timeout: Duration) throws(DNSTransportError) -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        let fd = try connectedSocket(to: server, udp: false, deadline: deadline)
        defer { close(fd) }
        let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
        var written = 0
        while written < framed.count {
            try wait(fd, for: Int16(POLLOUT), until: deadline, server: server)
            let count = framed[written...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else {
                if count < 0, errno == EINTR || errno == EAGAIN { continue }
                throw DNSTransportError(server: server, reason: failure("send"))
            }
            written += count
        }
        func read(_ count: Int) throws(DNSTransportError) -> [UInt8] {
            var output = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                try wait(fd, for: Int16(POLLIN), until: deadline, server: server)
                let received = output[filled...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if received == 0 {
                    throw DNSTransportError(
                        server: server, reason: "the server closed the connection without an answer")
                }
                if received < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw DNSTransportError(server: server, reason: failure("recv"))
                }
                filled += received
            }
            return output
        }
        let length = try read(2)
        return try read(Int(length[0]) << 8 | Int(length[1]))
    }

    /// Runs blocking socket work on a thread of its own.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.name = "onboarder.dns"
            thread.start()
        }
    }

    /// A non-blocking socket connected to the first of the server's addresses that accepts (UDP: the
    /// first address; `connect` only fixes the peer, so answers from anyone else are dropped by the kernel).
    private static func connectedSocket(to server: DNSServer, udp: Bool, deadline: ContinuousClock.Instant)
        throws(DNSTransportError) -> Int32
    {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM
        #endif
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(server.host, String(server.port), &hints, &list)
        guard status == 0, let list else {
            throw DNSTransportError(
                server: server, reason: "cannot resolve \(server.host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let address = entry?.pointee {
            entry = address.ai_next
            let fd = socket(address.ai_family, address.ai_socktype, address.ai_protocol)
            guard fd >= 0 else {
                lastError = failure("socket")
                continue
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if connect(fd, address.ai_addr, address.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else {
                lastError = failure("connect")
                close(fd)
                continue
            }
            do {
                try wait(fd, for: Int16(POLLOUT), until: deadline, server: server)
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error == 0 { return fd }
                lastError =
                    error == ECONNREFUSED
                    ? "nothing listens on TCP port \(server.port)" : "connect: \(String(cString: strerror(error)))"
            } catch {
                lastError = error.reason
            }
            close(fd)
        }
        throw DNSTransportError(server: server, reason: lastError)
    }

    private static func wait(
        _ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant, server: DNSServer
    ) throws(DNSTransportError) {
        while true {
            let left = deadline - ContinuousClock.now
            let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            guard milliseconds > 0 else { throw DNSTransportError(server: server, reason: "no answer in time") }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(milliseconds, 60_000)))
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw DNSTransportError(server: server, reason: failure("poll")) }
        }
    }

    private static func failure(_ call: String) -> String { "\(call): \(String(cString: strerror(errno)))" }
}
