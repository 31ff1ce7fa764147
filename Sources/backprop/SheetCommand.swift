import ArgumentParser

struct SheetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sheet", abstract: "Part 1 (in progress).")
}
