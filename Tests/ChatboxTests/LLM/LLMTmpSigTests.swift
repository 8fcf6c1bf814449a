import Foundation
import Testing
@testable import Chatbox

@Suite struct LLMTmpSigTests {
    @Test func sigIgn() async throws {
        var last = ""
        for i in 0..<40 {
            let r = await LLMTest.drain(CommandModel(command: "grep -E 'SigIgn' /proc/self/status").streamAnswer(to: []))
            if r.text != last { print("CHILD \(i):", r.text.replacingOccurrences(of: "\n", with: " | ")); last = r.text }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
