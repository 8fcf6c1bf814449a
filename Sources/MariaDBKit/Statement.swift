import CMariaDB
import Foundation

/// Prepared statements (binary protocol): every value travels as a bind, never inside the SQL text.
/// All functions here run inside `MariaDBConnection.withHandle` (exclusive use, on the thread pool).
extension MariaDBConnection {
    /// "This command is not supported in the prepared statement protocol yet".
    private static let erUnsupportedPS: UInt32 = 1295
    private static let erNeedReprepare: UInt32 = 1615

    /// Runs one statement with `?` placeholders bound to `params`.
    func execute(_ sql: String, _ params: [MariaDBValue]) throws(MariaDBError) -> QueryResult {
        do {
            return try executeOnce(sql, params)
        } catch let error where error.code == Self.erNeedReprepare {
            _ = error
            return try executeOnce(sql, params)  // the cached statement was dropped: once more
        }
    }

    private func executeOnce(_ sql: String, _ params: [MariaDBValue]) throws(MariaDBError) -> QueryResult {
        let cacheable = Self.isCacheable(sql)
        let stmt: UnsafeMutablePointer<MYSQL_STMT>
        if cacheable, let cached = statements[sql] {
            stmt = cached
        } else {
            guard let fresh = mysql_stmt_init(handle) else { throw lastError() }
            if mysql_stmt_prepare(fresh, sql, UInt(sql.utf8.count)) != 0 {
                let error = statementError(fresh)
                mysql_stmt_close(fresh)
                if error.code == Self.erUnsupportedPS && params.isEmpty { return try textQuery(sql) }
                throw error
            }
            stmt = fresh
            if cacheable { remember(sql, stmt) }
        }
        do {
            let result = try run(stmt, params)
            if !cacheable { mysql_stmt_close(stmt) }
            return result
        } catch {
            if cacheable { forget(sql) }
            mysql_stmt_close(stmt)  // after a connection error libmariadb no longer writes to the socket
            throw error
        }
    }

    /// Plain SELECT/INSERT/UPDATE/DELETE are worth keeping prepared; DDL and one-off statements are not.
    private static func isCacheable(_ sql: String) -> Bool {
        let head = sql.utf8.prefix(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D })
        let word = sql.utf8.dropFirst(head.count).prefix(7)
        let upper = String(decoding: word.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
        return ["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"].contains { upper.hasPrefix($0) }
    }

    private func remember(_ sql: String, _ stmt: UnsafeMutablePointer<MYSQL_STMT>) {
        if statementOrder.count >= Self.maxCachedStatements {
            let oldest = statementOrder.removeFirst()
            if let old = statements.removeValue(forKey: oldest) { mysql_stmt_close(old) }
        }
        statements[sql] = stmt
        statementOrder.append(sql)
    }

    /// Drops `sql` from the cache without closing it (the caller closes it).
    private func forget(_ sql: String) {
        statements.removeValue(forKey: sql)
        statementOrder.removeAll { $0 == sql }
    }

    private func statementError(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) -> MariaDBError {
        MariaDBError(
            code: mysql_stmt_errno(stmt), sqlState: String(cString: mysql_stmt_sqlstate(stmt)),
            message: String(cString: mysql_stmt_error(stmt)), endpoint: endpoint)
    }

    private func run(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ params: [MariaDBValue]) throws(MariaDBError)
        -> QueryResult
    {
        let expected = Int(mysql_stmt_param_count(stmt))
        guard expected == params.count else {
            throw .usage("statement has \(expected) placeholders but \(params.count) binds", endpoint: endpoint)
        }
        try bindAndExecute(stmt, params)

        var result = QueryResult()
        if let meta = mysql_stmt_result_metadata(stmt) {
            defer { mysql_free_result(meta) }
            try fetchRows(stmt, meta, into: &result)
        } else {
            if mysql_stmt_errno(stmt) != 0 { throw statementError(stmt) }
            result.affectedRows = mysql_stmt_affected_rows(stmt)
            result.lastInsertID = mysql_stmt_insert_id(stmt)
        }
        try skipMoreResults(stmt)
        return result
    }

    /// `CALL` returns its result sets then a status: only the first result is kept, the rest are read and
    /// dropped so the connection stays in sync.
    private func skipMoreResults(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) throws(MariaDBError) {
        while mysql_stmt_more_results(stmt) != 0 {
            let rc = mysql_stmt_next_result(stmt)
            if rc > 0 { throw statementError(stmt) }
            if rc < 0 { break }
            if mysql_stmt_field_count(stmt) > 0 {
                if mysql_stmt_store_result(stmt) != 0 { throw statementError(stmt) }
                mysql_stmt_free_result(stmt)
            }
        }
    }

