import AphexCore
import Foundation

/// Asks the user a yes/no question (kind delete, k3s uninstall); tests answer for them.
protocol Confirmer: Sendable {
    var isInteractive: Bool { get }
    func ask(_ prompt: String) -> Bool
}

/// Reads the answer from stdin when it is a terminal; the prompt goes to stderr.
struct StdinConfirmer: Confirmer {
    var isInteractive: Bool { isatty(0) == 1 }
    func ask(_ prompt: String) -> Bool {
        FileHandle.standardError.write(Data(prompt.utf8))
        guard let line = readLine() else { return false }
        return line.trimmingCharacters(in: .whitespaces).lowercased() == "yes"
    }
}

extension Confirmer {
    /// Asks `question`; exit 2 (nothing changed) when stdin is not a terminal (with
    /// `nonInteractive`, which names --yes) or when the answer is not yes.
    func require(_ question: String, nonInteractive: String) throws {
        guard isInteractive else { throw AphexError.usage(nonInteractive) }
        guard ask(question) else { throw AphexError.usage("Not confirmed; nothing was changed.") }
    }
}
