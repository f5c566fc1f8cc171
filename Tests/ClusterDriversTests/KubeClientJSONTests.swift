import Foundation
import Testing
@testable import AphexCore
@testable import KubeClient
@testable import ClusterDrivers

@Suite struct KubeClientJSONTests {
    /// Same tree as the foundation's JSONSerialization path for API-shaped documents.
    @Test(arguments: [
        #"{}"#, #"[]"#, #""plain""#, #"0"#, #"-12"#, #"1.5"#, #"-0.25"#, #"true"#, #"false"#, #"null"#,
        #"{"a":{"b":[1,2,{"c":null}],"d":"x"},"e":[],"f":{}}"#,
        #"{"esc":"q\"b\\s\/n\nt\tr\rb\bf\f","u":"\u00e9\u4e2d","pair":"\ud83d\ude00","raw":"é中😀"}"#,
        #"  {"ws" :  [ 1 , 2 ] , "k" : "v" }  "#,
        #"""
        {"metadata":{"resourceVersion":"812","generation":3,"creationTimestamp":"2026-11-24T20:00:00Z"},\#
        "spec":{"replicas":2},"status":{"readyReplicas":2,"ratio":0.75}}
        """#
    ])
    func matchesFoundation(_ text: String) throws {
        let fast = try KubeJSON.parse(Array(text.utf8))
        let slow = try JSON.parse(text)
        #expect(fast == slow, "\(text)")
    }

    @Test func numbersAndUnicodeDetails() throws {
        #expect(try KubeJSON.parse(Array("1e3".utf8)) == .double(1000))
        #expect(try KubeJSON.parse(Array("-0".utf8)) == .int(0))
        // Exact beyond 2^53, where the JSONSerialization path rounds to a Double.
        #expect(try KubeJSON.parse(Array("9007199254740993".utf8)) == .int(9007199254740993))
        #expect(try KubeJSON.parse(Array("123456789012".utf8)) == .int(123456789012))
        #expect(try KubeJSON.parse(Array(#""\ud83d\ude00""#.utf8)) == .string("😀"))
        #expect(try KubeJSON.parse(Array(#""\ud83d x""#.utf8)) == .string("\u{FFFD} x"))  // lone surrogate
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "01", "1.", "-", "1e", "tru", "nul",
        "\"unterminated", "\"bad \\x escape\"", "\"ctl \u{01}\"", "[1] 2", "\"\\u12\""
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: KubeJSON.SyntaxError.self, "\(text.debugDescription)") { try KubeJSON.parse(Array(text.utf8)) }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: KubeJSON.SyntaxError.self) { try KubeJSON.parse(Array(deep.utf8)) }
    }

    /// The serializer writes escapes, UTF-8 and the pretty layout exactly, and what it writes
    /// parses back to the same tree.
    @Test func serializesExactlyAndRoundTrips() throws {
        let doc: JSON = [
            "b": ["q\"uote", "back\\slash", "nl\ncr\rtab\t", "ctl\u{01}\u{1f}", "é中😀", ""],
            "a": ["n": .null, "t": true, "i": -12, "d": 0.25, "e": [:], "l": []]
        ]
        #expect(
            doc.serialized()
                == #"""
                {"a":{"d":0.25,"e":{},"i":-12,"l":[],"n":null,"t":true},"b":["q\"uote","back\\slash",\#
                "nl\ncr\rtab\t","ctl\u0001\u001f","é中😀",""]}
                """#
        )
        #expect(doc.serializedBytes() == Array(doc.serialized().utf8))
        #expect(try KubeJSON.parse(doc.serializedBytes()) == doc)
        #expect(
            (["k": ["x": 1, "y": [true]]] as JSON).serialized(pretty: true)
                == "{\n  \"k\": {\n    \"x\": 1,\n    \"y\": [\n      true\n    ]\n  }\n}")
    }
}
