import Testing
@Test func placeholderBootstrapTests() { #expect(true) }
