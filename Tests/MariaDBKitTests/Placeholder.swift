import Testing
@Test func mariaDBKitPlaceholder() { #expect(1 == 1) }
