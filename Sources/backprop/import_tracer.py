# The tracer behind `backprop import notebook.py:Net`: writes the model file (docs/model-files.md)
# of a learner's PyTorch class. Run as
#     python -P -c SOURCE notebook.py Net [--name NAME]
# It loads notebook.py as a module (its folder first on sys.path, so sibling imports work),
# builds Net() with no arguments, traces forward with torch.fx and prints the model file's JSON
# on stdout. The network must be one chain of the layers the engine knows, from the one input to
# log-probabilities; anything else is refused with one line `error: ...` on stderr and exit 1.
# Self-contained (it does not know its own path) and ASCII-only: it travels inside the binary.
import contextlib
import importlib.util
import inspect
import io
import json
import math
import operator
import os
import re
import sys
import warnings

PROBE = (2, 1, 28, 28)          # the batch the shapes are worked out on (two, to see the batch dimension)
WIDTH = 110                     # the JSON's lines are packed up to this width


class Refusal(Exception):
    """A reason the class cannot be written as a model file: the one line the learner sees."""


def one_line(text):
    return re.sub(r"\s+", " ", str(text)).strip()


def fail(message, code=1):
    sys.stderr.write("error: " + one_line(message) + "\n")
    sys.stderr.flush()
    sys.exit(code)


@contextlib.contextmanager
def quiet():
    """Runs the learner's code with its prints and warnings kept off our stdout and stderr: stdout
    carries the JSON, stderr the one error line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield


# ----------------------------------------------------------------------------------------------
# Where a node or an exception comes from in the learner's file


class Source:
    def __init__(self, path):
        self.path = os.path.realpath(path)
        self.folder = os.path.dirname(self.path)
        self.name = os.path.basename(path)

    def mine(self, filename):
        try:
            return os.path.realpath(filename) == self.path
        except (TypeError, ValueError):
            return False

    def near(self, filename):
        """The learner's file or a file beside it (a sibling module)."""
        try:
            return os.path.dirname(os.path.realpath(filename)) == self.folder
        except (TypeError, ValueError):
            return False

    def pick(self, frames, outer=False):
        """The innermost (or outermost) frame in the learner's file, else in a file beside it."""
        for test in (self.mine, self.near):
            chosen = [f for f in frames if test(f[0])]
            if chosen:
                return chosen[0] if outer else chosen[-1]
        return None

    @staticmethod
    def describe(frame):
        filename, line, function, text = frame
        if function == "<module>":
            function = os.path.basename(filename)
        if not text:
            import linecache
            text = linecache.getline(filename, line)
        return f"line {line} of {function}: {one_line(text)}" if text.strip() else f"line {line} of {function}"

    def node_frame(self, node, outer=False):
        """(file, line, function, source) of the learner's line a traced node came from."""
        frames, lines = [], (node.stack_trace or "").splitlines()
        for i, line in enumerate(lines):
            m = re.match(r'\s*File "(.*)", line (\d+), in (.*)$', line)
            if m:
                text = ""
                if i + 1 < len(lines) and not re.match(r'\s*File "', lines[i + 1]):
                    text = lines[i + 1].strip()
                frames.append((m.group(1), int(m.group(2)), m.group(3).strip(), text))
        return self.pick(frames, outer)

    def where(self, node, outer=False):
        frame = self.node_frame(node, outer)
        return self.describe(frame) if frame else "(line unknown)"

    def exception_where(self, error):
        import traceback
        frames = [(f.filename, f.lineno, f.name, f.line or "") for f in traceback.extract_tb(error.__traceback__)]
        frame = self.pick(frames)
        if frame is None and isinstance(error, SyntaxError) and error.filename and self.near(error.filename):
            frame = (error.filename, error.lineno or 0, "the file", error.text or "")
        return frame


def exception_text(error):
    text = one_line(error) or "(no message)"
    return f"{type(error).__name__}: {text}"


# ----------------------------------------------------------------------------------------------
# Loading the learner's file and building the class


