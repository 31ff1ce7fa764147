import ArgumentParser

/// The command line: one subcommand per file, each a thin layer over the libraries.
struct Backprop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop",
        abstract: "Backpropagation you can see, check and use: from a hand calculation to a CNN that reads digits.",
        subcommands: [SheetCommand.self]
    )
}

Backprop.main()
