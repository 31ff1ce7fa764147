import Data
import Formats
import Pictures
import NN

/// The pictures of a run.
public enum RunPictures {
    /// Two panels: loss by epoch (train and test, or validation: `evaluated`) and accuracy by
    /// epoch, with the 99.4% target.
    public static func curves(metrics: [EpochMetrics], model: String, evaluated: String = "test") -> Figure {
        let epochs = metrics.map { Double($0.epoch) }
        func series(_ name: String, _ values: [Double], dashed: Bool = false, color: Int) -> LineChart.Series {
            LineChart.Series(name: name, points: zip(epochs, values).map { LineChart.Point($0, $1) },
                             color: Color.palette[color], dashed: dashed)
        }
        let loss = LineChart(title: "\(model): loss", xLabel: "epoch", yLabel: "negative log-likelihood",
                             series: [series("train", metrics.map(\.train_loss), color: 0),
                                      series(evaluated, metrics.map(\.test_loss), color: 1)], integerX: true)
        let accuracies = metrics.map(\.train_acc) + metrics.map(\.test_acc)
        let low = min(98.0, (accuracies.min() ?? 98).rounded(.down))
        let accuracy = LineChart(title: "\(model): accuracy", xLabel: "epoch", yLabel: "accuracy (%)",
                                 series: [series("train", metrics.map(\.train_acc), color: 0),
                                          series(evaluated, metrics.map(\.test_acc), color: 1)],
                                 referenceLines: [LineChart.ReferenceLine(y: 99.4, label: "99.4%")],
                                 yRange: low...100, integerX: true)
        return Figure([loss, accuracy])
    }

    /// The first `limit` test (or validation: `evaluated`) images the model got wrong, captioned
    /// "true → predicted".
    public static func misclassified(evaluation: EvaluationResult, test: Dataset, classNames: [String], limit: Int = 50,
                                     evaluated: String = "test") -> DigitGrid {
        var images: [[UInt8]] = [], captions: [String] = []
        for index in 0..<min(evaluation.count, test.count) where evaluation.predictions[index] != evaluation.labels[index] {
            images.append(Array(test.images[(index * test.imageSize)..<((index + 1) * test.imageSize)]))
            captions.append("\(classNames[evaluation.labels[index]]) → \(classNames[evaluation.predictions[index]])")
            if images.count == limit { break }
        }
        let wrong = evaluation.count - evaluation.correct
        return DigitGrid(title: "Misclassified \(evaluated) images (true → predicted): \(images.count) of \(wrong) shown",
                         images: images, captions: captions, imageWidth: test.columns, imageHeight: test.rows)
    }
}
