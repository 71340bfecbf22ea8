// Generated from Tests/Fixtures/graph/graph-permission-ids.json: Graph permission ids cross-checked in two
// independent dumps of the Graph service principal. The client resolves names from the tenant itself and
// compares with these, so a tenant answering with different ids is noticed rather than trusted blindly.
public enum KnownGraphPermissions {
    public static let resourceAppID = "00000003-0000-0000-c000-000000000000"
    public static let appRoles: [String: String] = [
        "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
        "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
        "Calendars.Read": "798ee544-9d2d-430c-a058-570e29e34338",
        "Contacts.Read": "089fe4d0-434a-44c5-8827-41ba8a0b17f5",
        "DelegatedPermissionGrant.ReadWrite.All": "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
        "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "Domain.Read.All": "dbb9058a-0e50-45d7-ae91-66909b5d4664",
        "Domain.ReadWrite.All": "7e05723c-0bb0-42da-be95-ae9f08a6e53c",
        "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
        "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
        "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
        "User.ReadWrite.All": "741f803b-c850-494e-b5df-cde7c675a1ca",
    ]
    public static let scopes: [String: String] = [
        "AppRoleAssignment.ReadWrite.All": "84bccea3-f856-4a8a-967b-dbe0a3d53a64",
        "Application.ReadWrite.All": "bdfbf15f-ee85-4955-8675-146e8e5296b5",
        "Calendars.Read": "465a38f9-76ea-45b9-9f34-9e8b0d4b0b42",
        "Contacts.Read": "ff74d97f-43af-4b68-9f2a-b77ee6968c5d",
        "DelegatedPermissionGrant.ReadWrite.All": "41ce6ca6-6826-4807-84f1-1c82854f7ee5",
        "Directory.Read.All": "06da0dbc-49e2-44d2-8312-53f166ab848a",
        "Directory.ReadWrite.All": "c5366453-9fb0-48a5-a156-24f0c49a4b84",
        "Domain.Read.All": "2f9ee017-59c1-4f1d-9472-bd5529a7b311",
        "Domain.ReadWrite.All": "0b5d694c-a244-4bde-86e6-eb5cd07730fe",
        "Mail.Send": "e383f46e-2787-4529-855e-0e479a3ffac0",
        "Organization.Read.All": "4908d5b9-3fb2-4b1e-9336-1888b7937185",
        "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
        "User.Read.All": "a154be20-db9c-4678-8ab7-66f6cc099a59",
        "User.ReadWrite.All": "204e0828-b5ca-4ad8-b9f3-f32a958e7cc4",
        "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
        "openid": "37f7f235-527c-4136-accd-4a02d197296e",
    ]
}
