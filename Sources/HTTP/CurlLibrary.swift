import CCurl
import CCurlShims

/// The libcurl this binary runs with. The async HTTP client built on it arrives with the Graph client.
public enum CurlLibrary {
    /// libcurl's version and its TLS backend, e.g. `7.88.1 (OpenSSL/3.0.19)`.
    public static var version: String {
        guard let info = CCurlShims_version_info() else { return "unknown" }
        let version = String(cString: info.pointee.version)
        guard let ssl = info.pointee.ssl_version else { return version }
        return "\(version) (\(String(cString: ssl)))"
    }
}
