import Chatbox
import Configuration

/// `chatbox [serve|migrate|user …] [--flags]`: settings come from CLI flags, then `CHATBOX_*` environment
/// variables, then defaults (see README).
@main
struct App {
    static func main() async {
        let (command, flags) = CommandLineWords.split(CommandLine.arguments)
        let reader = ConfigReader(providers: [
            CommandLineArgumentsProvider(arguments: flags),
            EnvironmentVariablesProvider().prefixKeys(with: "chatbox")
        ])
        await Commands.main(command, reader: reader)
    }
}
