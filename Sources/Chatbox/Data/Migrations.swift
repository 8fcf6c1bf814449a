import SQLKit

/// Which SQL dialect a store speaks; DDL and a few functions differ, queries do not.
public enum SQLFlavor: String, Sendable {
    case sqlite, mysql
}

/// Versioned, forward-only schema changes. Each runs once, in order, recorded in `schema_migrations`;
/// running `migrate()` again applies only what is new.
enum Migrations {
    struct Step: Sendable {
        let version: Int
        let name: String
        let statements: @Sendable (SQLFlavor) -> [String]
    }

    static let steps: [Step] = [
        Step(version: 1, name: "users, sessions, conversations, messages") { flavor in
            let id =
                flavor == .sqlite
                ? "id INTEGER PRIMARY KEY AUTOINCREMENT" : "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
            let ref = flavor == .sqlite ? "INTEGER" : "BIGINT"
            let name = flavor == .sqlite ? "TEXT" : "VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            let key = flavor == .sqlite ? "TEXT" : "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            let short = flavor == .sqlite ? "TEXT" : "VARCHAR(255)"
            let hash = flavor == .sqlite ? "TEXT" : "CHAR(64) CHARACTER SET ascii COLLATE ascii_bin"
            let word = flavor == .sqlite ? "TEXT" : "VARCHAR(16)"
            let long = flavor == .sqlite ? "TEXT" : "MEDIUMTEXT"
            let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
            return [
                """
                CREATE TABLE IF NOT EXISTS users (\(id), username \(name) NOT NULL, username_key \(key) NOT NULL, \
                hashed_password \(short) NOT NULL, role \(word) NOT NULL DEFAULT 'user', \
                disabled SMALLINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
                CONSTRAINT uq_users_username UNIQUE (username), CONSTRAINT uq_users_username_key UNIQUE (username_key))\(table)
                """,
                """
                CREATE TABLE IF NOT EXISTS sessions (\(id), user_id \(ref) NOT NULL, token_hash \(hash) NOT NULL, \
                created_at BIGINT NOT NULL, last_used_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
                CONSTRAINT uq_sessions_token UNIQUE (token_hash), \
                CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)\(table)
                """,
                "CREATE INDEX \(flavor == .sqlite ? "IF NOT EXISTS " : "")ix_sessions_user ON sessions (user_id)",
                """
                CREATE TABLE IF NOT EXISTS conversations (\(id), user_id \(ref) NOT NULL, title \(short) NOT NULL, \
                title_set_by_user SMALLINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
                CONSTRAINT fk_conversations_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)\(table)
                """,
                "CREATE INDEX \(flavor == .sqlite ? "IF NOT EXISTS " : "")ix_conversations_user_updated ON conversations (user_id, updated_at, id)",
                """
                CREATE TABLE IF NOT EXISTS messages (\(id), conversation_id \(ref) NOT NULL, role \(word) NOT NULL, \
                content \(long) NOT NULL, status \(word) NOT NULL, error TEXT NULL, created_at BIGINT NOT NULL, \
                updated_at BIGINT NOT NULL, \
                CONSTRAINT fk_messages_conversation FOREIGN KEY (conversation_id) REFERENCES conversations(id) ON DELETE CASCADE)\(table)
                """,
                "CREATE INDEX \(flavor == .sqlite ? "IF NOT EXISTS " : "")ix_messages_conversation ON messages (conversation_id, id)",
                "CREATE INDEX \(flavor == .sqlite ? "IF NOT EXISTS " : "")ix_messages_status ON messages (status)"
            ]
        },
        Step(version: 2, name: "user management: last activity, runtime settings") { flavor in
            let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
            return [
                "ALTER TABLE users ADD COLUMN last_active_at BIGINT NULL",
                "CREATE TABLE IF NOT EXISTS settings (name VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL)\(table)"
            ]
        },
        // SQLite only: a trigram full-text index over message text (any script, Chinese included; needs FTS5 and
        // SQLite ≥ 3.34, which the bundled SQLite has). External content: the text stays in `messages` once,
        // triggers keep the index in step, and `rebuild` indexes what an older database already holds (about two
        // minutes per million messages). MariaDB has no n-gram parser: there, search stays a LIKE scan.
        Step(version: 3, name: "full-text index of message content (SQLite)") { flavor in
            guard flavor == .sqlite else { return [] }
            return [
                """
                CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(content, content='messages', \
                content_rowid='id', tokenize='trigram')
                """,
                // Only finished messages are indexed: an answer still streaming is rewritten once a second, and
                // re-indexing its whole text each time would load the one SQLite writer.
                """
                CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages \
                WHEN new.status != 'processing' BEGIN \
                INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content); END
                """,
                """
                CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages \
                WHEN old.status != 'processing' BEGIN \
                INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content); END
                """,
                """
                CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF content, status ON messages \
                WHEN (old.status != 'processing' OR new.status != 'processing') \
                AND (old.content IS NOT new.content OR old.status IS NOT new.status) BEGIN \
                INSERT INTO messages_fts (messages_fts, rowid, content) \
                SELECT 'delete', old.id, old.content WHERE old.status != 'processing'; \
                INSERT INTO messages_fts (rowid, content) SELECT new.id, new.content WHERE new.status != 'processing'; END
                """,
                "INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages WHERE status != 'processing'"
            ]
        },
        // The duplicate check of an import (same user, title and creation time) looks conversations up by creation
        // time instead of scanning all of the user's conversations for each one.
        Step(version: 4, name: "index of conversations by creation time (import duplicate check)") { flavor in
            let ifNotExists = flavor == .sqlite ? "IF NOT EXISTS " : ""
            return ["CREATE INDEX \(ifNotExists)ix_conversations_user_created ON conversations (user_id, created_at)"]
        },
        // A row to lock (SELECT … FOR UPDATE) around every change of who is admin, so "the first account is the
        // admin" and "there is always an admin" hold under concurrent requests on MySQL. SQLite needs no row: its
        // write transactions (BEGIN IMMEDIATE) already run one at a time; the table exists there too, unused.
        Step(version: 5, name: "a lock row for changes of who is admin") { flavor in
            let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            return [
                "CREATE TABLE IF NOT EXISTS locks (name VARCHAR(64) NOT NULL PRIMARY KEY)\(table)",
                "INSERT \(flavor == .sqlite ? "OR IGNORE" : "IGNORE") INTO locks (name) VALUES ('users')"
            ]
        },
        // Models per conversation, reasoning and usage per answer, the admin's model connections, users' presets.
        Step(version: 6, name: "models: connections, presets, per-conversation settings, reasoning and usage") {
            flavor in
            let id =
                flavor == .sqlite
                ? "id INTEGER PRIMARY KEY AUTOINCREMENT" : "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
            let ref = flavor == .sqlite ? "INTEGER" : "BIGINT"
            let name = flavor == .sqlite ? "TEXT" : "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            let long = flavor == .sqlite ? "TEXT" : "MEDIUMTEXT"
            let real = flavor == .sqlite ? "REAL" : "DOUBLE"
            let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
            // MariaDB can repeat a step cut short by a crash (IF NOT EXISTS); SQLite has no such clause here.
            let add = flavor == .sqlite ? "ADD COLUMN" : "ADD COLUMN IF NOT EXISTS"
            let ifNotExists = flavor == .sqlite ? "IF NOT EXISTS " : ""
            return [
                "ALTER TABLE conversations \(add) model \(name) NULL",
                "ALTER TABLE conversations \(add) system_prompt \(long) NULL",
                "ALTER TABLE conversations \(add) temperature \(real) NULL",
                "ALTER TABLE messages \(add) model \(name) NULL",
                "ALTER TABLE messages \(add) reasoning \(long) NULL",
                "ALTER TABLE messages \(add) prompt_tokens BIGINT NULL",
                "ALTER TABLE messages \(add) completion_tokens BIGINT NULL",
                "ALTER TABLE messages \(add) first_token_ms BIGINT NULL",
                "ALTER TABLE messages \(add) duration_ms BIGINT NULL",
                """
                CREATE TABLE IF NOT EXISTS connections (\(id), name \(name) NOT NULL, kind VARCHAR(32) NOT NULL, \
                base_url TEXT NULL, api_key TEXT NULL, headers TEXT NOT NULL, command TEXT NULL, \
                models \(long) NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
                CONSTRAINT uq_connections_name UNIQUE (name))\(table)
                """,
                """
                CREATE TABLE IF NOT EXISTS presets (\(id), user_id \(ref) NOT NULL, name \(name) NOT NULL, \
                model \(name) NULL, system_prompt \(long) NULL, temperature \(real) NULL, \
                created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
                CONSTRAINT fk_presets_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE)\(table)
                """,
                "CREATE INDEX \(ifNotExists)ix_presets_user ON presets (user_id, name)"
            ]
        },
        // A conversation is a tree: each message has a parent (the first question none), and the conversation
        // remembers the leaf of the path the user sees. Existing conversations become single-branch trees: each
        // message's parent is the message before it.
        Step(version: 7, name: "message tree: parent of each message, current leaf of each conversation") { flavor in
            let add = flavor == .sqlite ? "ADD COLUMN" : "ADD COLUMN IF NOT EXISTS"
            let ifNotExists = flavor == .sqlite ? "IF NOT EXISTS " : ""
            let parents =
                flavor == .sqlite
                ? """
                UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p \
                WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id) WHERE parent_id IS NULL
                """
                : """
                UPDATE messages m JOIN (SELECT c.id, (SELECT MAX(p.id) FROM messages p \
                WHERE p.conversation_id = c.conversation_id AND p.id < c.id) AS parent FROM messages c) x \
                ON x.id = m.id SET m.parent_id = x.parent WHERE m.parent_id IS NULL
                """
            return [
                "ALTER TABLE messages \(add) parent_id BIGINT NULL",
                "ALTER TABLE conversations \(add) current_leaf_id BIGINT NULL",
                "CREATE INDEX \(ifNotExists)ix_messages_parent ON messages (conversation_id, parent_id)",
                parents,
                """
                UPDATE conversations SET current_leaf_id = (SELECT MAX(m.id) FROM messages m \
                WHERE m.conversation_id = conversations.id) WHERE current_leaf_id IS NULL
                """
            ]
        },
        // Several instances on one database: the database is where they meet. Each instance keeps a row it
        // renews with every progress save (a lease); each running answer has a row keyed by its conversation (a
        // second one is a duplicate: one answer per conversation across instances) naming its owner, and a stop
        // asked on any instance is written there for the owner to pick up. Failed logins and sign-ups are counted
        // in `login_attempts`, so that every instance sees the same counts.
        Step(version: 8, name: "several instances: instance leases, running answers, login attempts") { flavor in
            let id =
                flavor == .sqlite
                ? "id INTEGER PRIMARY KEY AUTOINCREMENT" : "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
            let ref = flavor == .sqlite ? "INTEGER" : "BIGINT"
            let instance = flavor == .sqlite ? "TEXT" : "VARCHAR(190) CHARACTER SET ascii COLLATE ascii_bin"
            let bucket = flavor == .sqlite ? "TEXT" : "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            let word = flavor == .sqlite ? "TEXT" : "VARCHAR(32)"
            let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
            let ifNotExists = flavor == .sqlite ? "IF NOT EXISTS " : ""
            return [
                """
                CREATE TABLE IF NOT EXISTS instances (id \(instance) NOT NULL PRIMARY KEY, \
                started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL)\(table)
                """,
                """
                CREATE TABLE IF NOT EXISTS running_answers (conversation_id \(ref) NOT NULL PRIMARY KEY, \
                user_id \(ref) NOT NULL, instance_id \(instance) NOT NULL, \
                stop_reason \(word) NULL, started_at BIGINT NOT NULL)\(table)
                """,
                "CREATE INDEX \(ifNotExists)ix_running_answers_instance ON running_answers (instance_id)",
                "CREATE INDEX \(ifNotExists)ix_running_answers_user ON running_answers (user_id)",
                """
                CREATE TABLE IF NOT EXISTS login_attempts (\(id), bucket \(bucket) NOT NULL, \
                attempted_at BIGINT NOT NULL)\(table)
                """,
                "CREATE INDEX \(ifNotExists)ix_login_attempts_bucket ON login_attempts (bucket, attempted_at)",
                "CREATE INDEX \(ifNotExists)ix_login_attempts_time ON login_attempts (attempted_at)"
            ]
        }
    ]

