import Foundation
import TestSupport
import Testing

@testable import Postgres

/// Every supported type goes into a real table column and comes back equal, NULL included.
@Suite("Postgres types round-trip through a real table")
struct TypeRoundTripTests {
    /// Inserts `value` into a temp column of `sqlType` and reads it back, non-NULL and NULL.
    func roundTrip<T: PostgresEncodable & PostgresDecodable & Equatable>(
        _ value: T, as sqlType: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        defer { _ = connection }
        try await connection.query("CREATE TEMP TABLE box (v \(unsafeSQL: sqlType))")
        try await connection.query("INSERT INTO box (v) VALUES (\(value)), (\(T?.none))")
        let rows = try await connection.query("SELECT v FROM box ORDER BY v IS NULL")
        #expect(rows.count == 2, sourceLocation: sourceLocation)
        #expect(try rows[0].decode(T.self, column: "v") == value, sourceLocation: sourceLocation)
        #expect(try rows[1].decode(T?.self, column: "v") == nil, sourceLocation: sourceLocation)
        // Also straight back from a parameter, without the table.
        let echoed = try await connection.query("SELECT \(value) AS v").single().decode(T.self, column: "v")
        #expect(echoed == value, sourceLocation: sourceLocation)
        await connection.close()
    }

    @Test func text() async throws {
        try await roundTrip("plain", as: "text")
        try await roundTrip("", as: "text")
        try await roundTrip("Grüße aus Zürich, 東京, emoji 🎉, quotes ' \" and \\ backslash\nnewline\ttab", as: "text")
    }

    @Test func integers() async throws {
        try await roundTrip(Int32.max, as: "int4")
        try await roundTrip(Int32.min, as: "int4")
        try await roundTrip(Int16.min, as: "int2")
        try await roundTrip(Int64.max, as: "int8")
        try await roundTrip(Int64.min, as: "int8")
        try await roundTrip(Int(-42), as: "bigint")
    }

    @Test func booleansAndDoubles() async throws {
        try await roundTrip(true, as: "bool")
        try await roundTrip(false, as: "bool")
        try await roundTrip(3.141592653589793, as: "float8")
        try await roundTrip(-0.1, as: "float8")
    }

    @Test func uuid() async throws {
        try await roundTrip(UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!, as: "uuid")
        try await roundTrip(UUID(), as: "uuid")
    }

    @Test func timestamptzKeepsMicroseconds() async throws {
        // 2026-11-26 15:08:08.123456 UTC, built from whole microseconds so the Double is exact enough.
        try await roundTrip(Date(timeIntervalSince1970: 1_795_878_488.123456), as: "timestamptz")
        try await roundTrip(Date(timeIntervalSince1970: -1_234_567_890.5), as: "timestamptz")  // 1930
        try await roundTrip(Date(timeIntervalSince1970: 951_782_400), as: "timestamptz")  // 2000-02-29
        try await roundTrip(Date.distantFuture, as: "timestamptz")  // 'infinity'
    }

    @Test func timestamptzMeansTheSameInstantAsTheServer() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let row = try await connection.query(
            "SELECT '2024-02-29 23:59:58.5+05:30'::timestamptz AS t, extract(epoch FROM '2024-02-29 23:59:58.5+05:30'::timestamptz)::float8 AS e"
        ).single()
        let (date, epoch) = try row.decode((Date, Double).self)
        #expect(date.timeIntervalSince1970 == epoch)
        await connection.close()
    }

    @Test func interval() async throws {
        try await roundTrip(
            PostgresInterval(months: 14, days: 3, microseconds: 4 * 3_600_000_000 + 5_500_000), as: "interval")
        try await roundTrip(PostgresInterval(months: -1, days: 2, microseconds: -3_000_001), as: "interval")
        try await roundTrip(PostgresInterval(), as: "interval")
        try await roundTrip(Duration.seconds(90) + .microseconds(7), as: "interval")
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let parsed = try await connection.query("SELECT interval '1 year 2 mons 3 days 04:05:06.789' AS i").single()
            .decode(PostgresInterval.self, column: "i")
        #expect(parsed == PostgresInterval(months: 14, days: 3, microseconds: 14_706_789_000))
        await connection.close()
    }

    @Test func jsonb() async throws {
        struct Payload: Codable, Equatable {
            var name: String
            var ids: [Int]
            var nested: [String: String]
        }
        let payload = Payload(name: "Zürich ' \"q\"", ids: [1, 2, 3], nested: ["k": "v"])
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        try await connection.query("CREATE TEMP TABLE docs (d jsonb)")
        try await connection.query("INSERT INTO docs VALUES (\(try PostgresJSON(encoding: payload)))")
        let stored = try await connection.query("SELECT d, d->>'name' AS name FROM docs").single()
        #expect(try stored.decode(PostgresJSON.self, column: "d").decode(Payload.self) == payload)
        #expect(try stored.decode(String.self, column: "name") == payload.name)  // the server sees real JSON
        await connection.close()
    }

    @Test func bytea() async throws {
        try await roundTrip(Data((0...255).map { UInt8($0) }), as: "bytea")
        try await roundTrip(Data(), as: "bytea")
        try await roundTrip(Data([0, 0, 39, 92, 0]), as: "bytea")  // NUL, quote, backslash
    }

    @Test func arrays() async throws {
        try await roundTrip(
            ["a", "with,comma", "with \"quotes\"", "back\\slash", "{braces}", "NULL", "", "Zürich 🎉", " spaced "],
            as: "text[]")
        try await roundTrip([String](), as: "text[]")
        try await roundTrip([UUID(), UUID()], as: "uuid[]")
        try await roundTrip([1, -2, Int.max], as: "int8[]")
    }

    @Test func nullIntoNonOptionalIsANamedError() async throws {
        let connection = try await PostgresConnection.connect(TestDatabase.configuration)
        let row = try await connection.query("SELECT NULL::text AS missing").single()
        let error = #expect(throws: PostgresError.self) { try row.decode(String.self, column: "missing") }
        #expect(error?.code == .decoding)
        #expect(error?.message.contains("\"missing\"") == true)
        #expect(throws: PostgresError.self) { try row.decode(String.self, column: "no_such_column") }
        await connection.close()
    }

    @Test func arrayLiteralParser() {
        #expect(PostgresArrayLiteral.parse("{}") == [])
        #expect(
            PostgresArrayLiteral.parse("{a,NULL,\"NULL\",\"b c\",\"d\\\"e\"}") == ["a", nil, "NULL", "b c", "d\"e"])
        #expect(PostgresArrayLiteral.parse("[0:1]={x,y}") == ["x", "y"])
        #expect(PostgresArrayLiteral.parse("{{1,2},{3,4}}") == nil)
        #expect(PostgresArrayLiteral.parse("not an array") == nil)
    }
}
