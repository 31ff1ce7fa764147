# Dilated 3x3 convolutions (dilation 2) to grow the receptive field, no biases, one ReLU module
# reused after every batch norm, a 1x1 convolution after GAP as the classifier.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)                 # 28 -> 26, RF 3
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, dilation=2, bias=False)    # 26 -> 22, RF 7
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2, 2)                              # 22 -> 11
        self.conv3 = nn.Conv2d(16, 16, 3, bias=False)               # 11 -> 9
        self.bn3 = nn.BatchNorm2d(16)
        self.conv4 = nn.Conv2d(16, 16, 3, dilation=2, bias=False)   # 9 -> 5
        self.bn4 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.05)
        self.gap = nn.AvgPool2d(5)
        self.fc = nn.Conv2d(16, 10, 1, bias=False)

    def forward(self, x):
        x = self.dropout(self.relu(self.bn1(self.conv1(x))))
        x = self.dropout(self.relu(self.bn2(self.conv2(x))))
        x = self.pool(x)
        x = self.dropout(self.relu(self.bn3(self.conv3(x))))
        x = self.relu(self.bn4(self.conv4(x)))
        x = self.gap(x)
        x = self.fc(x)
        x = x.view(x.size(0), -1)
        return F.log_softmax(x, dim=1)
