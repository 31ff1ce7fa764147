# Depthwise-separable convolutions, as in MobileNet: a 3x3 convolution per channel (groups equal to
# the channels) followed by a 1x1 convolution that mixes them; one depthwise convolution strided
# and with a bias, and a 3x3 convolution in two groups.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)                          # 28 -> 26
        self.bn1 = nn.BatchNorm2d(8)
        self.depthwise2 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)  # 26 -> 26
        self.pointwise2 = nn.Conv2d(8, 16, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.depthwise3 = nn.Conv2d(16, 16, 3, stride=2, groups=16)          # 26 -> 12
        self.bn3 = nn.BatchNorm2d(16)
        self.conv4 = nn.Conv2d(16, 16, 3, groups=2, bias=False)              # 12 -> 10
        self.bn4 = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(16, 10, 1, bias=False)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.pointwise2(self.depthwise2(x))))
        x = F.relu(self.bn3(self.depthwise3(x)))
        x = F.relu(self.bn4(self.conv4(x)))
        x = self.fc(self.gap(x))
        x = x.view(x.size(0), -1)
        return F.log_softmax(x, dim=1)
