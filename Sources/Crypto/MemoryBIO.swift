import COpenSSL
import COpenSSLShims

/// An OpenSSL memory BIO, for PEM in and out. Not Sendable: used within one call.
final class MemoryBIO {
    let raw: OpaquePointer

    /// An empty BIO to write into.
    init() throws(CryptoError) {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError(operation: "BIO_new") }
        raw = bio
    }

    /// A read-only BIO over a copy of `bytes`.
    init(bytes: [UInt8]) throws(CryptoError) {
        // BIO_new_mem_buf does not copy; BIO_write into a fresh memory BIO does.
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError(operation: "BIO_new") }
        raw = bio
        if !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
            guard written == Int32(bytes.count) else { throw CryptoError(operation: "BIO_write") }
        }
    }

    deinit { BIO_free(raw) }

    /// Everything written so far.
    var bytes: [UInt8] {
        var pointer: UnsafeMutablePointer<CChar>?
        let length = COpenSSLShims_BIO_get_mem_data(raw, &pointer)
        guard let pointer, length > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}

@available(*, unavailable) extension MemoryBIO: Sendable {}
