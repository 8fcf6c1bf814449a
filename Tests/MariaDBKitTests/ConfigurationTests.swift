import Foundation
@testable import MariaDBKit
import Testing

@Suite("MariaDBConfiguration URL parsing (no server needed)")
struct ConfigurationTests {
    @Test("a full mysql URL fills host, port, user, password and database, with the documented defaults")
    func parsesFullURL() throws {
        let c = try MariaDBConfiguration(url: "mysql://chat:s3cret@db.example.org:3307/chatbox_db")
        #expect(c.host == "db.example.org")
        #expect(c.port == 3307)
        #expect(c.user == "chat")
        #expect(c.password == "s3cret")
        #expect(c.database == "chatbox_db")
        #expect(c.socket == nil)
        #expect(c.poolSize == 8)
        #expect(c.connectTimeoutSeconds == 5)
        #expect(c.readWriteTimeoutSeconds == 30)
        #expect(c.poolTimeoutSeconds == 10)
    }

    @Test("the port defaults to 3306 and mariadb:// is accepted")
    func defaultPort() throws {
        let c = try MariaDBConfiguration(url: "mariadb://root:pw@127.0.0.1/app")
        #expect(c.port == 3306)
        #expect(c.endpoint == "127.0.0.1:3306")
    }

    @Test("user and password are percent-decoded, and a raw @ in the password still works")
    func percentDecoding() throws {
        let c = try MariaDBConfiguration(url: "mysql://us%40er:p%40ss%3Aw%2Ford%20%E2%9C%93@localhost/db")
        #expect(c.user == "us@er")
        #expect(c.password == "p@ss:w/ord ✓")
        let raw = try MariaDBConfiguration(url: "mysql://root:p@ss@127.0.0.1:3306/db")
        #expect(raw.password == "p@ss")
        #expect(raw.host == "127.0.0.1")
    }

    @Test("an empty password is allowed")
    func emptyPassword() throws {
        #expect(try MariaDBConfiguration(url: "mysql://root@127.0.0.1/db").password == "")
        #expect(try MariaDBConfiguration(url: "mysql://root:@127.0.0.1/db").password == "")
    }

    @Test("query options set the socket, pool size and timeouts")
    func queryOptions() throws {
        let c = try MariaDBConfiguration(
            url: "mysql://root:pw@localhost/db?socket=/run/mysqld/mysqld.sock&poolSize=3&connectTimeout=2"
                + "&readWriteTimeout=7&poolTimeout=4")
        #expect(c.socket == "/run/mysqld/mysqld.sock")
        #expect(c.poolSize == 3)
        #expect(c.connectTimeoutSeconds == 2)
        #expect(c.readWriteTimeoutSeconds == 7)
        #expect(c.poolTimeoutSeconds == 4)
        #expect(c.endpoint == "/run/mysqld/mysqld.sock")
    }

    @Test("an IPv6 host in brackets is parsed")
    func ipv6() throws {
        let c = try MariaDBConfiguration(url: "mysql://root:pw@[::1]:3310/db")
        #expect(c.host == "::1")
        #expect(c.port == 3310)
        #expect(c.endpoint == "[::1]:3310")
    }

    @Test("description and endpoint never show the password")
    func descriptionHidesPassword() throws {
        let c = try MariaDBConfiguration(url: "mysql://root:TopSecret99@127.0.0.1:3306/chatbox_db")
        #expect(c.description == "mysql://root:***@127.0.0.1:3306/chatbox_db")
        #expect(!"\(c)".contains("TopSecret99"))
        #expect(!String(reflecting: c.endpoint).contains("TopSecret99"))
    }

    @Test(
        "malformed URLs fail with a one-line message and an example (no application setting named)",
        arguments: [
            ("postgres://root:pw@127.0.0.1/db", "expected a mysql:// URL"),
            ("mysql://root:pw@127.0.0.1:3306", "mysql URL needs a database name"),
            ("mysql://root:pw@127.0.0.1:3306/", "mysql URL needs a database name"),
            ("mysql://127.0.0.1:3306/db", "mysql URL needs a user name"),
            ("mysql://:pw@127.0.0.1/db", "mysql URL needs a user name"),
            ("mysql://root:pw@:3306/db", "mysql URL needs a host"),
            ("mysql://root:pw@127.0.0.1:99999/db", "bad port '99999'"),
            ("mysql://root:pw@127.0.0.1:abc/db", "bad port 'abc'"),
            ("mysql://root:p%zz@127.0.0.1/db", "badly percent-encoded"),
            ("mysql://root:pw@127.0.0.1/db?pool=3", "unknown option 'pool'"),
            ("mysql://root:pw@127.0.0.1/db?poolSize=0", "poolSize needs a positive number")
        ])
    func malformed(url: String, expected: String) {
        do {
            _ = try MariaDBConfiguration(url: url)
            Issue.record("\(url) parsed")
        } catch let error as MariaDBConfigurationError {
            #expect(!error.description.contains("CHATBOX"), "a reusable module names no application setting")
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.contains("e.g. mysql://root:pw@127.0.0.1:3306/chatbox_db"))
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("the missing-database message reads exactly as documented")
    func missingDatabaseMessage() {
        #expect(
            throws: MariaDBConfigurationError(
                message:
                    "mysql URL needs a database name, e.g. mysql://root:pw@127.0.0.1:3306/chatbox_db")
        ) {
            try MariaDBConfiguration(url: "mysql://root:secret@127.0.0.1:3306")
        }
    }

    @Test("errors never contain the password")
    func errorsHidePassword() {
        for url in ["mysql://root:Hunter2Secret@127.0.0.1:70000/db", "mysql://root:Hunter2Secret@127.0.0.1:3306/"] {
            #expect(throws: MariaDBConfigurationError.self) { try MariaDBConfiguration(url: url) }
            do { _ = try MariaDBConfiguration(url: url) } catch {
                #expect(!"\(error)".contains("Hunter2Secret"))
            }
        }
    }

    @Test("a custom source name prefixes the message")
    func customSource() {
        do {
            _ = try MariaDBConfiguration(url: "mysql://root@h", source: "MY_DB_URL")
            Issue.record("parsed without a database")
        } catch {
            #expect("\(error)".hasPrefix("MY_DB_URL: mysql URL needs a database name"))
        }
    }
}
