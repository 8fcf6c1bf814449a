import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The user's own program as a model: `/bin/sh -c command`.
///
/// Contract: the program gets `{"messages":[{"role":"user","content":"…"},…],"temperature":0.7}` plus a newline on
/// stdin, then EOF (`temperature` only when the conversation sets one; keys sorted). Exit status 0 means the answer
/// is complete; a non-zero exit is `.process` with the status and the end of stderr. `PYTHONUNBUFFERED=1` is set
/// unless given. What it writes to stdout is read in one of two modes:
///
/// - **Plain text** (the default): whatever it writes is the answer, streamed as it arrives.
/// - **JSON lines**: when the first line of stdout is exactly `#chatbox-jsonl`, every following line is one JSON
///   object, and may carry several of these members (blank lines are skipped):
///
///       {"reasoning": "…"}    a piece of the model's reasoning (shown apart from the answer, never sent back)
///       {"content": "…"}      a piece of the answer
///       {"usage": {"prompt_tokens": 12, "completion_tokens": 34}}   what the answer cost (the last one counts)
///       {"error": "message"}  the answer fails with this message (the program is stopped)
///
///   For example, in Python: `print("#chatbox-jsonl")`, then
///   `print(json.dumps({"reasoning": "Let me think."}), flush=True)`,
///   `print(json.dumps({"content": "Hello!"}), flush=True)`. A line that is not a JSON object, or a line longer
///   than 4 MB, fails the answer with a sentence saying so.
///
/// The program gets a minimal environment (`baseEnvironment` plus the names the operator lists), not the server's:
/// the database URL and API keys stay with the server. Memory per run is bounded whatever the program writes: stdout
/// is read 64 KB at a time and handed on at once in plain mode (no line is assembled), one JSON line of at most
/// 4 MB is held in JSON-lines mode, stderr keeps its last 8 KB.
///
/// Cancelling the consumer sends SIGTERM to the program's process group (the child gets its own group, so helpers
/// it spawned go too), then SIGKILL after 2 s if it is still there. The program is started with `posix_spawn`
/// rather than Foundation's `Process`, which cannot give the child a clean signal state: see `ChildProcess`.
///
/// Why a dedicated thread: the pipes are read with blocking `poll`/`read` on a thread of our own, so nothing ever
/// blocks the cooperative thread pool, there is no dispatch-source subtlety around EOF, and the same thread writes
/// stdin (non-blocking, interleaved with reading, so a big conversation cannot deadlock against a program that
/// prints before it has read everything) and finally reaps the child. One thread per running answer is cheap at
/// a self-hosted app's scale; NIO's pipe bootstrap would do the I/O but not the reaping.
public struct CommandModel: ChatModel {
    public let command: String
    private let environment: [String: String]
    private let errors: ModelErrorText
    private let logger: Logger

    /// What every program gets from the server's environment (when set there), whatever the operator lists: enough
    /// to find programs, write files at home, and read and write text in the right encoding and time zone. The
    /// rest (the database URL, API keys…) stays with the server unless listed by name.
    public static let baseEnvironment = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"]

    /// What the UI shows: the program's first word, e.g. `command: python3`.
    public var displayName: String {
        let first = command.split(separator: " ").first.map(String.init) ?? command
        return "command: \(first)"
    }

