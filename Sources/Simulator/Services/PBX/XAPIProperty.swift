/// The kind of value a property of an XAPI entity takes, as `Tests/Fixtures/3cx/xapi-subset.openapi.json`
/// declares it at the top level: a PATCH that gives another kind is refused, as the XAPI's OData layer refuses
/// it, so that no later GET answers outside the schema.
struct XAPIProperty: Sendable {
    enum Kind: String, Sendable {
        case string = "Edm.String", boolean = "Edm.Boolean", integer = "Edm.Int32", object = "a complex type"
    }

    let kind: Kind
    let nullable: Bool

    static func string(nullable: Bool) -> XAPIProperty { XAPIProperty(kind: .string, nullable: nullable) }
    static let nullableBoolean = XAPIProperty(kind: .boolean, nullable: true)
    static let nullableInteger = XAPIProperty(kind: .integer, nullable: true)
    static let nullableObject = XAPIProperty(kind: .object, nullable: true)

    func admits(_ value: JSONValue) -> Bool {
        switch (kind, value) {
        case (_, .null): nullable
        case (.string, .string), (.boolean, .bool), (.object, .object): true
        case (.integer, .number(let number)): number == number.rounded() && abs(number) <= Double(Int32.max)
        default: false
        }
    }
}
