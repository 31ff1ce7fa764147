#!/usr/bin/env python3
"""The PyTorch twin of a backprop model: an independent implementation to check the engine against.

    scripts/torch_twin.py check CHECKPOINT [--model M | --module FILE.py:Class] [--compare OUTPUTS] [--data data/mnist] [--backprop .build/release/backprop]
    scripts/torch_twin.py export MODEL OUT [--steps 30] [--seed 0]
    scripts/torch_twin.py agree FOLDER [--module FILE.py:Class]
    scripts/torch_twin.py time-epoch MODEL [--batch-size 128] [--threads 2] [--data data/mnist]
    scripts/torch_twin.py train MODEL [--recipe NAME] [--seed 1] [--threads 2] [--data data/mnist] [--stop-at 99.4]

`check` builds the model of the checkpoint (--model, else the model.json beside it, else the shipped model it names) from `backprop summary --model M --json` (same layers,
same module names), loads `model.safetensors` with `load_state_dict(strict=True)` and prints
PyTorch's test accuracy, to compare with `backprop eval`; with `--compare` (a file written by
`backprop eval --save-outputs`) it exits 1 unless every log-probability agrees within 1e-4 and the
accuracy is identical. `export` goes the other way: a twin initialised and trained by PyTorch alone,
saved with the safetensors package's writer, for `backprop eval --model MODEL` to read. `agree` reads what the Swift test
TorchAgreementTests wrote into FOLDER (architecture.json, model.safetensors, expected.safetensors),
repeats the computation in PyTorch and exits 1, with the differences, if they disagree, or 3 if the
batch lies too close to a ReLU or max-pool kink to test anything (see `kink_margin`).
With `--module FILE.py:Class`, `check` and `agree` use the learner's own PyTorch class instead of the
twin (for `agree`, instead of FOLDER/architecture.json): loaded as `backprop import FILE.py:Class`
loads it, by the importer's own code (Sources/backprop/import_tracer.py), built with no arguments;
the rest is the same (strict loading, evaluation, comparisons; dropout off where `agree` turns it
off, functional F.dropout included).
`time-epoch` trains the twin for one epoch (SGD, no augmentation) and evaluates the test set, timed,
the same work as `backprop bench --epoch --model MODEL` (scripts/bench-vs-torch runs both).
`train` trains the twin with the model's own recipe, as `backprop train --model MODEL` does (read
from `backprop summary --model-file`: SGD with its momentum and Nesterov, OneCycleLR with the same
parameters, random rotation and translation implemented here with affine_grid/grid_sample, bilinear,
filled with 0 before normalising, as the engine's loader does; a moving average of the weights if
the recipe keeps one), evaluates the test set after every epoch and prints one JSON line per epoch
(scripts/time-to-accuracy times them); with --stop-at, it stops at the first epoch that reaches
that accuracy. Needs torch and safetensors
(pip install "torch==2.13.0+cpu" safetensors). Never used inside the engine."""
import argparse
import functools
import importlib.util
import json
import struct
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.overrides import TorchFunctionMode

NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion": (0.2860, 0.3530)}   # as Sources/Data/Dataset.swift


def make_layer(spec):
    t = spec["type"]
    if t == "Conv2d":
        return nn.Conv2d(spec["inChannels"], spec["outChannels"], spec["kernelSize"], stride=spec.get("stride") or 1,
                         padding=spec["padding"], dilation=spec.get("dilation") or 1,
                         groups=spec.get("groups") or 1, bias=spec["bias"])
    if t == "BatchNorm2d":
        return nn.BatchNorm2d(spec["outChannels"], eps=spec.get("epsilon") or 1e-5,
                              momentum=0.1 if spec.get("momentum") is None else spec["momentum"])
    if t == "Linear":
        return nn.Linear(spec["inChannels"], spec["outChannels"], bias=spec["bias"])
    simple = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Flatten": nn.Flatten, "AdaptiveAvgPool2d": lambda: nn.AdaptiveAvgPool2d(1),
              "LogSoftmax": lambda: nn.LogSoftmax(dim=1)}
    if t in simple:
        return simple[t]()
    if t in ("MaxPool2d", "AvgPool2d"):
        return getattr(nn, t)(spec["kernelSize"])
    if t in ("Dropout", "Dropout2d"):
        return getattr(nn, t)(spec["probability"])
    raise ValueError(f"unknown layer type {t}")


