import Foundation
import Formats

/// An sRGB colour.
public struct Color: Equatable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(r: UInt8, g: UInt8, b: UInt8) { self.r = r; self.g = g; self.b = b }
    /// "#1f77b4"
    public init(hex: String) {
        let digits = hex.hasPrefix("#") ? String(hex.dropFirst()) : hex
        let value = UInt32(digits, radix: 16) ?? 0
        self.init(r: UInt8((value >> 16) & 0xff), g: UInt8((value >> 8) & 0xff), b: UInt8(value & 0xff))
    }
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
    public static let white = Color(r: 255, g: 255, b: 255)
    public static let black = Color(r: 0, g: 0, b: 0)
    public static let gray = Color(hex: "#888888")
    /// A palette that stays apart for up to ten series (matplotlib's "tab10").
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"].map(Color.init(hex:))
}

public enum TextAnchor: Sendable { case start, middle, end }

/// Anti-aliased glyphs rasterised once from DejaVu Sans (see `FontAtlas+Glyphs.swift`).
public struct FontAtlas {
    struct Glyph {
        let width: Int
        let advance: Double
        let offset: Int
        let alpha: String   // base64 of width × height coverage bytes
    }
    public let pixelSize: Int
    public let ascent: Int
    public let height: Int
    let glyphs: [UInt32: Glyph]
    private var decoded: [UInt32: [UInt8]] = [:]

    init(pixelSize: Int, ascent: Int, height: Int, glyphs: [UInt32: Glyph]) {
        self.pixelSize = pixelSize; self.ascent = ascent; self.height = height; self.glyphs = glyphs
        for (code, glyph) in glyphs { decoded[code] = [UInt8](Data(base64Encoded: glyph.alpha) ?? Data()) }
    }

    func glyph(_ scalar: Unicode.Scalar) -> (Glyph, [UInt8]) {
        let code = glyphs[scalar.value] != nil ? scalar.value : 0x3f   // "?" for anything else
        return (glyphs[code]!, decoded[code]!)
    }

    public func width(of text: String) -> Double {
        text.unicodeScalars.reduce(0) { $0 + glyph($1).0.advance }
    }
}

