import Foundation

/// One customer's PBX (a 3CX V20 XAPI), served at `/pbx/{name}` — e.g. `/pbx/customer7`. Its identity and
/// XAPI credentials; what its admin configures lives in the PBX service (`PBXSettings`).
public final class SimPBX: Sendable {
    public let name: String
    public let tenantID: UUID
    /// The XAPI client created in the PBX's admin (Integrations → API).
    public let clientID = "onboarder"
    public let clientSecret: String

    init(name: String, tenantID: UUID, clientSecret: String) {
        self.name = name
        self.tenantID = tenantID
        self.clientSecret = clientSecret
    }
}