class Twin(nn.Module):
    """Nested nn.Sequential modules named as the Swift model names its layers."""

    def __init__(self, architecture):
        super().__init__()
        tree = OrderedDict()
        for spec in architecture["layers"]:
            *parents, leaf = spec["name"].split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, OrderedDict())
            node[leaf] = make_layer(spec)

        def build(node):
            return nn.Sequential(OrderedDict((k, build(v) if isinstance(v, OrderedDict) else v) for k, v in node.items()))

        for name, child in build(tree).named_children():
            self.add_module(name, child)

    def forward(self, x):
        for child in self.children():
            x = child(x)
        return x.reshape(x.shape[0], -1)


IMPORT_TRACER = Path(__file__).resolve().parent.parent / "Sources" / "backprop" / "import_tracer.py"


@functools.lru_cache(maxsize=None)
def learner_class(spec):
    """FILE.py:Class loaded as `backprop import` loads it, by the importer's own code: the importer's
    module, the learner's file as it sees it, and the class."""
    path, colon, name = spec.rpartition(":")
    if not colon or not path or not name:
        sys.exit(f"--module {spec}: expected FILE.py:Class")
    loader = importlib.util.spec_from_file_location("backprop_import_tracer", IMPORT_TRACER)
    tracer = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(tracer)
    source = tracer.Source(path)
    try:
        return tracer, source, tracer.load_class(path, name, source)
    except tracer.Refusal as refusal:
        sys.exit(f"--module {spec}: {refusal}")


def learner_network(spec):
    """A new instance of the learner's class (--module FILE.py:Class), built with no arguments, its
    output flattened to (N, classes) as the twin's is."""
    tracer, source, cls = learner_class(spec)
    try:
        network = tracer.instantiate(cls, source)
    except tracer.Refusal as refusal:
        sys.exit(f"--module {spec}: {refusal}")
    network.register_forward_hook(lambda module, inputs, output: output.reshape(output.shape[0], -1))
    return network


