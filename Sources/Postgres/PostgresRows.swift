/// A result column: its name and type.
public struct PostgresColumn: Sendable, Hashable {
    public let name: String
    public let type: PostgresType
}

/// The complete result of one statement, copied out of libpq (so it can cross threads and tasks).
public struct PostgresRows: Sendable, RandomAccessCollection {
    public let columns: [PostgresColumn]
    /// Row-major text values; nil is SQL NULL.
    let values: [String?]
    /// The command tag, e.g. `INSERT 0 3`, `UPDATE 2`, `SELECT 5`.
    public let commandTag: String
    /// Rows inserted, updated, deleted, or selected, as the command tag reports it.
    public let affectedRows: Int

    init(columns: [PostgresColumn], values: [String?], commandTag: String, affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.commandTag = commandTag
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : values.count / columns.count }
    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, index: position) }

    func columnIndex(_ name: String) throws(PostgresError) -> Int {
        guard let index = columns.firstIndex(where: { $0.name == name }) else {
            throw PostgresError(code: .decoding, message: "the result has no column \"\(name)\"")
        }
        return index
    }

    /// The single row of a result that must have exactly one.
    public func single() throws(PostgresError) -> PostgresRow {
        guard count == 1 else {
            throw PostgresError(code: .unexpectedResponse, message: "expected one row, got \(count)")
        }
        return self[0]
    }
}

/// One row of a result.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let index: Int

    /// The cell in column `column` (0-based).
    public subscript(column: Int) -> PostgresCell {
        let width = rows.columns.count
        return PostgresCell(column: rows.columns[column], text: rows.values[index * width + column])
    }

    /// Decodes column `name`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws(PostgresError) -> T {
        try self[rows.columnIndex(name)].decode(T.self)
    }

    /// Decodes the columns, in order, into a tuple: `let (id, name) = try row.decode((UUID, String?).self)`.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws(PostgresError) -> (
        repeat each T
    ) {
        var column = 0
        func next<U: PostgresDecodable>(_ type: U.Type) throws(PostgresError) -> U {
            defer { column += 1 }
            guard column < rows.columns.count else {
                throw PostgresError(code: .decoding, message: "the result has only \(rows.columns.count) columns")
            }
            return try self[column].decode(U.self)
        }
        return (repeat try next((each T).self))
    }
}

/// One value of a row, with its column.
public struct PostgresCell: Sendable {
    public let column: PostgresColumn
    /// The value in PostgreSQL's text format, nil for NULL.
    public let text: String?

    public var isNull: Bool { text == nil }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self) throws(PostgresError) -> T {
        do {
            guard let text else { return try T.postgresNull(column: column.name) }
            return try T(postgresText: text, type: column.type)
        } catch {
            var error = error
            if !error.message.contains("\"\(column.name)\"") {
                error.message = "column \"\(column.name)\": \(error.message)"
            }
            throw error
        }
    }
}
