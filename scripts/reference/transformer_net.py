"""The transformer network of stylize's feed-forward styles (Sources/Stylize/Networks/TransformerNet.swift) in PyTorch:
pytorch/examples' fast_neural_style TransformerNet with zero padding instead of reflection padding, the same
parameter names, and a channel multiplier `width`.

    python transformer_net.py bench [--model M.safetensors | --width W] --size 1024 --threads 2 --repeats 5
        Times the forward pass on a random image (torch.inference_mode), prints JSON.
    python transformer_net.py fixture OUT.safetensors
        Writes a tiny network's parameters, an input, an output gradient, and torch's output and gradients,
        for Tests/StylizeTests (the Swift network must agree with autograd).
"""
import argparse, json, math, struct, sys, time

import numpy as np
import torch
from torch import nn


def channels(width):
    # Multiples of 16, as TransformerNet.channels(width:) rounds them (Swift rounds halves away from zero).
    return [16 * max(1, int(math.floor(c * width / 16 + 0.5))) for c in (32, 64, 128)]


class ConvLayer(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, upsample=False):
        super().__init__()
        self.upsample = upsample
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2)

    def forward(self, x):
        if self.upsample:
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv2d(x)


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = ConvLayer(c, c, 3)
        self.in1 = nn.InstanceNorm2d(c, affine=True)
        self.conv2 = ConvLayer(c, c, 3)
        self.in2 = nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))


class TransformerNet(nn.Module):
    def __init__(self, width=1.0):
        super().__init__()
        c1, c2, c3 = channels(width)
        self.conv1, self.in1 = ConvLayer(3, c1, 9), nn.InstanceNorm2d(c1, affine=True)
        self.conv2, self.in2 = ConvLayer(c1, c2, 3, 2), nn.InstanceNorm2d(c2, affine=True)
        self.conv3, self.in3 = ConvLayer(c2, c3, 3, 2), nn.InstanceNorm2d(c3, affine=True)
        self.res1, self.res2, self.res3, self.res4, self.res5 = (ResidualBlock(c3) for _ in range(5))
        self.deconv1, self.in4 = ConvLayer(c3, c2, 3, upsample=True), nn.InstanceNorm2d(c2, affine=True)
        self.deconv2, self.in5 = ConvLayer(c2, c1, 3, upsample=True), nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, 9)

    def forward(self, x):
        y = torch.relu(self.in1(self.conv1(x)))
        y = torch.relu(self.in2(self.conv2(y)))
        y = torch.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = torch.relu(self.in4(self.deconv1(y)))
        y = torch.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(e["shape"]).copy()
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
        blobs.append(t.tobytes())
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def bench(args):
    torch.set_num_threads(args.threads)
    if args.model:
        tensors, meta = read_safetensors(args.model)
        net = TransformerNet(float(meta["width"]))
        net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    else:
        net = TransformerNet(args.width)
    net.eval()
    x = torch.rand(1, 3, args.size, args.size) * 255
    if args.precision == "bf16":  # PyTorch's fastest CPU setting: autocast to bf16, NHWC weights and activations
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        for _ in range(args.repeats + 1):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "size": args.size, "precision": args.precision,
                      "first_seconds": times[0], "median_seconds": float(np.median(times[1:]))}))


def fixture(args):
    torch.manual_seed(0)
    width, h, w = 0.125, 16, 20
    net = TransformerNet(width).double()
    for name, p in net.named_parameters():  # instance norm's scale and shift away from 1 and 0, to be tested too
        if name.split(".")[-2].startswith("in"):
            p.data = (1 if name.endswith("weight") else 0) + 0.3 * torch.randn_like(p)
    x = (torch.rand(1, 3, h, w, dtype=torch.float64) * 255)
    g = torch.randn(1, 3, h, w, dtype=torch.float64)
    # Rounded to float32 first, so that both sides start from exactly the same numbers.
    net.load_state_dict({k: v.float().double() for k, v in net.state_dict().items()})
    x, g = x.float().double(), g.float().double()
    y = net(x)
    (y * g).sum().backward()
    tensors = {"input": x[0].numpy(), "output_gradient": g[0].numpy(), "output": y[0].detach().numpy()}
    for name, p in net.named_parameters():
        tensors["parameter." + name] = p.detach().numpy()
        tensors["gradient." + name] = p.grad.numpy()
    write_safetensors(args.out, tensors, {"width": str(width), "made_by": "scripts/reference/transformer_net.py fixture",
                                          "torch": torch.__version__})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--model")
    b.add_argument("--width", type=float, default=1.0)
    b.add_argument("--size", type=int, default=1024)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    f = sub.add_parser("fixture")
    f.add_argument("out")
    args = parser.parse_args()
    {"bench": bench, "fixture": fixture}[args.command](args)
