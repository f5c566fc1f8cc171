import Testing
@Test func placeholderSecretGenTests() { #expect(true) }
