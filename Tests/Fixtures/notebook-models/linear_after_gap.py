# Sequential blocks, global average pooling, then a fully connected classifier.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),      # 28
            nn.ReLU(),
            nn.BatchNorm2d(8),
            nn.Conv2d(8, 16, 3, padding=1),     # 28
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2),                    # 14
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1),    # 14
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.Conv2d(16, 24, 3),               # 12
            nn.ReLU(),
            nn.BatchNorm2d(24),
            nn.MaxPool2d(kernel_size=2, stride=2),  # 6
        )
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.block1(x)
        x = self.block2(x)
        x = self.gap(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return F.log_softmax(x, dim=1)
