import Foundation
import Formats

/// A grid of small grey images with a caption under each (e.g. misclassified digits labelled
/// "7 → 2", true → predicted), as PNG and as SVG (which embeds each image as a PNG).
public struct DigitGrid {
    public var title: String
    public var images: [[UInt8]]
    public var captions: [String]
    public var imageWidth: Int
    public var imageHeight: Int
    public var columns: Int
    public var scale: Int

    public init(title: String, images: [[UInt8]], captions: [String], imageWidth: Int = 28, imageHeight: Int = 28,
                columns: Int = 10, scale: Int = 3) {
        self.title = title; self.images = images; self.captions = captions
        self.imageWidth = imageWidth; self.imageHeight = imageHeight; self.columns = columns; self.scale = scale
    }

    var cellWidth: Int { imageWidth * scale + 16 }
    var cellHeight: Int { imageHeight * scale + 24 }
    var rows: Int { max(1, (images.count + columns - 1) / columns) }
    var width: Int { max(columns * cellWidth + 16, 320) }
    var height: Int { 40 + rows * cellHeight + 8 }

    func origin(_ index: Int) -> (x: Int, y: Int) {
        (8 + (index % columns) * cellWidth + 8, 40 + (index / columns) * cellHeight)
    }

    public func png() -> [UInt8] {
        var canvas = Canvas(width: width, height: height)
        canvas.drawText(title, x: Double(width) / 2, y: 26, anchor: .middle, bold: true)
        for (index, image) in images.enumerated() {
            let (x, y) = origin(index)
            canvas.drawGrayImage(image, width: imageWidth, height: imageHeight, x: x, y: y, scale: scale)
            canvas.drawText(captions[index], x: Double(x + imageWidth * scale / 2), y: Double(y + imageHeight * scale + 16),
                            anchor: .middle)
        }
        if images.isEmpty { canvas.drawText("(none)", x: Double(width) / 2, y: 60, anchor: .middle) }
        return canvas.pngData()
    }

    public func svg() -> String {
        var body = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n"
        body += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        body += "<text x=\"\(width / 2)\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(xmlEscaped(title))</text>\n"
        for (index, image) in images.enumerated() {
            let (x, y) = origin(index)
            let png = PNGEncoder.encode(width: imageWidth, height: imageHeight, colorType: .gray, pixels: image)
            body += "<image x=\"\(x)\" y=\"\(y)\" width=\"\(imageWidth * scale)\" height=\"\(imageHeight * scale)\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,\(Data(png).base64EncodedString())\"/>\n"
            body += "<text x=\"\(x + imageWidth * scale / 2)\" y=\"\(y + imageHeight * scale + 16)\" text-anchor=\"middle\" font-size=\"13\">\(xmlEscaped(captions[index]))</text>\n"
        }
        return body + "</svg>\n"
    }
}