def architecture(backprop, model):
    text = subprocess.run([backprop, "summary", "--model", model, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(text)


def read_idx(path, images):
    data = open(path, "rb").read()
    if images:
        count, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data[16:], dtype=np.uint8).reshape(count, 1, rows, cols)
    return np.frombuffer(data[8:], dtype=np.uint8)


def test_set(dataset, data):
    """The test images, normalised as the engine normalises them, and their labels."""
    mean, std = NORMALIZATION[dataset]
    x = read_idx(f"{data}/t10k-images-idx3-ubyte", True)
    y = read_idx(f"{data}/t10k-labels-idx1-ubyte", False)
    return torch.tensor((x.astype(np.float32) / 255 - mean) / std), torch.tensor(y, dtype=torch.long)


def evaluate(twin, x, y):
    twin.eval()
    with torch.no_grad():
        out = torch.cat([twin(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    loss = torch.nn.functional.nll_loss(out, y, reduction="mean").item()
    correct = int((out.argmax(1) == y).sum())
    print(f"PyTorch {torch.__version__}: Test set: Average loss: {loss:.4f}, Accuracy: {correct}/{len(y)} ({100 * correct / len(y):.2f}%)")
    return out, correct


def check(args):
    weights = load_file(args.checkpoint)
    with open(args.checkpoint, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    if args.module:
        name = args.module
        twin = learner_network(args.module)
    else:
        # The model: --model, else the run folder's model.json, else the shipped model it names.
        model_file = Path(args.checkpoint).resolve().parent / "model.json"
        name = args.model or (str(model_file) if model_file.exists() else header.get("__metadata__", {}).get("model"))
        if name is None:
            sys.exit(f"{args.checkpoint}: the checkpoint does not name its model; pass --model or --module")
        twin = Twin(architecture(args.backprop, name))
    print(f"{name}: {sum(p.numel() for p in twin.parameters())} parameters;", twin.load_state_dict(weights, strict=True))
    x, y = test_set(args.dataset, args.data)
    if args.compare:
        theirs = load_file(args.compare)
        n = len(theirs["labels"])
        x, y = x[:n], y[:n]
        if not torch.equal(theirs["labels"].long(), y):
            sys.exit(f"{args.compare}: its labels are not the first {n} test labels")
    out, correct = evaluate(twin, x, y)
    if args.compare:
        other = theirs["log_probabilities"]
        difference = float((out - other).abs().max())
        other_correct = int((other.argmax(1) == y).sum())
        print(f"{args.compare}: Accuracy: {other_correct}/{n}; largest log-probability difference {difference:.2e}")
        if difference > 1e-4 or other_correct != correct:
            print(f"DISAGREE: log-probabilities within 1e-4: {difference <= 1e-4}; same accuracy: {other_correct == correct}")
            sys.exit(1)


def export(args):
    """A twin initialised and trained by PyTorch alone (its own default initialisation, a few SGD
    steps with dropout on), saved with safetensors' own writer: weights backprop never made."""
    torch.manual_seed(args.seed)
    twin = Twin(architecture(args.backprop, args.model))
    mean, std = NORMALIZATION[args.dataset]
    x = read_idx(f"{args.data}/train-images-idx3-ubyte", True)
    y = torch.tensor(read_idx(f"{args.data}/train-labels-idx1-ubyte", False), dtype=torch.long)
    order = torch.randperm(len(y))[:args.steps * args.batch_size]
    x = torch.tensor((x[order.numpy()].astype(np.float32) / 255 - mean) / std)
    y = y[order]
    optimizer = torch.optim.SGD(twin.parameters(), lr=args.lr, momentum=0.9)
    twin.train()
    for i in range(0, len(y), args.batch_size):
        optimizer.zero_grad()
        torch.nn.functional.nll_loss(twin(x[i:i + args.batch_size]), y[i:i + args.batch_size]).backward()
        optimizer.step()
    save_file({k: v.contiguous() for k, v in twin.state_dict().items()}, args.out)
    print(f"{args.model}: trained by PyTorch for {args.steps} steps, saved to {args.out}")
    evaluate(twin, *test_set(args.dataset, args.data))


def relative(a, b):
    """‖a − b‖ / max(‖b‖, tiny): one number per tensor, robust to tiny entries."""
    return float((a - b).norm() / max(float(b.norm()), 1e-12))


KINK_MARGIN = 2e-6

DROPOUTS = {F.dropout, F.dropout2d, torch.dropout}
RELUS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
MAX_POOLS = {F.max_pool2d, torch.max_pool2d}


class TrainingProbe(TorchFunctionMode):
    """While active, every dropout runs with p = 0 (nn.Dropout and F.dropout alike: agree trains with
    dropout off), and with `margins` every ReLU's input and max-pool's windows are measured, whether
    a module or a functional call (F.relu, x.relu(), F.max_pool2d) computes them."""

    def __init__(self, margins=None):
        super().__init__()
        self.margins = margins

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in DROPOUTS:                                   # p = 0, as agree always did for nn.Dropout
            args = list(args)
            if len(args) > 1:
                args[1] = 0.0
            else:
                kwargs["p"] = 0.0
            return func(*args, **kwargs)
        if self.margins is not None and func in RELUS:
            self.margins.append(float((args[0] if args else kwargs["input"]).abs().min()))
        if self.margins is not None and func in MAX_POOLS:
            x = args[0] if args else kwargs["input"]
            k = args[1] if len(args) > 1 else kwargs["kernel_size"]
            k = k if isinstance(k, int) else k[0]
            n, c, h, w = x.shape
            windows = x[:, :, :h // k * k, :w // k * k].unfold(2, k, k).unfold(3, k, k).reshape(n, c, h // k, w // k, k * k)
            top = windows.topk(2, dim=-1).values
            gap = top[..., 0] - top[..., 1]
            gap = gap[gap > 0]
            if gap.numel():
                self.margins.append(float(gap.min()))
        return func(*args, **kwargs)


def kink_margin(twin, x):
    """How far the batch stays from the places where the network is not differentiable, in float64:
    the smallest |input| of a ReLU and the smallest non-zero gap between the two largest values of a
    max-pool window (exact ties are fine: both engines compute the same value and take the first).
    Closer than float32's rounding, the two engines may fall on different sides of a kink and both
    be right, so such a batch cannot test agreement. `twin` is a fresh network (it becomes float64)."""
    twin = twin.double()
    margins = []
    twin.train()
    with torch.no_grad(), TrainingProbe(margins):
        twin(x.double())
    return min(margins, default=float("inf"))


def agreement_network(args):
    """The network `agree` checks, FOLDER/model.safetensors loaded (strict): the learner's class with
    --module, else the twin of FOLDER/architecture.json."""
    if args.module:
        twin = learner_network(args.module)
    else:
        twin = Twin(json.load(open(f"{args.folder}/architecture.json")))
    twin.load_state_dict(load_file(f"{args.folder}/model.safetensors"), strict=True)
    return twin


def agree(args):
    twin = agreement_network(args)
    expected = load_file(f"{args.folder}/expected.safetensors")
    x, labels = expected["input"], expected["labels"].long()
    margin = kink_margin(agreement_network(args), x)
    if margin < KINK_MARGIN:
        print(f"ILL-CONDITIONED: the batch comes within {margin:.1e} of a ReLU or max-pool kink (needs {KINK_MARGIN:.0e})")
        sys.exit(3)
    problems, worst = [], {}
    twin.eval()
    with torch.no_grad():
        worst["eval log-probabilities (max abs)"] = float((twin(x) - expected["eval_logprobs"]).abs().max())
    if worst["eval log-probabilities (max abs)"] > 1e-4:
        problems.append("eval log-probabilities differ")
    twin.train()
    with TrainingProbe():
        out = twin(x)
    loss = torch.nn.functional.nll_loss(out, labels)
    loss.backward()
    worst["train log-probabilities (max abs)"] = float((out.detach() - expected["train_logprobs"]).abs().max())
    worst["loss (abs)"] = abs(loss.item() - float(expected["loss"]))
    if worst["train log-probabilities (max abs)"] > 1e-4 or worst["loss (abs)"] > 1e-5:
        problems.append("training-mode outputs differ")
    gradient_worst = 0.0
    # A gradient that is zero in exact arithmetic (a convolution's bias just before BatchNorm, which
    # subtracts the batch mean) is rounding noise in both engines: each tensor is measured against
    # at least a hundredth of the largest gradient in the model (their noise measured 2e-7 of it).
    largest = max(float(p.grad.norm()) for p in twin.parameters())
    for name, parameter in twin.named_parameters():
        b = parameter.grad
        r = float((expected["grad." + name] - b).norm() / max(float(b.norm()), 1e-2 * largest, 1e-12))
        gradient_worst = max(gradient_worst, r)
        if r > 1e-4:
            problems.append(f"gradient of {name}: relative difference {r:.2e}")
    worst["parameter gradients (relative)"] = gradient_worst
    stats_worst = 0.0
    for name, value in twin.state_dict().items():
        if name.endswith("running_mean") or name.endswith("running_var"):
            r = relative(expected["after." + name], value)
            stats_worst = max(stats_worst, r)
            if r > 1e-5:
                problems.append(f"{name}: relative difference {r:.2e}")
    worst["BatchNorm running statistics (relative)"] = stats_worst
    print("; ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    if problems:
        print("DISAGREE: " + "; ".join(problems))
        sys.exit(1)


def time_epoch(args):
    """One training epoch (SGD 0.01, momentum 0.9, shuffled batches, no augmentation) and
    --eval-passes passes over the test set in eval mode (their median), timed: the same work as
    `backprop bench --epoch`. The images are
    normalised once into one float tensor and batches are indexed from it, PyTorch's fastest way."""
    import resource
    import time
    spec = architecture(args.backprop, args.model)
    twin = Twin(spec)
    x = read_idx(f"{args.data}/train-images-idx3-ubyte", True)
    y = torch.tensor(read_idx(f"{args.data}/train-labels-idx1-ubyte", False), dtype=torch.long)
    x = torch.tensor((x.astype(np.float32) / 255 - 0.1307) / 0.3081)
    tx = read_idx(f"{args.data}/t10k-images-idx3-ubyte", True)
    ty = torch.tensor(read_idx(f"{args.data}/t10k-labels-idx1-ubyte", False), dtype=torch.long)
    tx = torch.tensor((tx.astype(np.float32) / 255 - 0.1307) / 0.3081)
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    twin.train()
    order = torch.randperm(len(y))
    start = time.perf_counter()
    for i in range(0, len(y), args.batch_size):
        index = order[i:i + args.batch_size]
        optimizer.zero_grad()
        loss = torch.nn.functional.nll_loss(twin(x[index]), y[index])
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    twin.eval()
    passes = []
    for _ in range(args.eval_passes):
        correct = 0
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(ty), args.batch_size):
                correct += int((twin(tx[i:i + args.batch_size]).argmax(1) == ty[i:i + args.batch_size]).sum())
        passes.append(time.perf_counter() - start)
    eval_seconds = sorted(passes)[len(passes) // 2]
    if args.json:
        print(json.dumps({"engine": "pytorch", "version": torch.__version__, "model": args.model,
                          "batch_size": args.batch_size, "threads": torch.get_num_threads(),
                          "epoch_seconds": seconds, "images_per_second": len(y) / seconds,
                          "eval_seconds": eval_seconds, "eval_passes": passes, "test_accuracy": 100 * correct / len(ty),
                          "parameters": sum(p.numel() for p in twin.parameters()),
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6},
                         sort_keys=True))
    else:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: {args.model} batch {args.batch_size}: "
              f"one training epoch in {seconds:.1f} s ({len(y) / seconds:.0f} images/s), test set in {eval_seconds:.2f} s")


def recipe_of(backprop, model, name="default"):
    text = subprocess.run([backprop, "summary", "--model", model, "--recipe", name, "--model-file"],
                          check=True, capture_output=True, text=True).stdout
    return json.loads(text)["recipe"]


def augment(images, rotation, translate, generator):
    """Each image rotated by an angle uniform in ±rotation degrees about its centre and shifted by
    whole pixels uniform in ±translate·size, bilinear, outside read as 0 (images in [0, 1])."""
    n, _, h, w = images.shape
    angle = (torch.rand(n, generator=generator) * 2 - 1) * rotation * torch.pi / 180
    shift_x = ((torch.rand(n, generator=generator) * 2 - 1) * translate * w).round()
    shift_y = ((torch.rand(n, generator=generator) * 2 - 1) * translate * h).round()
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates (in [-1, 1]) to the source's: the inverse rotation, then
    # the inverse shift (a pixel is 2/size in these units).
    theta = torch.stack([torch.stack([cos, -sin, -shift_x * 2 / w], 1),
                         torch.stack([sin, cos, -shift_y * 2 / h], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def train(args):
    """The model's recipe in PyTorch, the test set evaluated after every epoch, a JSON line each."""
    import copy
    import time
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    recipe = recipe_of(args.backprop, args.model, args.recipe)
    twin = Twin(architecture(args.backprop, args.model))
    mean, std = NORMALIZATION["mnist"]
    x = torch.tensor(read_idx(f"{args.data}/train-images-idx3-ubyte", True).astype(np.float32) / 255)
    y = torch.tensor(read_idx(f"{args.data}/train-labels-idx1-ubyte", False), dtype=torch.long)
    tx, ty = test_set("mnist", args.data)
    batch, epochs = recipe["batch_size"], recipe["epochs"]
    steps_per_epoch = (len(y) + batch - 1) // batch
    if recipe["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(twin.parameters(), lr=recipe["lr"], momentum=recipe["momentum"],
                                    nesterov=recipe["nesterov"], weight_decay=recipe["weight_decay"])
    else:
        optimizer = torch.optim.Adam(twin.parameters(), lr=recipe["lr"], betas=(recipe["momentum"], 0.999),
                                     weight_decay=recipe["weight_decay"])
    scheduler = None
    if recipe["schedule"] == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["max_lr"], total_steps=steps_per_epoch * epochs,
                                                        pct_start=recipe["pct_start"], div_factor=25, final_div_factor=1e4,
                                                        base_momentum=0.85, max_momentum=0.95)
    elif recipe["schedule"] == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe["step_size"] * steps_per_epoch, gamma=recipe["gamma"])
    decay = recipe.get("ema")
    average = copy.deepcopy(twin) if decay else None
    augmenting = recipe["rotation"] > 0 or recipe["translate"] > 0
    smoothing = recipe.get("label_smoothing", 0)
    step = 0
    for epoch in range(1, epochs + 1):
        twin.train()
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), batch):
            index = order[i:i + batch]
            images = x[index]
            if augmenting:
                images = augment(images, recipe["rotation"], recipe["translate"], generator)
            optimizer.zero_grad()
            log_probabilities = twin((images - mean) / std)
            # cross_entropy of log-probabilities is their NLL: log_softmax leaves them unchanged.
            loss = F.cross_entropy(log_probabilities, y[index], label_smoothing=smoothing) if smoothing else F.nll_loss(log_probabilities, y[index])
            loss.backward()
            optimizer.step()
            if scheduler:
                scheduler.step()
            step += 1
            if average is not None:
                d = min(decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for a, b in zip(average.state_dict().values(), twin.state_dict().values()):
                        if a.dtype.is_floating_point:
                            a.mul_(d).add_(b, alpha=1 - d)
                        else:
                            a.copy_(b)
        evaluated = average if average is not None else twin
        evaluated.eval()
        with torch.no_grad():
            correct = sum(int((evaluated(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum()) for i in range(0, len(ty), 1000))
        accuracy = 100 * correct / len(ty)
        print(json.dumps({"epoch": epoch, "test_acc": accuracy}), flush=True)
        if args.stop_at is not None and accuracy >= args.stop_at:
            break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check")
    c.add_argument("checkpoint")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--model", help="the model, if the checkpoint does not name it")
    which.add_argument("--module", metavar="FILE.py:Class", help="the learner's own PyTorch class instead of the twin")
    c.add_argument("--compare", help="a file written by backprop eval --save-outputs: exit 1 unless it agrees")
    c.add_argument("--dataset", default="mnist", choices=sorted(NORMALIZATION))
    c.add_argument("--data", default="data/mnist")
    c.add_argument("--backprop", default=".build/release/backprop")
    e = sub.add_parser("export")
    e.add_argument("model")
    e.add_argument("out")
    e.add_argument("--steps", type=int, default=30)
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--lr", type=float, default=0.05)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--dataset", default="mnist", choices=sorted(NORMALIZATION))
    e.add_argument("--data", default="data/mnist")
    e.add_argument("--backprop", default=".build/release/backprop")
    a = sub.add_parser("agree")
    a.add_argument("folder")
    a.add_argument("--module", metavar="FILE.py:Class", help="the learner's own PyTorch class instead of FOLDER/architecture.json")
    t = sub.add_parser("time-epoch")
    t.add_argument("model")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--eval-passes", type=int, default=10)
    t.add_argument("--data", default="data/mnist")
    t.add_argument("--backprop", default=".build/release/backprop")
    t.add_argument("--json", action="store_true", help="print one JSON line (for scripts/bench-vs-torch)")
    r = sub.add_parser("train")
    r.add_argument("model")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--recipe", default="default", help="another of the model's recipes (backprop train --recipe)")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--data", default="data/mnist")
    r.add_argument("--backprop", default=".build/release/backprop")
    r.add_argument("--stop-at", type=float, default=None, help="stop after the first epoch with at least this test accuracy")
    args = parser.parse_args()
    torch.set_num_threads(getattr(args, "threads", 2))
    {"check": check, "export": export, "agree": agree, "time-epoch": time_epoch, "train": train}[args.command](args)