    private func bindAndExecute(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ params: [MariaDBValue]) throws(MariaDBError)
    {
        let n = params.count
        guard n > 0 else {
            if mysql_stmt_execute(stmt) != 0 { throw statementError(stmt) }
            return
        }
        // Every buffer must stay valid until mysql_stmt_execute returns.
        let numbers = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
        defer { numbers.deallocate() }
        var copies: [UnsafeMutableRawPointer] = []
        defer { for p in copies { p.deallocate() } }
        func copy(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            if let base = bytes.baseAddress { p.copyMemory(from: base, byteCount: bytes.count) }
            copies.append(p)
            return p
        }
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: n)
        for (i, value) in params.enumerated() {
            switch value {
            case .null:
                binds[i].buffer_type = MYSQL_TYPE_NULL
            case .int(let v):
                numbers[i] = UInt64(bitPattern: v)
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].buffer = UnsafeMutableRawPointer(numbers + i)
            case .uint(let v):
                numbers[i] = v
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].is_unsigned = 1
                binds[i].buffer = UnsafeMutableRawPointer(numbers + i)
            case .double(let v):
                numbers[i] = v.bitPattern
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
                binds[i].buffer = UnsafeMutableRawPointer(numbers + i)
            case .text(let s):
                var s = s
                let p = s.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
                binds[i].buffer_type = MYSQL_TYPE_STRING
                binds[i].buffer = p
                binds[i].buffer_length = UInt(s.utf8.count)
            case .blob(let b):
                let p = b.withUnsafeBytes { copy($0) }
                binds[i].buffer_type = MYSQL_TYPE_BLOB
                binds[i].buffer = p
                binds[i].buffer_length = UInt(b.count)
            }
        }
        if mysql_stmt_bind_param(stmt, &binds) != 0 { throw statementError(stmt) }
        if mysql_stmt_execute(stmt) != 0 { throw statementError(stmt) }
    }

    private func fetchRows(
        _ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ meta: UnsafeMutablePointer<MYSQL_RES>,
        into result: inout QueryResult
    ) throws(MariaDBError) {
        let n = Int(mysql_num_fields(meta))
        guard n > 0, let fields = mysql_fetch_fields(meta) else { return }
        let kinds = (0..<n).map { ColumnKind(field: fields[$0]) }
        result.columns = MariaDBColumns((0..<n).map { String(cString: fields[$0].name) })

        let lengths = UnsafeMutablePointer<UInt>.allocate(capacity: n)
        let nulls = UnsafeMutablePointer<my_bool>.allocate(capacity: n)
        let numbers = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
        defer {
            lengths.deallocate()
            nulls.deallocate()
            numbers.deallocate()
        }
        lengths.initialize(repeating: 0, count: n)
        nulls.initialize(repeating: 0, count: n)
        numbers.initialize(repeating: 0, count: n)
        var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: n)
        for i in 0..<n {
            binds[i].length = lengths + i
            binds[i].is_null = nulls + i
            switch kinds[i] {
            case .signed, .unsigned:
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].is_unsigned = kinds[i] == .unsigned ? 1 : 0
                binds[i].buffer = UnsafeMutableRawPointer(numbers + i)
                binds[i].buffer_length = 8
            case .double:
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
                binds[i].buffer = UnsafeMutableRawPointer(numbers + i)
                binds[i].buffer_length = 8
            case .text, .binary:
                // No buffer: fetch only reports the real length, then mysql_stmt_fetch_column reads it all.
                binds[i].buffer_type = MYSQL_TYPE_STRING
                binds[i].buffer = nil
                binds[i].buffer_length = 0
            }
        }
        if mysql_stmt_bind_result(stmt, &binds) != 0 { throw statementError(stmt) }
        if mysql_stmt_store_result(stmt) != 0 { throw statementError(stmt) }
        defer { mysql_stmt_free_result(stmt) }
        result.rows.reserveCapacity(Int(mysql_stmt_num_rows(stmt)))

        while true {
            let rc = mysql_stmt_fetch(stmt)
            if rc == MYSQL_NO_DATA { break }
            if rc == 1 { throw statementError(stmt) }  // 0 or MYSQL_DATA_TRUNCATED (expected) are fine
            var row: [MariaDBValue] = []
            row.reserveCapacity(n)
            for i in 0..<n {
                if nulls[i] != 0 {
                    row.append(.null)
                    continue
                }
                switch kinds[i] {
                case .signed: row.append(.int(Int64(bitPattern: numbers[i])))
                case .unsigned: row.append(.uint(numbers[i]))
                case .double: row.append(.double(Double(bitPattern: numbers[i])))
                case .text: row.append(.text(try fetchText(stmt, column: i, length: Int(lengths[i]))))
                case .binary: row.append(.blob(try fetchBytes(stmt, column: i, length: Int(lengths[i]))))
                }
            }
            result.rows.append(row)
        }
    }

    /// Reads a whole string column of the current row straight into a String (exact length, any size).
    private func fetchText(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, column: Int, length: Int) throws(MariaDBError)
        -> String
    {
        guard length > 0 else { return "" }
        var failed = false
        let text = String(unsafeUninitializedCapacity: length) { buffer in
            failed = !Self.fetchColumn(stmt, column, UnsafeMutableRawBufferPointer(buffer))
            return failed ? 0 : length
        }
        if failed { throw statementError(stmt) }
        return text
    }

    private func fetchBytes(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, column: Int, length: Int) throws(MariaDBError)
        -> [UInt8]
    {
        guard length > 0 else { return [] }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            failed = !Self.fetchColumn(stmt, column, UnsafeMutableRawBufferPointer(buffer))
            count = failed ? 0 : length
        }
        if failed { throw statementError(stmt) }
        return bytes
    }

    private static func fetchColumn(
        _ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ column: Int, _ buffer: UnsafeMutableRawBufferPointer
    ) -> Bool {
        var realLength: UInt = 0
        var isNull: my_bool = 0
        return withUnsafeMutablePointer(to: &realLength) { lengthPointer in
            withUnsafeMutablePointer(to: &isNull) { nullPointer in
                var bind = MYSQL_BIND()
                bind.buffer_type = MYSQL_TYPE_STRING
                bind.buffer = buffer.baseAddress
                bind.buffer_length = UInt(buffer.count)
                bind.length = lengthPointer
                bind.is_null = nullPointer
                return mysql_stmt_fetch_column(stmt, &bind, UInt32(column), 0) == 0
            }
        }
    }
}
