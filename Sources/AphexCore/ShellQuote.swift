/// POSIX shell quoting, so an argv printed in an error can be pasted into a shell as is.
public enum Shell {
    static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_-+=:,./")

    public static func quote(_ arg: String) -> String {
        if arg.isEmpty { return "''" }
        if arg.allSatisfy({ safe.contains($0) }) { return arg }
        return "'" + arg.replacingOccurrences(of: "'", with: "'\"'\"'") + "'"
    }

    public static func quote(_ argv: [String]) -> String {
        argv.map { quote($0) }.joined(separator: " ")
    }
}

import Foundation
