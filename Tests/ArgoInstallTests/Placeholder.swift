import Testing
@Test func placeholderArgoInstallTests() { #expect(true) }
