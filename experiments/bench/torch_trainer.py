"""The workloads in PyTorch (CPU, eager mode, NCHW as PyTorch prefers)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.bench.timing import best_rate
from experiments.bench.workloads import LSTM_UNITS, Workload


class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 5, padding=2), nn.Conv2d(32, 64, 5, padding=2)
        self.fc1, self.fc2 = nn.Linear(3136, 1024), nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), 0.5, self.training)
        return self.fc2(x)


class _LSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, LSTM_UNITS, batch_first=True)
        self.out = nn.Linear(LSTM_UNITS, 10)

    def forward(self, x):
        return self.out(self.lstm(x.reshape(-1, 28, 28))[0][:, -1])


def _dense(w, b):
    layer = nn.Linear(*w.shape)
    layer.weight.data, layer.bias.data = torch.tensor(w.T.copy()), torch.tensor(b)
    return layer


def build_model(name: str, p: dict[str, np.ndarray]) -> nn.Module:
    """The model of workload `name` holding the canonical weights `p`."""
    t = lambda a: torch.tensor(np.ascontiguousarray(a))
    if name == "softmax":
        return nn.Sequential(nn.Flatten(), _dense(p["w"], p["b"]))
    if name == "mlp":
        layers = [nn.Flatten()]
        for i in (1, 2, 3):
            layers += [_dense(p[f"w{i}"], p[f"b{i}"])] + ([nn.Tanh()] if i < 3 else [])
        return nn.Sequential(*layers)
    if name == "cnn":
        m = _CNN()
        for conv in ("conv1", "conv2"):  # HWIO -> OIHW
            getattr(m, conv).weight.data = t(p[f"{conv}_w"].transpose(3, 2, 0, 1))
            getattr(m, conv).bias.data = t(p[f"{conv}_b"])
        # canonical fc1 rows are in NHWC flatten order (h, w, c); PyTorch flattens (c, h, w)
        fc1 = p["fc1_w"].reshape(7, 7, 64, 1024).transpose(2, 0, 1, 3).reshape(3136, 1024)
        m.fc1.weight.data, m.fc1.bias.data = t(fc1.T), t(p["fc1_b"])
        m.fc2.weight.data, m.fc2.bias.data = t(p["fc2_w"].T), t(p["fc2_b"])
        return m
    if name == "lstm":
        m = _LSTM()
        m.lstm.weight_ih_l0.data = t(np.concatenate([g.T for g in p["wx"]]))
        m.lstm.weight_hh_l0.data = t(np.concatenate([g.T for g in p["wh"]]))
        m.lstm.bias_ih_l0.data = t(p["b"].reshape(-1))
        m.lstm.bias_hh_l0.data = torch.zeros(4 * LSTM_UNITS)
        m.out.weight.data, m.out.bias.data = t(p["out_w"].T), t(p["out_b"])
        return m
    raise KeyError(name)


class Trainer:
    """Trains one workload in PyTorch eager mode on data held in memory as tensors."""

    def __init__(self, workload: Workload, x: np.ndarray, y: np.ndarray, params, seed: int):
        torch.manual_seed(seed)
        self.x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
        self.y = torch.from_numpy(y.astype(np.int64))
        self.model = build_model(workload.name, params).train()
        opt = torch.optim.Adam if workload.optimizer == "adam" else torch.optim.SGD
        self.opt = opt(self.model.parameters(), lr=workload.learning_rate)
        self.steps_per_call = 1

    def run(self, indices: np.ndarray) -> float:
        """Train one step per row of `indices`; the last step's loss."""
        for row in torch.from_numpy(indices.astype(np.int64)):
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(self.x[row]), self.y[row])
            loss.backward()
            self.opt.step()
        return float(loss)

    @staticmethod
    def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
        a, b = torch.rand(n, n), torch.rand(n, n)
        return best_rate(lambda: a @ b, 2 * n**3, repeats)
