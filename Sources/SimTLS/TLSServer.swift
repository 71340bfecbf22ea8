import COpenSSL
import Crypto
import Foundation

/// A TLS server context (certificate and key) for a non-blocking server: the simulator's HTTPS. Its own
/// target, apart from Crypto, because the product only ever speaks TLS as a client (through libcurl).
/// Sendable: immutable after creation; OpenSSL allows one context to serve many connections.
public final class TLSServerContext: @unchecked Sendable {
    let raw: OpaquePointer

    public init(certificate: Certificate, key: PrivateKey) throws(CryptoError) {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw CryptoError(operation: "SSL_CTX_new") }
        raw = context
        guard SSL_CTX_use_certificate(context, certificate.raw) == 1, SSL_CTX_use_PrivateKey(context, key.raw) == 1,
            SSL_CTX_check_private_key(context) == 1
        else { throw CryptoError(operation: "loading the TLS certificate and key") }
    }

    deinit { SSL_CTX_free(raw) }
}

/// TLS over a non-blocking socket. Reads and writes report when they must wait for the socket, as
/// OpenSSL's `SSL_ERROR_WANT_READ` / `WANT_WRITE` do; the handshake happens inside them.
/// Not Sendable: one connection, one thread.
public final class TLSConnection {
    public enum Outcome: Equatable {
        case done(Int)
        case wantRead
        case wantWrite
        case closed
    }

    private let ssl: OpaquePointer

    public init(context: TLSServerContext, socket: Int32) throws(CryptoError) {
        guard let ssl = SSL_new(context.raw) else { throw CryptoError(operation: "SSL_new") }
        self.ssl = ssl
        SSL_set_fd(ssl, socket)
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        let n = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        return n > 0 ? .done(Int(n)) : outcome(n)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let n = SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        return n > 0 ? .done(Int(n)) : outcome(n)
    }

    private func outcome(_ result: Int32) -> Outcome {
        let code = SSL_get_error(ssl, result)
        ERR_clear_error()
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default: return .closed
        }
    }
}

@available(*, unavailable) extension TLSConnection: Sendable {}