    /// - Parameters:
    ///   - command: run with `/bin/sh -c`, in the server's working directory.
    ///   - passingEnvironment: names of the server's environment variables the program also gets, besides
    ///     `baseEnvironment` (`CHATBOX_LLM_COMMAND_ENV`). Their values are redacted from error messages.
    ///   - environment: the program's whole environment instead (tests); nil: the minimal one described above.
    ///   - server: the server's environment the minimal one is taken from (tests pass their own: changing the
    ///     process's environment while other threads start processes is not safe).
    ///   - logger: where raw errors go.
    public init(
        command: String, passingEnvironment names: [String] = [], environment: [String: String]? = nil,
        serverEnvironment server: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "chatbox.model")
    ) {
        self.command = command
        self.environment = environment ?? Self.minimalEnvironment(from: server, passing: names)
        self.errors = ModelErrorText(secrets: names.filter { !Self.baseEnvironment.contains($0) }.map { server[$0] })
        self.logger = logger
    }

    /// `baseEnvironment` and `names` taken from `server` (those set there), plus `PYTHONUNBUFFERED=1` unless given.
    static func minimalEnvironment(from server: [String: String], passing names: [String]) -> [String: String] {
        var env: [String: String] = [:]
        for name in baseEnvironment + names {
            if let value = server[name] { env[name] = value }
        }
        return env
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelOutput, any Error> {
        AsyncThrowingStream { continuation in
            guard let run = makeRun(request, output: AnswerOutput(continuation)) else { return }
            continuation.onTermination = { termination in
                if case .cancelled = termination { run.cancel() }
            }
            run.start()
        }
    }

    /// The relay's path: each piece goes to `onOutput` right on the thread that read it from the program, so
    /// nothing queues between the program and the answer however fast it writes (a stream would buffer without
    /// bound). Cancelling the calling task stops the program; the answer then simply ends.
    public func answer(_ request: ModelRequest, onOutput: @escaping @Sendable (ModelOutput) -> Void) async throws {
        let current = Mutex<(run: CommandRun?, cancelled: Bool)>((nil, false))
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                guard let run = makeRun(request, output: AnswerOutput(output: onOutput, resuming: done)) else {
                    return
                }
                let cancelled = current.withLock { state -> Bool in
                    state.run = run
                    return state.cancelled
                }
                if cancelled { run.cancel() }
                run.start()
            }
        } onCancel: {
            current.withLock { state -> CommandRun? in
                state.cancelled = true
                return state.run
            }?.cancel()
        }
    }

    /// A run ready to start, or nil after ending `output` with the error.
    private func makeRun(_ request: ModelRequest, output: AnswerOutput) -> CommandRun? {
        let input: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]  // the same bytes for the same conversation
            var data = try encoder.encode(CommandInput(messages: request.messages, temperature: request.temperature))
            data.append(0x0A)
            input = data
        } catch {
            errors.log(logger, "could not encode the conversation for the model command", error)
            output.end(ModelError(.process, "Could not encode the conversation for the model command."))
            return nil
        }
        var env = environment
        if env["PYTHONUNBUFFERED"] == nil { env["PYTHONUNBUFFERED"] = "1" }
        return CommandRun(
            command: command, environment: env, input: input, output: output, errors: errors, logger: logger)
    }
}

struct CommandInput: Encodable {
    var messages: [ChatMessage]
    /// Left out when nil.
    var temperature: Double? = nil
}

/// One run of the program. `main()` runs on its own thread; `cancel()` may come from any thread.
final class CommandRun: Sendable {
    private struct Shared {
        var pid: pid_t = 0
        var cancelled = false
        var done = false
    }

    private let command: String
    private let environment: [String: String]
    private let input: Data
    /// Every piece on the run's thread, then the end.
    private let output: AnswerOutput
    private let errors: ModelErrorText
    private let logger: Logger
    private let shared = Mutex(Shared())

    init(
        command: String, environment: [String: String], input: Data, output: AnswerOutput, errors: ModelErrorText,
        logger: Logger
    ) {
        self.command = command
        self.environment = environment
        self.input = input
        self.output = output
        self.errors = errors
        self.logger = logger
    }

    /// Runs `main()` on a thread of its own.
    func start() {
        let thread = Thread { self.main() }
        thread.name = "chatbox-command-model"
        thread.start()
    }

    /// SIGTERM to the process group now, SIGKILL in 2 s if the run has not ended by then.
    func cancel() {
        let pid = shared.withLock { state -> pid_t in
            state.cancelled = true
            return state.done ? 0 : state.pid
        }
        guard pid > 0 else { return }
        kill(-pid, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { [self] in
            let stillRunning = shared.withLock { !$0.done }
            if stillRunning { kill(-pid, SIGKILL) }
        }
    }

    func main() {
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(shellCommand: command, environment: environment)
        } catch {
            shared.withLock { $0.done = true }
            errors.log(logger, "the model command could not be started", error)
            let reason = (error as? ChildProcess.SpawnError).map { " (\($0.description))" } ?? ""
            output.end(ModelError(.process, "The model command could not be started\(reason)."))
            return
        }
        let cancelledEarly = shared.withLock { state -> Bool in
            state.pid = child.pid
            return state.cancelled
        }
        if cancelledEarly { kill(-child.pid, SIGTERM) }

        // A write to a program that stopped reading must give EPIPE, not kill the server: SIGPIPE is blocked on
        // this thread only (a write's SIGPIPE goes to the writing thread). The child's own mask is reset at spawn.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

        let (errorTail, failure) = pump(
            pid: child.pid, stdinFD: child.stdin, closeStdin: { close(child.stdin) },
            stdoutFD: child.stdout, stderrFD: child.stderr)
        close(child.stdout)
        close(child.stderr)
        let termination = child.wait()

        let cancelled = shared.withLock { state -> Bool in
            state.done = true
            return state.cancelled
        }
        switch termination {
        case _ where cancelled:
            output.end(nil)  // nobody is listening any more
        case _ where failure != nil:
            output.end(failure)
        case .exited(0):
            output.end(nil)
        case .exited(let status):
            let hint = status == 127 ? " (command not found)" : status == 126 ? " (not executable)" : ""
            output.end(
                ModelError(
                    .process,
                    "The model command exited with status \(status)\(hint)\(Self.suffix(errorTail))"))
        case .signaled(let signal):
            output.end(
                ModelError(
                    .process,
                    "The model command was killed by signal \(signal)\(Self.suffix(errorTail))"))
        }
    }

