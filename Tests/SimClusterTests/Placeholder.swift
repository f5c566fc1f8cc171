import Testing
@Test func placeholderSimClusterTests() { #expect(true) }
