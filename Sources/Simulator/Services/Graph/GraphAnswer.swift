import Foundation

/// Graph's OData answers: `$select` honoured and `@odata.context` set, as Graph writes them — an entity
/// `…/$metadata#applications/$entity`, a collection `…/$metadata#applications`, each with the selected
/// properties in parentheses (`#applications(id,appId)/$entity`).
extension GraphCall {
    static let metadata = "https://graph.microsoft.com/v1.0/$metadata#"

    /// The properties `$select` names (nil: every property).
    var selection: [String]? {
        guard let text = request.query["$select"], !text.isEmpty else { return nil }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// Whether `$select` names `property`.
    func selects(_ property: String) -> Bool { selection?.contains(property) ?? false }

    /// `@odata.context` for `path` (an entity set, `applications`, or a navigation,
    /// `servicePrincipals('…')/appRoleAssignedTo`).
    func context(_ path: String, entity: Bool) -> String {
        Self.metadata + path + (selection.map { "(\($0.joined(separator: ",")))" } ?? "") + (entity ? "/$entity" : "")
    }

    /// `object` with only the selected properties (annotations stay).
    func projected(_ object: JSONValue) -> JSONValue {
        guard let selection, case .object(let properties) = object else { return object }
        return .object(properties.filter { selection.contains($0.key) || $0.key.hasPrefix("@") })
    }

    /// One entity of `set` (`applications`, `servicePrincipals`, …).
    func entity(_ status: Int, _ object: JSONValue, set: String, headers: [(String, String)] = []) -> SimResponse {
        guard case .object(var properties) = projected(object) else { return .json(status, object.text) }
        properties["@odata.context"] = .string(context(set, entity: true))
        return .json(status, JSONValue.object(properties).text, headers: headers)
    }

    /// A whole collection in one answer (the navigations Onboarder reads are short: no paging).
    func collection(_ items: [JSONValue], path: String) -> SimResponse {
        .json(
            200,
            JSONValue.object([
                "@odata.context": .string(context(path, entity: false)), "value": .array(items.map(projected)),
            ]).text)
    }

    /// The answer of an action or function returning one complex value (`addPassword`):
    /// `…/$metadata#microsoft.graph.passwordCredential`.
    func value(_ status: Int, _ object: [String: JSONValue], type: String) -> SimResponse {
        var properties = object
        properties["@odata.context"] = .string(Self.metadata + type)
        return .json(status, JSONValue.object(properties).text)
    }
}
