/// OData annotations in a request body: `@odata.type` on an object, `keyCredentials@odata.type` on a
/// property. The Graph SDKs send `@odata.type` with every object they serialise; Graph reads annotations as
/// hints about the payload, never as properties, so they are neither refused nor stored.
enum ODataAnnotation {
    static func isAnnotation(_ key: String) -> Bool { key.contains("@") }
}
