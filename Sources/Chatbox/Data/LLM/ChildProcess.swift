import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process for `CommandModel`, started with `posix_spawn` rather than Foundation's `Process`, because the
/// child must not inherit the server's signal state, and `Process` cannot reset it:
/// - the threads that start it (Dispatch / Swift concurrency workers) block most signals, SIGTERM included, and a
///   spawned child inherits that mask: our SIGTERM would stay pending forever (seen in tests);
/// - ServiceLifecycle sets SIGTERM/SIGINT to SIG_IGN in the server for graceful shutdown, and NIO ignores SIGPIPE;
///   ignored signals stay ignored across exec.
/// So the child gets an empty signal mask, default dispositions, its own process group (so that SIGTERM/SIGKILL
/// reach the helpers it starts too) and nothing but stdin/stdout/stderr: all other descriptors are closed.
struct ChildProcess {
    let pid: pid_t
    /// Write end of the child's stdin (non-blocking), read ends of its stdout and stderr. The caller closes them.
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32

    enum Termination: Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    struct SpawnError: Error, CustomStringConvertible {
        var errno: Int32
        var step: String
        var description: String { "\(step): \(String(cString: strerror(errno)))" }
    }

    /// Starts `/bin/sh -c command` with exactly `environment`.
    static func spawn(shellCommand command: String, environment: [String: String]) throws -> ChildProcess {
        let input = try makePipe(), output = try makePipe(), errors = try makePipe()
        var spawned = false
        defer {  // the child's ends are the child's; on failure, ours go too
            for fd in [input.read, output.write, errors.write] { close(fd) }
            if !spawned { for fd in [input.write, output.read, errors.read] { close(fd) } }
        }

        #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
        #else
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
        var flags = Int32(POSIX_SPAWN_SETPGROUP) | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        #if canImport(Darwin)
            flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)  // only the descriptors named in file actions survive
        #else
            if let closeFrom = closeFromAction {
                _ = closeFrom(&actions, 3)
            } else {
                for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
            }
        #endif
        posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [
            SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM, SIGCHLD, SIGUSR1, SIGUSR2, SIGXFSZ,
            SIGTSTP, SIGTTIN, SIGTTOU
        ] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let arguments: [String] = ["/bin/sh", "-c", command]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { args in
            envp.withUnsafeBufferPointer { env in
                posix_spawn(&pid, "/bin/sh", &actions, &attributes, args.baseAddress!, env.baseAddress!)
            }
        }
        guard result == 0 else { throw SpawnError(errno: result, step: "posix_spawn /bin/sh") }
        spawned = true
        _ = fcntl(input.write, F_SETFL, fcntl(input.write, F_GETFL) | O_NONBLOCK)
        return ChildProcess(pid: pid, stdin: input.write, stdout: output.read, stderr: errors.read)
    }

    /// Blocks until the child exits and reaps it.
    func wait() -> Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return .exited(-1) }
        }
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    /// A pipe whose two descriptors are close-on-exec and above 2 (so that dup2 onto 0/1/2 always copies).
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnError(errno: errno, step: "pipe") }
        for i in 0..<2 {
            let moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)
            close(fds[i])
            guard moved >= 0 else { throw SpawnError(errno: errno, step: "fcntl") }
            fds[i] = moved
        }
        return (fds[0], fds[1])
    }

    #if !canImport(Darwin)
        private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

        /// glibc ≥ 2.34's `posix_spawn_file_actions_addclosefrom_np`, looked up at run time (it is a GNU extension).
        private static let closeFromAction: CloseFrom? = {
            guard let handle = dlopen(nil, RTLD_NOW),
                let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np")
            else { return nil }
            return unsafeBitCast(symbol, to: CloseFrom.self)
        }()

        private static func openDescriptors() -> [Int32] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return names.compactMap { Int32($0) }
        }
    #endif
}
