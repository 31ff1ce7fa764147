import Formats

/// Turns a photo or drawing of a digit, of any size, into a 28×28 image made the way MNIST's were:
/// white ink on black, the digit scaled so its longer side is 20 pixels, then placed so that its
/// centre of mass sits at the centre of the 28×28 field.
public enum DigitPreprocessing {
    public static func mnistLike(_ image: GrayImage, source: String) throws -> [UInt8] {
        var v = image.pixels
        let w = image.width, h = image.height
        // A light background (the usual dark pen on paper) is inverted to MNIST's white on black.
        var border: [Float] = []
        for x in 0..<w { border.append(v[x]); border.append(v[(h - 1) * w + x]) }
        for y in 0..<h { border.append(v[y * w]); border.append(v[y * w + w - 1]) }
        let background = border.reduce(0, +) / Float(border.count)
        if background > 0.5 { v = v.map { 1 - $0 } }
        // Subtract what remains of the background, so faint paper texture does not count as ink.
        let floor = min(background > 0.5 ? 1 - background : background, 0.5)
        v = v.map { max(0, ($0 - floor) / (1 - floor)) }
        guard let peak = v.max(), peak > 0.1 else {
            throw ImageError("\(source): no digit found (the image is blank after removing its background)")
        }
        // The ink's bounding box.
        let threshold = 0.2 * peak
        var minX = w, maxX = -1, minY = h, maxY = -1
        for y in 0..<h { for x in 0..<w where v[y * w + x] > threshold {
            minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
        } }
        let boxW = maxX - minX + 1, boxH = maxY - minY + 1
        let scale = 20 / Float(max(boxW, boxH))
        let outW = max(1, min(20, Int((Float(boxW) * scale).rounded()))), outH = max(1, min(20, Int((Float(boxH) * scale).rounded())))
        // Resample by averaging 4×4 bilinear samples per output pixel (area-like when shrinking).
        func bilinear(_ x: Float, _ y: Float) -> Float {
            let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
            let fx = x - Float(x0), fy = y - Float(y0)
            func at(_ xx: Int, _ yy: Int) -> Float {
                let cx = min(max(xx, minX), maxX), cy = min(max(yy, minY), maxY)
                return v[cy * w + cx]
            }
            return (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy
        }
        var small = [Float](repeating: 0, count: outW * outH)
        let stepX = Float(boxW) / Float(outW), stepY = Float(boxH) / Float(outH)
        for oy in 0..<outH {
            for ox in 0..<outW {
                var sum: Float = 0
                for sy in 0..<4 { for sx in 0..<4 {
                    let x = Float(minX) + (Float(ox) + (Float(sx) + 0.5) / 4) * stepX - 0.5
                    let y = Float(minY) + (Float(oy) + (Float(sy) + 0.5) / 4) * stepY - 0.5
                    sum += bilinear(x, y)
                } }
                small[oy * outW + ox] = min(1, sum / 16 / peak)
            }
        }
        // Centre of mass to the middle of the 28×28 field.
        var mass: Float = 0, cx: Float = 0, cy: Float = 0
        for y in 0..<outH { for x in 0..<outW { let m = small[y * outW + x]; mass += m; cx += m * Float(x); cy += m * Float(y) } }
        let comX = mass > 0 ? cx / mass : Float(outW - 1) / 2, comY = mass > 0 ? cy / mass : Float(outH - 1) / 2
        let left = min(max(Int((13.5 - comX).rounded()), 0), 28 - outW)
        let top = min(max(Int((13.5 - comY).rounded()), 0), 28 - outH)
        var out = [UInt8](repeating: 0, count: 784)
        for y in 0..<outH { for x in 0..<outW {
            out[(top + y) * 28 + left + x] = UInt8((small[y * outW + x] * 255).rounded())
        } }
        return out
    }
}
