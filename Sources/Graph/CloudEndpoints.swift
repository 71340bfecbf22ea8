/// The Microsoft clouds an MSP and its customers can live in. Each is a separate Entra ID and Graph: a
/// partner app of one cloud does not exist in another, and a customer tenant belongs to exactly one.
public enum Cloud: String, CaseIterable, Sendable, Codable {
    /// The global service (commercial, GCC).
    case global
    /// Microsoft 365 US Government GCC High (Azure Government, "L4").
    case usgov
    /// Microsoft 365 operated by 21Vianet in China.
    case china
}

/// Where a cloud's services are, and the resource a Graph token is asked for.
public struct CloudEndpoints: Sendable, Equatable {
    /// Entra ID's authority host, without a trailing slash: tokens at `{login}/{tenant}/oauth2/v2.0/token`.
    public var loginBaseURL: String
    /// Graph v1.0, ending in `/v1.0`.
    public var graphBaseURL: String
    /// The scope of a client-credentials token for Graph: its application ID URI with `/.default`. It names
    /// the cloud's Graph, not the URL requests go to (a simulator serves every cloud at its own address).
    public var graphScope: String
    /// Partner Center's REST API (applicationconsents), where the cloud has one.
    public var partnerCenterBaseURL: String?

    public init(loginBaseURL: String, graphBaseURL: String, graphScope: String, partnerCenterBaseURL: String?) {
        self.loginBaseURL = loginBaseURL
        self.graphBaseURL = graphBaseURL
        self.graphScope = graphScope
        self.partnerCenterBaseURL = partnerCenterBaseURL
    }

    /// Microsoft's published endpoints per cloud: "National cloud deployments" (Microsoft Graph docs,
    /// learn.microsoft.com/graph/deployments) for the Graph and Entra hosts, and Partner Center's REST
    /// reference for its API. GCC High uses `graph.microsoft.us` (DoD would be `dod-graph.microsoft.us`, not
    /// offered here); China's authority is `login.chinacloudapi.cn` (formerly
    /// `login.partner.microsoftonline.cn`). Partner Center is modelled for the global cloud only.
    public static func documented(_ cloud: Cloud) -> CloudEndpoints {
        switch cloud {
        case .global:
            CloudEndpoints(
                loginBaseURL: "https://login.microsoftonline.com", graphBaseURL: "https://graph.microsoft.com/v1.0",
                graphScope: "https://graph.microsoft.com/.default",
                partnerCenterBaseURL: "https://api.partnercenter.microsoft.com")
        case .usgov:
            CloudEndpoints(
                loginBaseURL: "https://login.microsoftonline.us", graphBaseURL: "https://graph.microsoft.us/v1.0",
                graphScope: "https://graph.microsoft.us/.default", partnerCenterBaseURL: nil)
        case .china:
            CloudEndpoints(
                loginBaseURL: "https://login.chinacloudapi.cn",
                graphBaseURL: "https://microsoftgraph.chinacloudapi.cn/v1.0",
                graphScope: "https://microsoftgraph.chinacloudapi.cn/.default", partnerCenterBaseURL: nil)
        }
    }

    /// Graph beta on the same host (the per-credential sign-in report).
    public var graphReportsBaseURL: String {
        graphBaseURL.hasSuffix("/v1.0") ? String(graphBaseURL.dropLast(5)) + "/beta" : graphBaseURL
    }
}
