import Foundation

/// Checks a Microsoft Graph request body against the vendored v1.0 schema subset
/// (`Tests/Fixtures/graph/graph-v1.0-subset.openapi.json`) and the documented rules the schema cannot express
/// (`Tests/Fixtures/graph/semantic-rules.json`), as strictly as Graph itself refuses bodies.
///
/// What it reads of the schema:
/// - `$ref` to `#/components/schemas/…`; `allOf` flattened into one object type (a type and its bases, as
///   CSDL inheritance is written); `anyOf` valid when one branch is, where `{"type": "object",
///   "nullable": true}` is the CSDL convention for "or null"; `nullable: true` admits null and nothing else
///   does; `type` (string, number, integer, boolean, array, object); `enum`; `items`; `required`;
///   `minimum` / `maximum`.
/// - Formats, checked by hand rather than by the schema's regular expressions: `date-time` (Edm.DateTimeOffset,
///   RFC 3339 `YYYY-MM-DDThh:mm:ss[.f…]` with `Z` or `±hh:mm`, a real calendar day), `uuid`, `base64url`
///   (Edm.Binary: RFC 4648 base64 or base64url, one alphabet, padding optional but only at the end),
///   `duration` (Edm.Duration), `time` (Edm.TimeOfDay), `int32` (a whole number in range). A `pattern` is
///   accepted only where it is the one its format already implies; any other pattern or an unknown format is
///   reported, so a schema refresh cannot add a constraint that silently goes unchecked.
/// - Objects with declared properties are closed: any other property is "Property 'x' does not exist on type
///   'y'", as `validate_body.py --strict` had it and Graph answers. Beyond the declared properties an object
///   may carry `@odata.type` naming its own type or one derived from it (the object is then checked as that
///   type, as Graph does), `@odata.id` / `@odata.context` / `@odata.etag` as strings, `nav@odata.bind` for a
///   declared navigation property, and, on open types (`x-openType`, the directory objects), directory
///   extension properties `extension_<app id without dashes>_<name>`. Any other annotation is refused.
///   A property given twice is refused (OData requires unique names).
public struct GraphBodyValidator: Sendable {
    /// One reason a body is refused.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable, CaseIterable {
            case notJSON, noSuchOperation, missingBody
            case unknownProperty, duplicateProperty, badAnnotation
            case wrongType, notInEnum, missingRequired, outOfRange
            case malformedDateTime, malformedBinary, malformedUUID, malformedDuration, malformedTime
            /// A rule of `semantic-rules.json` the schema cannot express (`rule` names it).
            case ruleBroken
            /// The schema uses something this validator does not check: fix the validator, not the body.
            case unsupportedSchema
        }

        public let kind: Kind
        /// JSON Pointer to the offending value (`/web/redirectUris/0`); empty for the body itself.
        public let path: String
        public let message: String
        /// The id in `semantic-rules.json` when a documented rule, not the schema, refused it.
        public let rule: String?

        public init(_ kind: Kind, at path: String, _ message: String, rule: String? = nil) {
            self.kind = kind
            self.path = path
            self.message = message
            self.rule = rule
        }

        public var description: String {
            "INVALID at \(path.isEmpty ? "/" : path): \(message)" + (rule.map { " [\($0)]" } ?? "")
        }
    }

    let paths: StrictJSON
    let schemas: [String: StrictJSON]
    /// `components.responses`, the named answers an operation's `responses` may refer to.
    let responses: StrictJSON?
    /// Each named type's base type (the `$ref` in its `allOf`), for `@odata.type` of derived types.
    let baseType: [String: String]

    public init(document: StrictJSON) throws {
        guard let paths = document["paths"], let schemas = document["components"]?["schemas"]?.members else {
            throw GraphBodyValidatorError("the document has no paths or no components.schemas")
        }
        self.paths = paths
        responses = document["components"]?["responses"]
        self.schemas = Dictionary(schemas.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        var bases: [String: String] = [:]
        for (name, schema) in schemas {
            if let base = schema["allOf"]?.array?.compactMap({ $0["$ref"]?.string }).first {
                bases[name] = Self.referencedName(base)
            }
        }
        baseType = bases
    }

    public init(contentsOf path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try self.init(document: try StrictJSON.parse(data))
    }

    /// The vendored subset, inside the repository.
    public static var vendoredDocumentPath: String {
        TestDatabase.repositoryRoot.appendingPathComponent("Tests/Fixtures/graph/graph-v1.0-subset.openapi.json").path
    }

    private static let loaded = Result { try GraphBodyValidator(contentsOf: vendoredDocumentPath) }

    /// The validator over the vendored subset, read once per process.
    public static func vendored() throws -> GraphBodyValidator { try loaded.get() }

    /// The 3CX XAPI subset (`Tests/Fixtures/3cx/xapi-subset.openapi.json`): the same OpenAPI dialect, so the
    /// same validator checks the simulated PBX's answers.
    public static var vendoredXAPIDocumentPath: String {
        TestDatabase.repositoryRoot.appendingPathComponent("Tests/Fixtures/3cx/xapi-subset.openapi.json").path
    }

    /// The schema of the JSON answer `operation` (`GET:/Microsoft365Integration`) gives with `status`: the
    /// status's own response, else `default`, following a `$ref` to `components.responses`. nil when that
    /// answer has no JSON body (a 204) or the subset lacks the operation.
    public func responseSchema(of operation: String, status: Int) -> StrictJSON? {
        guard let colon = operation.firstIndex(of: ":") else { return nil }
        let method = operation[..<colon].lowercased()
        let answers = paths[String(operation[operation.index(after: colon)...])]?[method]?["responses"]
        guard var answer = answers?[String(status)] ?? answers?["default"] else { return nil }
        if let reference = answer["$ref"]?.string {
            guard let named = responses?[Self.referencedName(reference)] else { return nil }
            answer = named
        }
        return answer["content"]?["application/json"]?["schema"]
    }

    /// The problems of `body` as the answer `operation` gives with `status`; empty when it follows the schema.
    public func validateResponse(_ body: StrictJSON, operation: String, status: Int) -> [Problem] {
        guard let schema = responseSchema(of: operation, status: status) else {
            return [
                Problem(.noSuchOperation, at: "", "the schema subset has no JSON answer \(status) for \(operation)")
            ]
        }
        var problems: [Problem] = []
        check(body, schema, typeName: nil, at: "", into: &problems)
        return problems
    }

    /// The request body's schema of `POST:/applications`-style operation keys; nil when the subset has none.
    public func requestSchema(of operation: String) -> StrictJSON? {
        guard let colon = operation.firstIndex(of: ":") else { return nil }
        let method = operation[..<colon].lowercased()
        let path = String(operation[operation.index(after: colon)...])
        return paths[path]?[method]?["requestBody"]?["content"]?["application/json"]?["schema"]
    }

    /// Every operation of the subset that takes a JSON body.
    public var operationsWithBodies: [String] {
        (paths.members ?? []).flatMap { path, item in
            (item.members ?? []).compactMap { method, operation in
                operation["requestBody"] == nil ? nil : "\(method.uppercased()):\(path)"
            }
        }
    }

    /// The problems of `body` as the request body of `operation` (`POST:/applications/{application-id}/addPassword`);
    /// empty when Graph would take it.
    public func validate(_ body: String, operation: String) -> [Problem] {
        guard !body.utf8.isEmpty else { return [Problem(.missingBody, at: "", "\(operation) needs a JSON body")] }
        do {
            return validate(try StrictJSON.parse(body), operation: operation)
        } catch {
            return [Problem(.notJSON, at: "", "the body is \(error)")]
        }
    }

    public func validate(_ body: StrictJSON, operation: String) -> [Problem] {
        guard let schema = requestSchema(of: operation) else {
            return [Problem(.noSuchOperation, at: "", "the schema subset has no request body for \(operation)")]
        }
        var problems: [Problem] = []
        check(body, schema, typeName: nil, at: "", into: &problems)
        for rule in Self.semanticRules where body.members != nil && rule.operations.contains(operation) {
            problems += rule.check(body).map { Problem($0.kind, at: $0.path, $0.message, rule: rule.id) }
        }
        return problems
    }

    /// The problems of `value` as an instance of the named type (`microsoft.graph.domainDnsRecord`), schema
    /// checks only (the documented rules belong to operations).
    public func validate(_ value: StrictJSON, type: String) -> [Problem] {
        var problems: [Problem] = []
        check(
            value, .object([("$ref", .string("#/components/schemas/\(type)"))]), typeName: nil, at: "", into: &problems)
        return problems
    }

    // MARK: The schema

    static func referencedName(_ reference: String) -> String {
        String(reference.split(separator: "/").last ?? "")
    }

    /// Whether `type` is `base` or derives from it.
    func isType(_ type: String, derivedFrom base: String) -> Bool {
        var current: String? = type
        var steps = 0
        while let name = current, steps < 64 {
            if name == base { return true }
            current = baseType[name]
            steps += 1
        }
        return false
    }

    /// `{"type": "object", "nullable": true}`: in an `anyOf`, the CSDL-derived subset's way of saying "or null".
    static func isNullMarker(_ schema: StrictJSON) -> Bool {
        guard let members = schema.members, members.count == 2 else { return false }
        return schema["type"] == .string("object") && schema["nullable"] == .bool(true)
    }

    /// An object type with its bases' properties folded in.
    struct ObjectShape {
        var typeName: String?
        var properties: [String: StrictJSON] = [:]
        var navigation: Set<String> = []
        var open = false
        var required: [String] = []
    }

    func shape(of schema: StrictJSON, typeName: String?) -> ObjectShape {
        var shape = ObjectShape(typeName: typeName)
        fold(schema, into: &shape, depth: 0)
        return shape
    }

    private func fold(_ schema: StrictJSON, into shape: inout ObjectShape, depth: Int) {
        guard depth < 32 else { return }
        if let reference = schema["$ref"]?.string, let target = schemas[Self.referencedName(reference)] {
            fold(target, into: &shape, depth: depth + 1)
            return
        }
        for part in schema["allOf"]?.array ?? [] { fold(part, into: &shape, depth: depth + 1) }
        for (name, property) in schema["properties"]?.members ?? [] {
            shape.properties[name] = property
            if property["x-ms-navigationProperty"] == .bool(true) { shape.navigation.insert(name) }
        }
        if schema["x-openType"] == .bool(true) { shape.open = true }
        shape.required += (schema["required"]?.array ?? []).compactMap(\.string)
    }

    /// What a schema accepts, for "expected …" messages.
    func expectation(_ schema: StrictJSON) -> String {
        if let reference = schema["$ref"]?.string { return "a \(Self.referencedName(reference)) object" }
        if Self.isNullMarker(schema) { return "null" }
        if let branches = schema["anyOf"]?.array { return branches.map(expectation).joined(separator: " or ") }
        if schema["allOf"] != nil { return "an object" }
        let type = schema["type"]?.string ?? "any value"
        let article = ["array", "object", "integer"].contains(type) ? "an" : "a"
        var text = "\(article) \(type)"
        if let format = schema["format"]?.string { text += " (\(format))" }
        if schema["nullable"] == .bool(true) { text += " or null" }
        return text
    }

    // MARK: Values

    func check(
        _ value: StrictJSON, _ schema: StrictJSON, typeName: String?, at path: String, into problems: inout [Problem]
    ) {
        if let reference = schema["$ref"]?.string {
            let name = Self.referencedName(reference)
            guard let target = schemas[name] else {
                problems.append(
                    Problem(.unsupportedSchema, at: path, "the schema refers to \(reference), which it lacks"))
                return
            }
            check(value, target, typeName: name, at: path, into: &problems)
            return
        }
        // `nullable` beside an `allOf` (the XAPI's way of writing "this type or null") admits null too.
        if value.isNull, schema["nullable"] == .bool(true) { return }
        if Self.isNullMarker(schema) {
            if !value.isNull {
                problems.append(Problem(.wrongType, at: path, "expected null, found \(value.kindName)"))
            }
            return
        }
        if let branches = schema["anyOf"]?.array {
            checkAnyOf(value, branches, at: path, into: &problems)
            return
        }
        if let parts = schema["allOf"]?.array, parts.count == 1, schema["properties"] == nil {
            // The XAPI writes "this type or null" as a lone `allOf` beside `nullable`; the type may be an enum.
            check(value, parts[0], typeName: typeName, at: path, into: &problems)
            return
        }
        if schema["allOf"] != nil {
            checkObject(value, shape(of: schema, typeName: typeName), at: path, into: &problems)
            return
        }
        if value.isNull {
            if schema["nullable"] != .bool(true), schema["type"] != nil {
                problems.append(
                    Problem(.wrongType, at: path, "null is not allowed here: expected \(expectation(schema))"))
            }
            return
        }
        guard let type = schema["type"]?.string else { return }  // no type: any value (as JSON Schema has it)
        switch (type, value) {
        case ("string", .string(let text)):
            checkEnum(value, schema, at: path, into: &problems)
            checkFormat(text, schema, at: path, into: &problems)
        case ("number", .number(let text)), ("integer", .number(let text)):
            checkEnum(value, schema, at: path, into: &problems)
            checkNumber(text, schema, integer: type == "integer", at: path, into: &problems)
        case ("boolean", .bool):
            checkEnum(value, schema, at: path, into: &problems)
        case ("array", .array(let items)):
            guard let itemSchema = schema["items"] else { return }
            for (index, item) in items.enumerated() {
                check(item, itemSchema, typeName: nil, at: "\(path)/\(index)", into: &problems)
            }
        case ("object", .object(let members)):
            if schema["properties"] != nil || schema["required"] != nil {
                checkObject(value, shape(of: schema, typeName: typeName), at: path, into: &problems)
            } else {
                checkDuplicates(members, at: path, into: &problems)  // a free-form object: any members
            }
        case ("string", _), ("number", _), ("integer", _), ("boolean", _), ("array", _), ("object", _):
            problems.append(
                Problem(.wrongType, at: path, "expected \(expectation(schema)), found \(value.kindName)"))
        default:
            problems.append(Problem(.unsupportedSchema, at: path, "the schema's type '\(type)' is not one JSON has"))
        }
    }

    func checkAnyOf(_ value: StrictJSON, _ branches: [StrictJSON], at path: String, into problems: inout [Problem]) {
        var attempts: [[Problem]] = []
        for branch in branches {
            var branchProblems: [Problem] = []
            check(value, branch, typeName: nil, at: path, into: &branchProblems)
            if branchProblems.isEmpty { return }
            attempts.append(branchProblems)
        }
        // The branch whose kind of value matched says what is wrong inside it; if none matched, say what fits.
        if let matched = attempts.first(where: { !$0.contains { $0.kind == .wrongType && $0.path == path } }) {
            problems += matched
        } else {
            let expected = branches.map(expectation).joined(separator: " or ")
            problems.append(Problem(.wrongType, at: path, "expected \(expected), found \(value.kindName)"))
        }
    }

    func checkEnum(_ value: StrictJSON, _ schema: StrictJSON, at path: String, into problems: inout [Problem]) {
        guard let allowed = schema["enum"]?.array, !allowed.contains(value) else { return }
        let shown = allowed.compactMap(\.string).joined(separator: ", ")
        problems.append(Problem(.notInEnum, at: path, "\(Self.show(value)) is not one of: \(shown)"))
    }

    static func show(_ value: StrictJSON) -> String {
        switch value {
        case .string(let text): "'\(text)'"
        case .number(let text): text
        case .bool(let flag): "\(flag)"
        default: value.kindName
        }
    }

    /// The patterns the subset writes beside formats this validator checks itself (the same rule, as a regex).
    public static let patternsImpliedByFormat: [String: String] = [
        "uuid": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "date-time":
            "^[0-9]{4,}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,12})?(Z|[+-][0-9][0-9]:[0-9][0-9])$",
    ]

    /// The string formats this validator checks.
    public static let stringFormats: Set<String> = ["date-time", "uuid", "base64url", "duration", "time"]

    func checkFormat(_ text: String, _ schema: StrictJSON, at path: String, into problems: inout [Problem]) {
        let format = schema["format"]?.string
        if let pattern = schema["pattern"]?.string, format.flatMap({ Self.patternsImpliedByFormat[$0] }) != pattern {
            problems.append(
                Problem(.unsupportedSchema, at: path, "the validator does not evaluate the pattern \(pattern)"))
        }
        guard let format else { return }
        let problem: (Problem.Kind, String?)
        switch format {
        case "date-time": problem = (.malformedDateTime, Self.dateTimeProblem(text))
        case "uuid": problem = (.malformedUUID, Self.uuidProblem(text))
        case "base64url": problem = (.malformedBinary, Self.binaryProblem(text))
        case "duration": problem = (.malformedDuration, Self.durationProblem(text))
        case "time": problem = (.malformedTime, Self.timeOfDayProblem(text))
        default: problem = (.unsupportedSchema, "the validator does not check the string format '\(format)'")
        }
        if let message = problem.1 { problems.append(Problem(problem.0, at: path, message)) }
    }

    func checkNumber(
        _ text: String, _ schema: StrictJSON, integer: Bool, at path: String, into problems: inout [Problem]
    ) {
        let format = schema["format"]?.string
        let whole = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        switch format {
        case nil, "double", "float": break
        case "int32", "int64", "int16", "uint8":
            guard whole else {
                problems.append(Problem(.wrongType, at: path, "\(text) is not a whole number (\(format!))"))
                return
            }
        default:
            problems.append(
                Problem(.unsupportedSchema, at: path, "the validator does not check the number format '\(format!)'"))
        }
        if integer && !whole { problems.append(Problem(.wrongType, at: path, "\(text) is not a whole number")) }
        let bounds: [(String, Decimal?)] = [
            ("minimum", schema["minimum"].flatMap(Self.decimal)), ("maximum", schema["maximum"].flatMap(Self.decimal)),
        ]
        guard let number = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else { return }
        if let minimum = bounds[0].1, number < minimum {
            problems.append(Problem(.outOfRange, at: path, "\(text) is below the minimum \(minimum)"))
        }
        if let maximum = bounds[1].1, number > maximum {
            problems.append(Problem(.outOfRange, at: path, "\(text) is above the maximum \(maximum)"))
        }
    }

    static func decimal(_ value: StrictJSON) -> Decimal? {
        guard case .number(let text) = value else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    // MARK: Objects

    func checkDuplicates(
        _ members: [(name: String, value: StrictJSON)], at path: String, into problems: inout [Problem]
    ) {
        var seen = Set<String>()
        for (name, _) in members where !seen.insert(name).inserted {
            problems.append(
                Problem(.duplicateProperty, at: Self.pointer(path, name), "property '\(name)' is given twice"))
        }
    }

    static func pointer(_ path: String, _ name: String) -> String {
        path + "/" + name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    func checkObject(_ value: StrictJSON, _ declared: ObjectShape, at path: String, into problems: inout [Problem]) {
        guard let members = value.members else {
            let expected = declared.typeName.map { "a \($0) object" } ?? "an object"
            problems.append(Problem(.wrongType, at: path, "expected \(expected), found \(value.kindName)"))
            return
        }
        var shape = declared
        if let annotation = members.first(where: { $0.name == "@odata.type" })?.value,
            let named = odataType(
                annotation, declared: declared.typeName, at: Self.pointer(path, "@odata.type"), into: &problems),
            named != declared.typeName, let schema = schemas[named]
        {
            shape = self.shape(of: schema, typeName: named)  // checked as the derived type it says it is
        }
        checkDuplicates(members, at: path, into: &problems)
        var seen = Set<String>()
        for (name, member) in members where seen.insert(name).inserted {
            let memberPath = Self.pointer(path, name)
            if name == "@odata.type" { continue }
            if name.hasPrefix("@") {
                checkInstanceAnnotation(name, member, at: memberPath, into: &problems)
            } else if let at = name.firstIndex(of: "@") {
                checkPropertyAnnotation(
                    property: String(name[..<at]), term: String(name[at...]), member, shape, at: memberPath,
                    into: &problems)
            } else if let schema = shape.properties[name] {
                check(member, schema, typeName: nil, at: memberPath, into: &problems)
            } else if shape.open && Self.isDirectoryExtension(name) {
                continue  // a directory extension property: its type is the extension's, not the schema's
            } else {
                let type = shape.typeName.map { "type '\($0)'" } ?? "the action's parameters"
                problems.append(
                    Problem(.unknownProperty, at: memberPath, "Property '\(name)' does not exist on \(type)"))
            }
        }
        for name in shape.required where !seen.contains(name) {
            problems.append(Problem(.missingRequired, at: Self.pointer(path, name), "'\(name)' is required"))
        }
    }

    /// The type an `@odata.type` names when Graph accepts it there: the declared type or one derived from it.
    func odataType(_ value: StrictJSON, declared: String?, at path: String, into problems: inout [Problem]) -> String? {
        guard let text = value.string else {
            problems.append(Problem(.badAnnotation, at: path, "@odata.type must be a string, found \(value.kindName)"))
            return nil
        }
        guard let declared else {
            problems.append(
                Problem(.badAnnotation, at: path, "@odata.type names no type here: these are an action's parameters"))
            return nil
        }
        guard text.hasPrefix("#") else {
            problems.append(
                Problem(.badAnnotation, at: path, "@odata.type '\(text)' must start with '#' ('#\(declared)')"))
            return nil
        }
        let named = String(text.dropFirst())
        guard schemas[named] != nil else {
            problems.append(Problem(.badAnnotation, at: path, "@odata.type '\(text)' names no type of the schema"))
            return nil
        }
        guard isType(named, derivedFrom: declared) else {
            problems.append(
                Problem(.badAnnotation, at: path, "@odata.type '\(text)' is not \(declared) or a type derived from it"))
            return nil
        }
        return named
    }

    func checkInstanceAnnotation(_ name: String, _ value: StrictJSON, at path: String, into problems: inout [Problem]) {
        switch name {
        case "@odata.id", "@odata.context", "@odata.etag":
            if value.string == nil {
                problems.append(Problem(.badAnnotation, at: path, "\(name) must be a string, found \(value.kindName)"))
            }
        default:
            problems.append(
                Problem(.badAnnotation, at: path, "Graph does not take the annotation '\(name)' in a request body"))
        }
    }

    func checkPropertyAnnotation(
        property: String, term: String, _ value: StrictJSON, _ shape: ObjectShape, at path: String,
        into problems: inout [Problem]
    ) {
        guard term == "@odata.bind", shape.navigation.contains(property) else {
            let reason =
                term == "@odata.bind"
                ? "'\(property)' is not a navigation property of \(shape.typeName ?? "this object")"
                : "Graph does not take the annotation '\(term)' on a property in a request body"
            problems.append(Problem(.badAnnotation, at: path, reason))
            return
        }
        let collection = shape.properties[property]?["type"] == .string("array")
        let fits: Bool =
            if collection { value.array?.allSatisfy { $0.string != nil } ?? false } else { value.string != nil }
        if !fits {
            let expected = collection ? "an array of entity URLs" : "an entity URL"
            problems.append(
                Problem(.wrongType, at: path, "\(property)@odata.bind takes \(expected), found \(value.kindName)"))
        }
    }

    /// `extension_<32 hex digits>_<name>`: a directory extension property of an application's schema extension.
    static func isDirectoryExtension(_ name: String) -> Bool {
        let parts = name.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "extension", parts[1].count == 32,
            parts[1].allSatisfy(\.isHexDigit), !parts[2].isEmpty
        else { return false }
        return parts[2].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}

public struct GraphBodyValidatorError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
