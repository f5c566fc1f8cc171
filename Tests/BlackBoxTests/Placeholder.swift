import Testing
@Test func placeholderBlackBoxTests() { #expect(true) }
