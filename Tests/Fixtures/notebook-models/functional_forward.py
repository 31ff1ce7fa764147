# Layers as attributes, the network written out in forward with torch.nn.functional.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)        # 28 -> 26
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3)       # 26 -> 24, max-pool -> 12
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 16, 3)      # 12 -> 10, max-pool -> 5
        self.bn3 = nn.BatchNorm2d(16)
        self.conv4 = nn.Conv2d(16, 16, 3)      # 5 -> 3
        self.fc1 = nn.Linear(16 * 3 * 3, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.dropout(x, 0.1, training=self.training)
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.max_pool2d(x, 2)
        x = F.dropout(x, 0.1, training=self.training)
        x = F.relu(self.bn3(self.conv3(x)))
        x = F.max_pool2d(x, 2)
        x = F.relu(self.conv4(x))
        x = x.view(-1, 16 * 3 * 3)
        x = self.fc1(x)
        return F.log_softmax(x, dim=1)
