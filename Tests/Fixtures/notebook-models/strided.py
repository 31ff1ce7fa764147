# Stride-2 convolutions instead of max-pooling, Dropout2d, the whole network one nn.Sequential.
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False),              # 28x28
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1, bias=False),   # 14x14
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Dropout2d(0.1),
            nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False),            # 14x14
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 24, kernel_size=3, stride=2, padding=1, bias=False),  # 7x7
            nn.BatchNorm2d(24),
            nn.ReLU(),
            nn.Dropout2d(0.1),
        )
        self.classifier = nn.Sequential(
            nn.Conv2d(24, 10, kernel_size=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x)