    /// Applies every step not yet recorded, each in order; a step's statements are not one transaction, so
    /// each must be safe to run again (IF NOT EXISTS) if a crash interrupts it before it is recorded.
    /// `through` stops after that version (tests use it to build an older schema).
    ///
    /// Instances starting together on one database take turns: the steps run under the `migration_lock` row
    /// (`MigrationLock`), and whoever gets it second finds the steps already recorded.
    static func run(
        on db: any SQLDatabase, flavor: SQLFlavor, now: Millis, through last: Int = .max,
        lock: MigrationLock.Timing = .init()
    ) async throws {
        try await MigrationLock.holding(on: db, flavor: flavor, timing: lock) {
            try await applySteps(on: db, flavor: flavor, now: now, through: last)
        }
    }

    private static func applySteps(on db: any SQLDatabase, flavor: SQLFlavor, now: Millis, through last: Int)
        async throws
    {
        let table = flavor == .sqlite ? "" : " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        try await db.raw(
            SQLQueryString(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, \
                applied_at BIGINT NOT NULL)\(table)
                """)
        ).run()
        let applied = Set(
            try await db.raw("SELECT version FROM schema_migrations").all()
                .map { try $0.decode(column: "version", as: Int.self) })
        for step in steps where !applied.contains(step.version) && step.version <= last {
            for statement in step.statements(flavor) {
                try await db.raw(SQLQueryString(statement)).run()
            }
            try await db.raw(
                """
                INSERT INTO schema_migrations (version, name, applied_at) \
                VALUES (\(bind: step.version), \(bind: step.name), \(bind: now))
                """
            ).run()
        }
    }
}