def load_class(path, class_name, source):
    """The class `class_name` of the Python file `path`, loaded as the importer loads it."""
    import torch.nn as nn
    if not os.path.isfile(path):
        raise Refusal(f"{path}: no such file")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = "_backprop_notebook"
    spec = importlib.util.spec_from_file_location(module_name, os.path.abspath(path))
    if spec is None or spec.loader is None:
        raise Refusal(f"{path}: cannot be loaded as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with quiet():
            spec.loader.exec_module(module)
    except SyntaxError as e:
        text = (e.text or "").strip()
        hint = ""
        if text.startswith(("!", "%")):
            hint = " (a notebook's shell and magic lines are not Python: delete them from the .py file)"
        raise Refusal(f"{source.name} line {e.lineno}: {e.msg}: {text}{hint}")
    except SystemExit as e:
        raise Refusal(f"running {source.name} called exit({e.code})")
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        frame = source.exception_where(e)
        at = f" at {source.describe(frame)}" if frame else ""
        if frame and frame[2] == "<module>" and source.mine(frame[0]):
            at = f" at line {frame[1]}: {one_line(frame[3])}"
        hint = ""
        if isinstance(e, ModuleNotFoundError):
            hint = f" (the importer runs {sys.executable}; install the package there or remove the import)"
        raise Refusal(f"running {source.name} failed{at}: {exception_text(e)}{hint}")
    cls = getattr(module, class_name, None)
    if cls is None:
        found = sorted(k for k, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == module_name)
        known = f"; its nn.Module classes: {', '.join(found)}" if found else "; it defines no nn.Module class"
        raise Refusal(f"{source.name} has no class {class_name}{known}")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise Refusal(f"{class_name} in {source.name} is not an nn.Module class")
    return cls


def instantiate(cls, source):
    """cls(), with the learner's mistakes as one line."""
    name = cls.__name__
    try:
        inspect.signature(cls).bind()
    except TypeError as e:
        raise Refusal(f"{name} must be constructible without arguments: {name}() fails: {one_line(e)} "
                      f"(give __init__'s arguments defaults)")
    except ValueError:
        pass
    try:
        with quiet():
            return cls()
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        frame = source.exception_where(e)
        at = f" at {source.describe(frame)}" if frame else ""
        raise Refusal(f"{name}() failed{at}: {exception_text(e)} (the class must be constructible without arguments)")


# ----------------------------------------------------------------------------------------------
# Layers


def fmt(x):
    """A float as Python writes it shortest: 0.1, 0.03, 1e-05."""
    return repr(float(x))


def square(value, what, problem):
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            value = value[0]
        elif len(value) == 2 and value[0] == value[1]:
            value = value[0]
        else:
            raise problem(f"{what}={tuple(value)} is not square (the engine's {what} is one number)")
    if isinstance(value, str):
        raise problem(f"{what}={value!r} is not supported: write the number")
    return int(value)


def conv2d_layer(m, problem):
    k = square(m.kernel_size, "kernel_size", problem)
    if isinstance(m.padding, str):
        raise problem(f"padding={m.padding!r} is not supported: write the number (padding=1 for a 3x3 kernel)")
    s = square(m.stride, "stride", problem)
    p = square(m.padding, "padding", problem)
    d = square(m.dilation, "dilation", problem)
    if m.padding_mode != "zeros":
        raise problem(f"padding_mode={m.padding_mode!r} is not supported (zeros only)")
    text = f"Conv2d({m.in_channels}, {m.out_channels}, kernel_size={k}"
    if s != 1:
        text += f", stride={s}"
    if p != 0:
        text += f", padding={p}"
    if d != 1:
        text += f", dilation={d}"
    if m.groups != 1:
        text += f", groups={m.groups}"
    if m.bias is None:
        text += ", bias=False"
    return text + ")"


def pool_layer(kind, kernel_size, stride, padding, dilation, ceil_mode, problem, extra=()):
    k = square(kernel_size, "kernel_size", problem)
    if stride is not None and not (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = square(stride, "stride", problem)
        if s != k:
            raise problem(f"stride={s} differs from kernel_size={k}: windows that overlap or leave gaps are not supported")
    if square(padding, "padding", problem) != 0:
        raise problem("padding is not supported in pooling")
    if dilation is not None and square(dilation, "dilation", problem) != 1:
        raise problem("dilation is not supported in pooling")
    if ceil_mode:
        raise problem("ceil_mode=True is not supported")
    for bad, message in extra:
        if bad:
            raise problem(message)
    return f"{kind}({k})"


def gap_layer(output_size, problem):
    size = output_size
    if isinstance(size, (tuple, list)) and len(size) in (1, 2) and all(v == 1 for v in size):
        size = 1
    if size != 1:
        raise problem(f"output_size={output_size} is not supported: only AdaptiveAvgPool2d(1), global average pooling")
    return "AdaptiveAvgPool2d(1)"


def softmax_dim(dim, ndim):
    """The dimension a (log_)softmax works on, as PyTorch resolves it (dim=None: its old implicit choice)."""
    if dim is None:
        return 0 if ndim in (0, 1, 3) else 1
    return dim + ndim if dim < 0 else dim


def log_softmax_layer(dim, shape, problem):
    ndim = len(shape)
    if softmax_dim(dim, ndim) != 1:
        raise problem(f"log_softmax over dim={dim} of a {shape_text(shape)} tensor is not over the classes: "
                      f"flatten first (x.view(-1, 10)) or use dim=1")
    return "LogSoftmax(dim=1)"


def module_layer(m, shape, problem):
    """The layer string of a standard module; None for nn.Identity."""
    import torch.nn as nn
    t = type(m)
    if t is nn.Conv2d:
        return conv2d_layer(m, problem)
    if t is nn.BatchNorm2d:
        if not (m.affine and m.track_running_stats):
            raise problem("affine=False and track_running_stats=False are not supported")
        if m.momentum is None:
            raise problem("momentum=None (a cumulative average) is not supported")
        text = f"BatchNorm2d({m.num_features}"
        if m.eps != 1e-05:
            text += f", eps={fmt(m.eps)}"
        if m.momentum != 0.1:
            text += f", momentum={fmt(m.momentum)}"
        return text + ")"
    if t is nn.ReLU:
        return "ReLU()"
    if t is nn.Sigmoid:
        return "Sigmoid()"
    if t is nn.Dropout:
        return f"Dropout(p={fmt(m.p)})"
    if t is nn.Dropout2d:
        return f"Dropout2d(p={fmt(m.p)})"
    if t is nn.MaxPool2d:
        return pool_layer("MaxPool2d", m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, problem,
                          [(m.return_indices, "return_indices=True is not supported")])
    if t is nn.AvgPool2d:
        return pool_layer("AvgPool2d", m.kernel_size, m.stride, m.padding, None, m.ceil_mode, problem,
                          [(m.divisor_override is not None, "divisor_override is not supported")])
    if t is nn.AdaptiveAvgPool2d:
        return gap_layer(m.output_size, problem)
    if t is nn.Flatten:
        if m.start_dim != 1 or m.end_dim != -1:
            raise problem(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) is not supported: only Flatten() (start_dim=1)")
        return "Flatten()"
    if t is nn.Linear:
        return f"Linear({m.in_features}, {m.out_features}" + (", bias=False)" if m.bias is None else ")")
    if t is nn.LogSoftmax:
        return log_softmax_layer(m.dim, shape, problem)
    if t is nn.Identity:
        return None
    hint = {nn.Softmax: " (the model must end in log_softmax: nn.LogSoftmax(dim=1) or F.log_softmax(x, dim=1))",
            nn.BatchNorm1d: " (BatchNorm2d only)"}.get(t, "")
    raise problem(f"unsupported layer nn.{t.__name__}{hint}", bare=True)


def parameter_keys(layer):
    """The state-dict entries the model file implies for a layer string, relative to its name."""
    kind = layer.split("(", 1)[0]
    bias = "bias=False" not in layer
    if kind in ("Conv2d", "Linear"):
        return ["weight"] + (["bias"] if bias else [])
    if kind == "BatchNorm2d":
        return ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    return []


def shape_text(shape):
    return "(" + ", ".join(str(v) for v in shape) + ")"


# ----------------------------------------------------------------------------------------------
# Functions and methods called in forward

RESHAPES = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "float", "to", "cpu"}
OPERATORS = {operator.add: "+", operator.iadd: "+=", operator.sub: "-", operator.isub: "-=", operator.mul: "*",
             operator.imul: "*=", operator.truediv: "/", operator.itruediv: "/=", operator.matmul: "@",
             operator.neg: "unary -", operator.getitem: "[] (indexing)", operator.pow: "**"}


def function_name(node):
    import torch
    t = node.target
    if node.op == "call_method":
        return f"Tensor.{t}"
    if t in OPERATORS:
        return OPERATORS[t]
    import torch.nn.functional as F
    for prefix, namespace in (("F", F), ("torch", torch)):
        names = sorted(k for k, v in vars(namespace).items() if v is t)
        public = [k for k in names if not k.startswith("_")]
        if names:
            return f"{prefix}.{(public or names)[0]}"
    name = getattr(t, "__name__", str(t))
    module = getattr(t, "__module__", None)
    return f"{module}.{name}" if module else name


def unsupported_hint(name, tensor_inputs):
    if name in ("+", "+=") and tensor_inputs >= 2:
        return " (adding two tensors: a residual connection; the model file is one chain of layers)"
    if name in ("torch.cat", "torch.concat", "torch.stack"):
        return " (concatenation: the model file is one chain of layers)"
    if name in ("F.softmax", "torch.softmax", "Tensor.softmax"):
        return " (the model must end in log_softmax: F.log_softmax(x, dim=1))"
    if tensor_inputs >= 2:
        return " (it combines two tensors; the model file is one chain of layers)"
    return ""


def normalized(node, values):
    """The call's arguments by name, with every node replaced by its value in the probe run."""
    from torch.fx.node import map_arg
    from torch.fx.operator_schemas import normalize_function
    args = map_arg(node.args, lambda n: values[n])
    kwargs = map_arg(node.kwargs, lambda n: values[n])
    if node.op == "call_method":
        return args, kwargs
    pair = normalize_function(node.target, tuple(args), dict(kwargs), normalize_to_only_use_kwargs=True)
    if pair is None:
        try:
            return inspect.signature(node.target).bind(*args, **kwargs).arguments
        except (TypeError, ValueError):
            return None
    return pair.kwargs


def method_argument(args, kwargs, index, name, default=None):
    """Argument `name` of a Tensor method (args[0] is the tensor itself)."""
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def classify(node, values, shape, problem):
    """What a call_function/call_method node is: ("layers", [strings]), ("reshape", None),
    ("gap-mean", keepdim), ("skip", None) or ("unsupported", name)."""
    import torch
    import torch.nn.functional as F
    name = function_name(node)
    t = node.target
    if node.op == "call_method":
        args, kwargs = normalized(node, values)
        if t in ("relu", "relu_"):
            return "layers", ["ReLU()"]
        if t in ("sigmoid", "sigmoid_"):
            return "layers", ["Sigmoid()"]
        if t in RESHAPES:
            return "reshape", None
        if t == "log_softmax":
            return "layers", [log_softmax_layer(method_argument(args, kwargs, 1, "dim"), shape, problem)]
        if t == "mean":
            return mean_gap(method_argument(args, kwargs, 1, "dim"), method_argument(args, kwargs, 2, "keepdim", False), shape, name)
        return "unsupported", name
    if node.op != "call_function":
        return "unsupported", name
    if t in (F.relu, F.relu_, torch.relu, torch.relu_):
        return "layers", ["ReLU()"]
    if t in (torch.sigmoid, F.sigmoid):
        return "layers", ["Sigmoid()"]
    if t in (torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze):
        return "reshape", None
    known = {F.max_pool2d, torch.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.dropout, F.dropout2d, torch.dropout,
             F.log_softmax, torch.log_softmax, torch.mean}
    if t not in known:
        return "unsupported", name
    a = normalized(node, values)
    if a is None:
        raise problem(f"could not read the arguments of {name}")
    if t in (F.max_pool2d, torch.max_pool2d):
        return "layers", [pool_layer("MaxPool2d", a["kernel_size"], a.get("stride"), a.get("padding", 0), a.get("dilation", 1),
                                     a.get("ceil_mode", False), problem,
                                     [(a.get("return_indices", False), "return_indices=True is not supported")])]
    if t is F.avg_pool2d:
        return "layers", [pool_layer("AvgPool2d", a["kernel_size"], a.get("stride"), a.get("padding", 0), None,
                                     a.get("ceil_mode", False), problem,
                                     [(a.get("divisor_override") is not None, "divisor_override is not supported")])]
    if t is F.adaptive_avg_pool2d:
        return "layers", [gap_layer(a["output_size"], problem)]
    if t in (F.dropout, F.dropout2d, torch.dropout):
        if not a.get("training", a.get("train", True)):
            return "skip", None
        return "layers", [f"{'Dropout2d' if t is F.dropout2d else 'Dropout'}(p={fmt(a.get('p', 0.5))})"]
    if t in (F.log_softmax, torch.log_softmax):
        return "layers", [log_softmax_layer(a.get("dim"), shape, problem)]
    if t is torch.mean:
        return mean_gap(a.get("dim"), a.get("keepdim", False), shape, name)
    return "unsupported", name


def mean_gap(dim, keepdim, shape, name):
    """x.mean((2, 3)) of an image batch is global average pooling (then a flatten, without keepdim)."""
    if len(shape) == 4 and isinstance(dim, (tuple, list)) and sorted(d % 4 for d in dim) == [2, 3]:
        return "gap-mean", bool(keepdim)
    return "unsupported", name


# ----------------------------------------------------------------------------------------------
# Tracing


def tracer_class():
    import torch.fx

    class StackTracer(torch.fx.Tracer):
        record_stack_traces = True

    return StackTracer


def trace(model, source, cls_name):
    import torch.fx
    try:
        with quiet():
            return tracer_class()().trace(model)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        frame = source.exception_where(e)
        line = f"line {frame[1]}: {one_line(frame[3])}" if frame else "line unknown"
        if isinstance(e, torch.fx.proxy.TraceError) and "control flow" in str(e):
            raise Refusal(f"forward has Python control flow that depends on the data ({line}); "
                          f"the model file is one fixed chain of layers")
        at = f" at {source.describe(frame)}" if frame else ""
        raise Refusal(f"cannot trace {cls_name}.forward with torch.fx{at}: {exception_text(e)}")


def probe(graph_module, source, cls_name):
    """Every node's value when the traced forward runs on a zero batch of PROBE's shape (ShapeProp,
    in evaluation mode), keyed by node."""
    import torch
    from torch.fx.passes.shape_prop import ShapeProp
    values = {}

    class Failed(Exception):
        def __init__(self, node, error):
            super().__init__()
            self.node, self.error = node, error

    class Recorder(ShapeProp):
        def run_node(self, n):
            try:
                result = super().run_node(n)
            except Exception as e:
                raise Failed(n, e.__cause__ or e)
            values[n] = result
            return result

    recorder = Recorder(graph_module)
    recorder.extra_traceback = False
    graph_module.eval()
    try:
        with quiet(), torch.no_grad():
            recorder.propagate(torch.zeros(PROBE))
    except Failed as f:
        raise Refusal(f"{cls_name} does not run on a batch of 1x28x28 images: {source.where(f.node)}: {exception_text(f.error)}")
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise Refusal(f"{cls_name} does not run on a batch of 1x28x28 images: {exception_text(e)}")
    return values


def carries_tensor(value):
    import torch
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(carries_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(carries_tensor(v) for v in value.values())
    return False


def dropout_nodes(graph):
    import torch
    import torch.nn.functional as F
    return [n for n in graph.nodes if n.op == "call_function" and n.target in (F.dropout, F.dropout2d, torch.dropout)]


def check_modes(train_graph, eval_graph, source):
    """forward must do the same in training and in evaluation, dropout aside, and its dropouts must
    turn off when the model evaluates, as the engine's do."""
    from torch.fx.operator_schemas import normalize_function
    for n in dropout_nodes(eval_graph):
        pair = normalize_function(n.target, n.args, n.kwargs, normalize_to_only_use_kwargs=True)
        a = pair.kwargs if pair else {}
        if a.get("training", a.get("train", True)) is True:
            raise Refusal(f"{function_name(n)} at {source.where(n)} stays on when the model evaluates "
                          f"(its training argument defaults to True): write training=self.training, or use nn.Dropout")

    def steps(graph):
        dropouts = set(dropout_nodes(graph))
        return [n for n in graph.nodes if n not in dropouts]

    a, b = steps(train_graph), steps(eval_graph)
    for x, y in zip(a, b):
        if (x.op, x.target) != (y.op, y.target):
            raise Refusal(f"forward does different things when training and when evaluating (self.training) "
                          f"at {source.where(x)}, which one model file cannot describe")
    if len(a) != len(b):
        extra = (a if len(a) > len(b) else b)[min(len(a), len(b))]
        raise Refusal(f"forward does different things when training and when evaluating (self.training) "
                      f"at {source.where(extra)}, which one model file cannot describe")


# ----------------------------------------------------------------------------------------------
# From the traced chain to the model file's layers


class Step:
    """One entry of the chain: a module call (`target` its qualified name) or an unnamed step."""

    def __init__(self, layer, node, target=None, module=None):
        self.layer, self.node, self.target, self.module = layer, node, target, module


def walk(model, graph, values, source, cls_name):
    """The chain of layers from the input to the output, in order (a list of Step)."""
    import torch
    import torch.fx
    nodes = list(graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise Refusal(f"{cls_name}.forward must take one input, the batch of images (it takes {len(inputs)})")
    modules = dict(model.named_modules())
    prev = inputs[0]
    steps = []
    reshape = None        # an open run of reshapes: (shape before it, its first node)

    def shape(n):
        v = values.get(n)
        return tuple(v.shape) if isinstance(v, torch.Tensor) else None

    def close_reshape():
        nonlocal reshape
        if reshape is None:
            return
        start, first = reshape
        reshape = None
        end = shape(prev)
        value = values[prev]
        if value.dtype != torch.float32:
            raise Refusal(f"{function_name(first)} at {source.where(first)} turns the images into {value.dtype}")
        if end == start:
            return
        if len(end) == 2 and end[0] == start[0] and end[1] == math.prod(start[1:]) and len(start) > 2:
            steps.append(Step("Flatten()", first))
            return
        raise Refusal(f"{function_name(first)} at {source.where(first)} turns a {shape_text(start)} batch into "
                      f"{shape_text(end)}: only flattening each image is supported "
                      f"(x.view(x.size(0), -1) or x.view(-1, {math.prod(start[1:])}))")

    def described(n):
        if n.op == "placeholder":
            return "the input"
        if n.op == "call_module":
            return f"{n.target} at {source.where(n)}"
        return f"{function_name(n)} at {source.where(n)}"

    def check_chain(n):
        tensor_inputs = [a for a in n.all_input_nodes if carries_tensor(values.get(a))]
        if tensor_inputs != [prev]:
            raise Refusal(f"{described(n)} does not take the output of the step before it ({described(prev)}): "
                          f"the model file is one chain of layers, each taking the output of the one before")

    def problem_at(n):
        def problem(message, bare=False):
            where = source.where(n)
            if n.op == "call_module":
                head = f"{n.target} = {one_line(repr(modules[n.target]))} at {where}"
            else:
                head = f"{function_name(n)} at {where}"
            return Refusal(f"{message}: {head}" if bare else f"{head}: {message}")
        return problem

    # First every operation on its own, in the order forward runs them, so that a residual add or a
    # torch.cat is named as such rather than as the branch before it; then the chain.
    ops = [n for n in nodes if n.op in ("call_module", "call_function", "call_method") and carries_tensor(values.get(n))]
    meaning = {}
    for n in ops:
        first = next((a for a in n.all_input_nodes if isinstance(values.get(a), torch.Tensor)), None)
        input_shape = shape(first) if first is not None else ()
        if n.op == "call_module":
            meaning[n] = ("module", module_layer(modules[n.target], input_shape, problem_at(n)))
            continue
        kind, detail = classify(n, values, input_shape, problem_at(n))
        if kind == "unsupported":
            tensors = sum(1 for a in n.all_input_nodes if carries_tensor(values.get(a)))
            raise Refusal(f"unsupported operation {detail} at {source.where(n)}{unsupported_hint(detail, tensors)}")
        meaning[n] = (kind, detail)

    for n in ops:
        check_chain(n)
        input_shape = shape(prev)
        kind, detail = meaning[n]
        if kind == "module":
            close_reshape()
            steps.append(Step(detail, n, n.target, modules[n.target]))
        elif kind == "reshape":
            if reshape is None:
                reshape = (input_shape, n)
        elif kind == "gap-mean":
            close_reshape()
            steps.append(Step("AdaptiveAvgPool2d(1)", n))
            if not detail:
                reshape = (input_shape[:2] + (1, 1), n)
        elif kind == "layers":
            close_reshape()
            steps.extend(Step(layer, n) for layer in detail)
        prev = n
    output = [n for n in nodes if n.op == "output"][0]
    if output.args[0] is not prev:
        returned = output.args[0]
        if not isinstance(returned, torch.fx.Node):
            raise Refusal(f"{cls_name}.forward must return one tensor, the log-probabilities; it returns a {type(returned).__name__}")
        raise Refusal(f"{cls_name}.forward returns {described(returned)}, not the output of its last step ({described(prev)})")
    close_reshape()
    final = shape(prev)
    if final is None or final[0] != PROBE[0] or math.prod(final[1:]) != 10 or any(v != 1 for v in final[2:]):
        raise Refusal(f"{cls_name}'s output for a batch of {PROBE[0]} images is {shape_text(final or ())}: "
                      f"it must be 10 log-probabilities per image ({PROBE[0]}, 10)")
    return steps


def check_ending(steps, source):
    """The network ends in LogSoftmax (a flatten after it is dropped: the engine's output is flat)."""
    while len(steps) > 1 and steps[-1].target is None and steps[-1].layer == "Flatten()" \
            and steps[-2].layer == "LogSoftmax(dim=1)":
        steps.pop()
    live = [s for s in steps if s.layer is not None]
    head = "the model must end in log_softmax (F.log_softmax(x, dim=1))"
    if not live or live[-1].layer != "LogSoftmax(dim=1)":
        last = live[-1] if live else None
        what = f"{last.target or last.layer} at {source.where(last.node)}" if last else "nothing"
        raise Refusal(f"{head}: forward returns the output of {what}; backprop trains with NLL loss on log-probabilities")
    for s in live[:-1]:
        if s.layer == "LogSoftmax(dim=1)":
            raise Refusal(f"{head}: log_softmax at {source.where(s.node)} is not the last step")


def group(steps, model, source, cls_name):
    """The model file's `layers`, and the state-dict keys they imply."""
    counts = {}
    for s in steps:
        if s.target is not None:
            counts.setdefault(s.target, []).append(s)
    for target, calls in counts.items():
        m = calls[0].module
        if len(calls) > 1 and (any(True for _ in m.parameters()) or any(True for _ in m.buffers())):
            lines = ", ".join(source.where(c.node) for c in calls)
            raise Refusal(f"{target} is called {len(calls)} times ({lines}): each layer of a model file has its own "
                          f"weights, so a module with parameters can be called only once")
    layers, keys, used = [], set(), set()
    i = 0
    while i < len(steps):
        s = steps[i]
        if s.target is None or (len(counts[s.target]) > 1 and "." not in s.target):
            if s.layer is not None:
                layers.append(s.layer)                # a parameterless module called more than once: unnamed
            i += 1
            continue
        head = s.target.split(".")[0]
        if not head.isidentifier():
            raise Refusal(f"{cls_name}'s module {head!r} ({type(model.get_submodule(head)).__name__}) is not named by an "
                          f"attribute: the model file names layers by attribute (self.conv1 = nn.Conv2d(...))")
        if head in used:
            raise Refusal(f"{head} at {source.where(s.node)} is called again: each named layer or nn.Sequential "
                          f"runs once, in one piece")
        used.add(head)
        if "." not in s.target:
            if s.layer is not None:
                layers.append({head: s.layer})
                keys.update(f"{head}.{k}" for k in parameter_keys(s.layer))
            i += 1
            continue
        j = i
        while j < len(steps) and steps[j].target is not None and steps[j].target.split(".")[0] == head \
                and "." in steps[j].target:
            j += 1
        run = [(st.target.split(".")[1:], st) for st in steps[i:j]]
        layers.append({head: sequential(head, model.get_submodule(head), run, keys, source)})
        i = j
    return layers, keys


def sequential(path, container, run, keys, source):
    """The list for an nn.Sequential called as a whole: its children 0, 1, 2, ... each called once, in order."""
    import torch.nn as nn
    first = run[0][1]
    if not isinstance(container, (nn.Sequential, nn.ModuleList)):
        raise Refusal(f"{path} at {source.where(first.node, outer=True)} is a {type(container).__name__}, not an nn.Sequential: "
                      f"the model file holds the class's own layers and nn.Sequential blocks of them, "
                      f"whose parameters are {path}.0.weight, ...")
    names = list(container._modules)
    if names != [str(k) for k in range(len(names))]:
        raise Refusal(f"{path} is an nn.Sequential of named modules ({', '.join(names)}): the model file numbers a "
                      f"Sequential's modules from 0; build it from a list, nn.Sequential(nn.Conv2d(...), ...)")
    out, index, i = [], 0, 0
    while i < len(run):
        rest, step = run[i]
        j = i + 1
        if len(rest) > 1:
            while j < len(run) and len(run[j][0]) > 1 and run[j][0][0] == rest[0]:
                j += 1
        if index >= len(names):
            raise Refusal(f"{path}'s modules must each run once, in order: {path}.{rest[0]} runs again at "
                          f"{source.where(step.node)}")
        expected = container._modules[names[index]]
        called = container._modules.get(rest[0])
        here = f"{path}.{index}"
        if rest[0] != names[index] and not (len(rest) == 1 and called is expected):
            raise Refusal(f"{path}'s modules must each run once, in order: {path}.{rest[0]} runs at "
                          f"{source.where(step.node)} where {here} ({type(expected).__name__}) should")
        if len(rest) == 1:
            if step.layer is None:
                raise Refusal(f"{here} is an nn.Identity inside an nn.Sequential: the model file has no Identity "
                              f"layer and numbers a Sequential's modules by position; remove it")
            out.append(step.layer)
            keys.update(f"{here}.{k}" for k in parameter_keys(step.layer))
        else:
            out.append(sequential(here, expected, [(r[1:], st) for r, st in run[i:j]], keys, source))
        index += 1
        i = j
    if index != len(names):
        missing = container._modules[names[index]]
        raise Refusal(f"{path}.{index} ({one_line(repr(missing))}) never runs: the model file numbers a Sequential's "
                      f"modules by position, so every one of them must run, in order")
    return out


def check_state(model, steps, keys, cls_name):
    """Every state-dict entry of the class comes from a layer of the file, and nothing else."""
    state = set(model.state_dict().keys())
    called = {s.target for s in steps if s.target is not None}
    for owner in sorted({k.rsplit(".", 1)[0] if "." in k else "" for k in state - keys}):
        if owner and not any(owner == c or owner.startswith(c + ".") for c in called):
            m = model.get_submodule(owner)
            raise Refusal(f"{owner} = {one_line(repr(m))} has parameters but forward never calls it: delete it "
                          f"(the checkpoint must load into {cls_name} with every entry in its place)")
    if state != keys:
        extra, missing = sorted(state - keys), sorted(keys - state)
        parts = []
        if extra:
            parts.append(f"{cls_name} has state-dict entries no layer of the model file holds: {', '.join(extra)}")
        if missing:
            parts.append(f"the model file implies entries {cls_name} lacks: {', '.join(missing)}")
        raise Refusal("; ".join(parts))


# ----------------------------------------------------------------------------------------------
# Output


def render(document):
    """JSON with each layer entry on one line when it fits, and a long Sequential's layers packed
    a few to a line, a new line at each Conv2d or Linear."""
    def compact(value):
        return json.dumps(value, separators=(", ", ": "))

    def pack(items, indent):
        lines, line = [], ""
        for item in items:
            if isinstance(item, list) and len(indent) + len(compact(item)) + 1 > WIDTH:
                if line:
                    lines.append(indent + line)
                    line = ""
                lines.extend([indent + "["] + pack(item, indent + "  ") + [indent + "],"])
                continue
            text = compact(item)
            starts_block = isinstance(item, str) and item.startswith(("Conv2d(", "Linear("))
            if line and (len(indent) + len(line) + len(text) + 2 > WIDTH or starts_block):
                lines.append(indent + line)
                line = ""
            line = f"{line} {text}," if line else text + ","
        if line:
            lines.append(indent + line)
        if lines:
            lines[-1] = lines[-1].rstrip(",")
        return lines

    def entry(layer, indent):
        text = compact(layer)
        if len(indent) + len(text) + 1 <= WIDTH:
            return [indent + text]
        if isinstance(layer, dict):
            (name, value), = layer.items()
            return [f"{indent}{{{json.dumps(name)}: ["] + pack(value, indent + "  ") + [indent + "]}"]
        return [indent + "["] + pack(layer, indent + "  ") + [indent + "]"]

    lines = ["{"]
    for key in ("name", "source", "parameters"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(document[key])},")
    lines.append('  "layers": [')
    body = [entry(layer, "    ") for layer in document["layers"]]
    for k, chunk in enumerate(body):
        if k < len(body) - 1:
            chunk[-1] += ","
        lines.extend(chunk)
    lines += ["  ]", "}"]
    text = "\n".join(lines)
    if json.loads(text) != document:                # never print what would not read back
        text = json.dumps(document, indent=2)
    return text


def main(argv):
    out = sys.stdout
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    positional, name = [], None
    k = 0
    while k < len(argv):
        if argv[k] == "--name" and k + 1 < len(argv):
            name = argv[k + 1]
            k += 2
        else:
            positional.append(argv[k])
            k += 1
    if len(positional) != 2:
        fail("usage: python -P -c SOURCE notebook.py ClassName [--name NAME]", 2)
    path, cls_name = positional
    if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        fail(f"--name {name!r}: a model's name is letters, digits, '-', '_' and '.'")
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError as e:
        fail(f"PyTorch is not installed for {sys.executable} ({one_line(e)})", 3)   # backprop says how to get it
    torch.set_num_threads(1)
    source = Source(path)
    try:
        cls = load_class(path, cls_name, source)
        model = instantiate(cls, source)
        parameters = [p for p in inspect.signature(model.forward).parameters.values()]
        if len(parameters) != 1 or parameters[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                                               inspect.Parameter.POSITIONAL_OR_KEYWORD):
            raise Refusal(f"{cls_name}.forward must take one argument, the batch of images "
                          f"(it takes {', '.join(p.name for p in parameters) or 'none'})")
        model.train()
        train_graph = trace(model, source, cls_name)
        model.eval()
        eval_graph = trace(model, source, cls_name)
        model.train()
        check_modes(train_graph, eval_graph, source)
        values = probe(torch.fx.GraphModule(model, train_graph), source, cls_name)
        model.train()
        steps = walk(model, train_graph, values, source, cls_name)
        check_ending(steps, source)
        layers, keys = group(steps, model, source, cls_name)
        check_state(model, steps, keys, cls_name)
    except Refusal as r:
        fail(str(r))
    document = {"name": name or cls_name.lower(), "source": f"{path}:{cls_name}",
                "parameters": sum(p.numel() for p in model.parameters()), "layers": layers}
    out.write(render(document) + "\n")
    out.flush()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as e:
        import traceback
        frames = traceback.extract_tb(e.__traceback__)
        line = frames[-1].lineno if frames else 0
        fail(f"the importer failed (a bug in backprop, please report it): {exception_text(e)} (importer line {line})")
