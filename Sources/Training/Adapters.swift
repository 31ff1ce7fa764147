import Data

/// The data loader serves batches exactly as the trainer asks for them.
extension BatchLoader: BatchSource {}
