// fake-upstream: the scriptable OpenAI-compatible server, standalone (for the browser suite, benchmarks and
// trying the app without a model). Usage:
//
//     fake-upstream [--host 127.0.0.1] [--port P] [--delay-ms N] [--tokens N] [--models a,b,c | --models none]
//
// Prints `listening on http://127.0.0.1:P/v1` once ready (port 0, the default, picks a free port) and stops on
// SIGTERM or SIGINT. `--delay-ms` is the default delay between tokens (20), `--tokens N` makes the default reply
// N numbered tokens instead of the Markdown sample, `--models` the ids `GET /v1/models` lists (default `fake`;
// `none`: that route answers 404, like a provider that does not list its models). Messages can script each answer with [[fake …]] directives:
// see Sources/FakeUpstream/Directives.swift.
import Dispatch
import FakeUpstream
import Foundation

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(
        Data(
            "fake-upstream: \(message)\nusage: fake-upstream [--host H] [--port P] [--delay-ms N] [--tokens N] [--models a,b]\n"
                .utf8)
    )
    exit(2)
}

var host = "127.0.0.1"
var port = 0
var delayMs = 20
var tokens: Int?
var models: [String]? = ["fake"]
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    if argument == "--help" || argument == "-h" { usage("a scriptable OpenAI-compatible server") }
    guard let value = arguments.popFirst() else { usage("\(argument) needs a value") }
    switch argument {
    case "--host": host = value
    case "--port": port = Int(value) ?? { usage("--port needs a number") }()
    case "--delay-ms": delayMs = Int(value) ?? { usage("--delay-ms needs a number") }()
    case "--tokens": tokens = Int(value) ?? { usage("--tokens needs a number") }()
    case "--models": models = value == "none" ? nil : value.split(separator: ",").map(String.init)
    default: usage("unknown option \(argument)")
    }
}

let (signals, signalContinuation) = AsyncStream<Int32>.makeStream()
let signalSources = [SIGTERM, SIGINT].map { number in  // kept alive for the life of the process
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler { @Sendable in signalContinuation.yield(number) }
    source.resume()
    return source
}

let upstream: FakeUpstream
do {
    upstream = try await FakeUpstream.start(
        host: host, port: port, models: models,
        behaviour: FakeUpstream.makeDirectiveBehaviour(defaultDelay: .milliseconds(delayMs), defaultTokens: tokens))
} catch {
    FileHandle.standardError.write(Data("fake-upstream: cannot listen on \(host):\(port): \(error)\n".utf8))
    exit(1)
}
FileHandle.standardOutput.write(Data("listening on \(upstream.baseURL)\n".utf8))  // unbuffered: seen at once
for await _ in signals { break }
await upstream.stop()
withExtendedLifetime(signalSources) {}