    private static func suffix(_ tail: String) -> String {
        tail.isEmpty ? "." : ": \(tail)"
    }

    /// Stops the program after it broke the output convention or reported an error: SIGTERM to its process group,
    /// SIGKILL in 2 s if the run has not ended by then.
    private func stop(_ pid: pid_t) {
        kill(-pid, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { [self] in
            let stillRunning = shared.withLock { !$0.done }
            if stillRunning { kill(-pid, SIGKILL) }
        }
    }

    /// Writes stdin and reads stdout/stderr until both reach EOF, or until stdout breaks the JSON-lines convention
    /// (the program is then stopped). Returns the last ~1,000 characters of stderr and that failure, if any.
    /// `closeStdin` is called exactly once.
    private func pump(
        pid: pid_t, stdinFD: Int32, closeStdin: () -> Void, stdoutFD: Int32, stderrFD: Int32
    ) -> (String, ModelError?) {
        var writeFD: Int32 = stdinFD  // non-blocking (set at spawn)
        var written = 0
        var outOpen = true, errOpen = true
        var reader = CommandOutputReader()
        var failure: ModelError?
        let output = self.output
        func failed(_ error: any Error) {
            let error = error as? ModelError ?? ModelError(.process, "The model command's output could not be read.")
            failure = ModelError(error.kind, errors.redact(error.message))
            stop(pid)
            outOpen = false
            errOpen = false
        }
        var errTail: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)

        func finishStdin() {
            if writeFD >= 0 {
                closeStdin()
                writeFD = -1
            }
        }
        if input.isEmpty { finishStdin() }

        while outOpen || errOpen {
            var fds = [
                pollfd(fd: outOpen ? stdoutFD : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: errOpen ? stderrFD : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: writeFD, events: Int16(POLLOUT), revents: 0)
            ]
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if writeFD >= 0, fds[2].revents != 0 {
                let n = input.withUnsafeBytes { raw in
                    write(writeFD, raw.baseAddress! + written, raw.count - written)
                }
                if n > 0 { written += n }
                if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count { finishStdin() }
            }
            if outOpen, fds[0].revents != 0 {
                let n = read(stdoutFD, &buffer, buffer.count)
                if n > 0 {
                    do {
                        try reader.read(buffer[0..<n], output.output)
                    } catch {
                        failed(error)
                        break
                    }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    outOpen = false
                    do { try reader.finish(output.output) } catch { failed(error) }
                }
            }
            if errOpen, fds[1].revents != 0 {
                let n = read(stderrFD, &buffer, buffer.count)
                if n > 0 {
                    errTail.append(contentsOf: buffer[0..<n])
                    if errTail.count > 8192 { errTail.removeFirst(errTail.count - 4096) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    errOpen = false
                }
            }
        }
        finishStdin()
        // Redacted whole before the cut, so no cut leaves half a secret behind (the tail is at most 8 KB).
        let text = errors.redact(String(decoding: errTail, as: UTF8.self))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return (text.count > 1000 ? "…" + String(text.suffix(1000)) : text, failure)
    }
}

/// Decodes UTF-8 that arrives in arbitrary pieces: an incomplete character at the end of a piece waits for the next.
struct UTF8ChunkDecoder {
    private var pending: [UInt8] = []

    mutating func decode(_ bytes: ArraySlice<UInt8>) -> String {
        pending.append(contentsOf: bytes)
        let cut = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a (possibly) valid multi-byte character.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var i = n - 1
        var back = 0
        while i >= 0, back < 4 {
            let b = bytes[i]
            if b & 0xC0 != 0x80 {  // a lead byte (or ASCII)
                let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                return n - i < need ? i : n
            }
            i -= 1
            back += 1
        }
        return n
    }
}