/// An RGB raster image to draw charts and digit grids on, then save as PNG.
public struct Canvas {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, background: Color = .white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = background.r; pixels[3 * i + 1] = background.g; pixels[3 * i + 2] = background.b
        }
    }

    /// Mixes `color` into pixel (x, y) with coverage 0…1.
    public mutating func blend(x: Int, y: Int, color: Color, coverage: Double) {
        guard x >= 0, y >= 0, x < width, y < height, coverage > 0 else { return }
        let a = min(1, coverage), i = 3 * (y * width + x)
        pixels[i] = UInt8((Double(pixels[i]) * (1 - a) + Double(color.r) * a).rounded())
        pixels[i + 1] = UInt8((Double(pixels[i + 1]) * (1 - a) + Double(color.g) * a).rounded())
        pixels[i + 2] = UInt8((Double(pixels[i + 2]) * (1 - a) + Double(color.b) * a).rounded())
    }

    public mutating func fillRect(x: Double, y: Double, width w: Double, height h: Double, color: Color) {
        let x0 = max(0, Int(x.rounded())), y0 = max(0, Int(y.rounded()))
        let x1 = min(width, Int((x + w).rounded())), y1 = min(height, Int((y + h).rounded()))
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { blend(x: xx, y: yy, color: color, coverage: 1) } }
    }

    /// A line of the given thickness with soft edges: each pixel is covered by how close its
    /// centre lies to the segment.
    public mutating func drawLine(from a: (x: Double, y: Double), to b: (x: Double, y: Double), color: Color,
                                  thickness: Double = 1.5) {
        let half = thickness / 2
        let minX = Int((min(a.x, b.x) - half - 1).rounded(.down)), maxX = Int((max(a.x, b.x) + half + 1).rounded(.up))
        let minY = Int((min(a.y, b.y) - half - 1).rounded(.down)), maxY = Int((max(a.y, b.y) + half + 1).rounded(.up))
        let dx = b.x - a.x, dy = b.y - a.y, lengthSquared = dx * dx + dy * dy
        for y in max(0, minY)...max(0, min(height - 1, maxY)) {
            for x in max(0, minX)...max(0, min(width - 1, maxX)) {
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                let t = lengthSquared > 0 ? max(0, min(1, ((px - a.x) * dx + (py - a.y) * dy) / lengthSquared)) : 0
                let cx = a.x + t * dx - px, cy = a.y + t * dy - py
                let distance = (cx * cx + cy * cy).squareRoot()
                blend(x: x, y: y, color: color, coverage: max(0, min(1, half + 0.5 - distance)))
            }
        }
    }

    public mutating func drawDashedLine(from a: (x: Double, y: Double), to b: (x: Double, y: Double), color: Color,
                                        thickness: Double = 1, dash: Double = 6) {
        let length = ((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y)).squareRoot()
        guard length > 0 else { return }
        var s = 0.0
        while s < length {
            let e = min(length, s + dash)
            drawLine(from: (a.x + (b.x - a.x) * s / length, a.y + (b.y - a.y) * s / length),
                     to: (a.x + (b.x - a.x) * e / length, a.y + (b.y - a.y) * e / length), color: color, thickness: thickness)
            s += 2 * dash
        }
    }

    /// Text whose baseline starts (or is centred, or ends) at (x, y). `bold` picks the larger
    /// title face. `rotated` turns it 90° counter-clockwise, for a y-axis label: the text then
    /// reads upwards from (x, y), its baseline on the vertical line through x.
    public mutating func drawText(_ text: String, x: Double, y: Double, color: Color = .black,
                                  anchor: TextAnchor = .start, bold: Bool = false, rotated: Bool = false) {
        let font = bold ? FontAtlas.bold : FontAtlas.regular
        let total = font.width(of: text)
        var pen = anchor == .start ? 0 : anchor == .middle ? -total / 2 : -total
        for scalar in text.unicodeScalars {
            let (glyph, alpha) = font.glyph(scalar)
            let left = Int(pen.rounded()) + glyph.offset
            for gy in 0..<font.height {
                for gx in 0..<glyph.width {
                    let coverage = Double(alpha[gy * glyph.width + gx]) / 255
                    guard coverage > 0 else { continue }
                    let u = left + gx, v = gy - font.ascent   // relative to the pen on the baseline
                    if rotated {
                        blend(x: Int(x.rounded()) + v, y: Int(y.rounded()) - u, color: color, coverage: coverage)
                    } else {
                        blend(x: Int(x.rounded()) + u, y: Int(y.rounded()) + v, color: color, coverage: coverage)
                    }
                }
            }
            pen += glyph.advance
        }
    }

    public func textWidth(_ text: String, bold: Bool = false) -> Double {
        (bold ? FontAtlas.bold : FontAtlas.regular).width(of: text)
    }

    /// Draws a grey image (0 black … 255 white), each pixel as a `scale`×`scale` square.
    public mutating func drawGrayImage(_ gray: [UInt8], width w: Int, height h: Int, x: Int, y: Int, scale: Int) {
        for yy in 0..<(h * scale) {
            for xx in 0..<(w * scale) {
                let v = gray[(yy / scale) * w + xx / scale]
                let px = x + xx, py = y + yy
                guard px >= 0, py >= 0, px < width, py < height else { continue }
                let i = 3 * (py * width + px)
                pixels[i] = v; pixels[i + 1] = v; pixels[i + 2] = v
            }
        }
    }

    public func pngData() -> [UInt8] {
        PNGEncoder.encode(width: width, height: height, colorType: .rgb, pixels: pixels)
    }
}
