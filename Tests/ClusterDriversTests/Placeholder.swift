import Testing
@Test func placeholderClusterDriversTests() { #expect(true) }
