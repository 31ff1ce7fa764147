import Formats

/// What `backprop summary` prints: for every layer its output shape, parameters, receptive field
/// and jump, then totals — torchsummary's table plus what the course teaches about receptive fields.
///
/// Receptive field r and jump j (the distance in input pixels between neighbouring outputs) grow
/// layer by layer: a k×k window with stride s gives r ← r + (k − 1)·j and j ← j·s; layers that do
/// not look at neighbours leave both unchanged. The input starts at r = 1, j = 1.
public struct ModelSummary {
    public struct Row {
        public let name: String
        public let layer: String
        public let outputShape: [Int]
        public let parameters: Int
        public let receptiveField: Int
        public let jump: Int
        public let multiplyAdds: Int
    }

    public let modelName: String
    public let inputShape: [Int]
    public let rows: [Row]
    public let totalParameters: Int
    public let multiplyAddsPerImage: Int
    /// Floats of activations one image produces in a forward pass (all layer outputs).
    public let activationFloatsPerImage: Int

    public init(model: Model) {
        var shape = model.inputShape
        var field = 1, jump = 1
        var rows: [Row] = []
        for (name, layer) in model.network.leaves {
            let input = shape
            shape = (try? layer.outputShape(for: input)) ?? input
            if let window = layer.spatialWindow(for: input) {
                field += (window.kernel - 1) * jump
                jump *= window.stride
            }
            rows.append(Row(name: name, layer: layer.description, outputShape: shape,
                            parameters: layer.parameterCount, receptiveField: field, jump: jump,
                            multiplyAdds: layer.multiplyAdds(for: input)))
        }
        self.modelName = model.name
        self.inputShape = model.inputShape
        self.rows = rows
        self.totalParameters = model.parameterCount
        self.multiplyAddsPerImage = rows.reduce(0) { $0 + $1.multiplyAdds }
        self.activationFloatsPerImage = rows.reduce(0) { $0 + $1.outputShape.reduce(1, *) }
    }

    /// The summary as an aligned text table; `batchSize` sizes the activation memory line.
    public func render(batchSize: Int) -> String {
        let header = ["Layer", "Type", "Output shape", "Param #", "RF", "Jump", "Mult-adds"]
        var table = rows.map { row in
            [row.name, row.layer, "[-1, " + row.outputShape.map(String.init).joined(separator: ", ") + "]",
             row.parameters > 0 ? grouped(row.parameters) : "--",
             String(row.receptiveField), String(row.jump),
             row.multiplyAdds > 0 ? grouped(row.multiplyAdds) : "--"]
        }
        table.insert(header, at: 0)
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index >= 3 ? pad + cell : cell + pad   // numbers right-aligned
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var out = "Model \(modelName), input [-1, " + inputShape.map(String.init).joined(separator: ", ") + "]\n"
        out += rule + "\n" + line(table[0]) + "\n" + rule + "\n"
        for row in table.dropFirst() { out += line(row) + "\n" }
        out += rule + "\n"
        out += "Total params: \(grouped(totalParameters))\n"
        out += "Receptive field at the output: \(rows.last?.receptiveField ?? 1) pixels\n"
        out += "Mult-adds per image: \(grouped(multiplyAddsPerImage)) (\(formatted(Double(multiplyAddsPerImage) / 1e6, 2)) M)\n"
        let bytes = Double(activationFloatsPerImage * 4 * batchSize)
        out += "Activations per batch of \(batchSize): \(formatted(bytes / 1_048_576, 1)) MiB forward"
        out += " (\(formatted(2 * bytes / 1_048_576, 1)) MiB with gradients)\n"
        return out
    }
}

