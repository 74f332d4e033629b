# Reference logits for tests/pytorch_reference.rs: each family at tiny size, with every
# state-dict entry (sorted by name, k = its index) filled with 0.3·sin(0.9·j + 0.5·k)
# (+1 for running_var) and input sin(0.37·j); eval-mode then train-mode logits.
# Prints the Rust table. Run with any PyTorch >= 2 (CPU).
import math, torch, torch.nn as nn, torch.nn.functional as F
torch.set_default_dtype(torch.float64)
ACT = {'relu': F.relu, 'elu': F.elu, 'gelu': F.gelu, 'softplus': F.softplus, 'tanh': torch.tanh}

def fill(model):
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    for k, name in enumerate(sorted(sd)):
        t = sd[name]
        j = torch.arange(t.numel(), dtype=torch.float64)
        v = 0.3 * torch.sin(0.9 * j + 0.5 * k)
        if name.endswith('running_var'): v = v + 1.0
        t.copy_(v.reshape(t.shape))

def inputs(n, c, h, w):
    j = torch.arange(n * c * h * w, dtype=torch.float64)
    return torch.sin(0.37 * j).reshape(n, c, h, w)

class Mlp(nn.Module):
    def __init__(s, d, hidden, nc, act):
        super().__init__(); s.act = ACT[act]; dims = [d] + hidden
        s.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims, dims[1:])]); s.head = nn.Linear(dims[-1], nc)
    def forward(s, x):
        x = x.flatten(1)
        for l in s.layers: x = s.act(l(x))
        return s.head(x)

class ConvBlock(nn.Module):
    def __init__(s, i, o, bn):
        super().__init__(); s.conv = nn.Conv2d(i, o, 3, padding=1, bias=not bn); s.bn = nn.BatchNorm2d(o) if bn else None

class Cnn(nn.Module):
    def __init__(s, c, chans, nc, act, pool, head, bn, reps=None, resize=None, feats=None):
        super().__init__(); s.act = ACT[act]; s.resize = resize; s.flatten = head == 'flatten'
        reps = reps or [1] * len(chans); blocks = []; s.pools = []; i = c
        for j, (o, r) in enumerate(zip(chans, reps)):
            for t in range(r):
                blocks.append(ConvBlock(i, o, bn)); i = o
                s.pools.append((pool == 'all' or (pool == 'last' and j == len(chans) - 1)) and t == r - 1)
        s.blocks = nn.ModuleList(blocks); s.head = nn.Linear(feats or i, nc)
    def forward(s, x):
        if s.resize: x = F.interpolate(x, size=s.resize, mode='bilinear', align_corners=False)
        for b, p in zip(s.blocks, s.pools):
            x = b.conv(x)
            if b.bn is not None: x = b.bn(x)
            x = s.act(x)
            if p: x = F.max_pool2d(x, 2)
        x = x.flatten(1) if s.flatten else x.mean((2, 3))
        return s.head(x)

class Down(nn.Module):
    def __init__(s, i, o, st):
        super().__init__(); s.conv = nn.Conv2d(i, o, 1, st, bias=False); s.bn = nn.BatchNorm2d(o)
class Basic(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.conv1 = nn.Conv2d(i, o, 3, st, 1, bias=False); s.bn1 = nn.BatchNorm2d(o)
        s.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(o)
        s.downsample = Down(i, o, st) if st != 1 or i != o else None
    def forward(s, x):
        y = F.relu(s.bn1(s.conv1(x))); y = s.bn2(s.conv2(y))
        return F.relu(y + (s.downsample.bn(s.downsample.conv(x)) if s.downsample else x))
class ResNet(nn.Module):
    def __init__(s, c, k, nc):
        super().__init__()
        s.conv1 = nn.Conv2d(c, k, 3, 1, 1, bias=False); s.bn1 = nn.BatchNorm2d(k); i = k
        for j, st in enumerate([1, 2, 2, 2]):
            o = k * 2 ** j; setattr(s, f'layer{j+1}', nn.ModuleList([Basic(i, o, st), Basic(o, o, 1)])); i = o
        s.head = nn.Linear(8 * k, nc)
    def forward(s, x):
        x = F.relu(s.bn1(s.conv1(x)))
        for j in range(4):
            for b in getattr(s, f'layer{j+1}'): x = b(x)
        return s.head(x.mean((2, 3)))

class Attn(nn.Module):
    def __init__(s, d, h):
        super().__init__(); s.h = h; s.qkv = nn.Linear(d, 3 * d); s.proj = nn.Linear(d, d)
    def forward(s, x):
        n, t, d = x.shape; hd = d // s.h
        q, k, v = s.qkv(x).reshape(n, t, 3, s.h, hd).permute(2, 0, 3, 1, 4)
        a = ((q * hd ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return s.proj((a @ v).transpose(1, 2).reshape(n, t, d))
class Mlp2(nn.Module):
    def __init__(s, d, m, act):
        super().__init__(); s.fc1 = nn.Linear(d, m); s.fc2 = nn.Linear(m, d); s.act = ACT[act]
    def forward(s, x): return s.fc2(s.act(s.fc1(x)))
class Block(nn.Module):
    def __init__(s, d, h, m, act):
        super().__init__(); s.norm1 = nn.LayerNorm(d, eps=1e-6); s.attn = Attn(d, h); s.norm2 = nn.LayerNorm(d, eps=1e-6); s.mlp = Mlp2(d, m, act)
    def forward(s, x):
        x = x + s.attn(s.norm1(x)); return x + s.mlp(s.norm2(x))
class Vit(nn.Module):
    def __init__(s, c, hw, p, d, depth, h, m, nc, pool, act):
        super().__init__(); s.pool = pool
        s.patch_embed = nn.Conv2d(c, d, p, stride=p); t = (hw[0] // p) * (hw[1] // p)
        if pool == 'cls': s.cls_token = nn.Parameter(torch.zeros(1, 1, d)); t += 1
        s.pos_embed = nn.Parameter(torch.zeros(1, t, d))
        s.blocks = nn.ModuleList([Block(d, h, m, act) for _ in range(depth)])
        s.norm = nn.LayerNorm(d, eps=1e-6); s.head = nn.Linear(d, nc)
    def forward(s, x):
        x = s.patch_embed(x).flatten(2).transpose(1, 2)
        if s.pool == 'cls': x = torch.cat([s.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = x + s.pos_embed
        for b in s.blocks: x = b(x)
        x = s.norm(x)
        return s.head(x[:, 0] if s.pool == 'cls' else x.mean(1))

cases = [
    ("mlp:5x4:softplus", (1, 3, 3), Mlp(9, [5, 4], 3, 'softplus')),
    ("cnn:3,4:elu:pool=all:gap:bn", (2, 6, 5), Cnn(2, [3, 4], 3, 'elu', 'all', 'gap', True)),
    # φ = 2: widths round(3·1.21) = 4, round(4·1.21) = 5; blocks 1 + 2; input 5x5 → round(6.6125) = 7 → 3 after the pool
    ("cnn-compound:3,4:relu:pool=last:flatten:phi=2", (1, 5, 5), Cnn(1, [4, 5], 3, 'relu', 'last', 'flatten', False, reps=[1, 2], resize=(7, 7), feats=5 * 3 * 3)),
    ("resnet18:k=2", (3, 8, 8), ResNet(3, 2, 3)),
    ("vit:patch2,d8,depth2,heads2,mlp12,pool=cls", (3, 4, 6), Vit(3, (4, 6), 2, 8, 2, 2, 12, 3, 'cls', 'gelu')),
    ("vit:patch2,d8,depth1,heads4,mlp8,pool=mean,tanh", (1, 5, 4), Vit(1, (5, 4), 2, 8, 1, 4, 8, 3, 'mean', 'tanh')),
]
for spec, (c, h, w), m in cases:
    fill(m); x = inputs(3, c, h, w)
    m.eval(); ev = m(x)
    m.train(); tr = m(x)
    n = sum(p.numel() for p in m.parameters())
    print(f'("{spec}", ({c}, {h}, {w}), {n},')
    print('  ' + repr([round(v, 15) for v in ev.flatten().tolist()]) + ',')
    print('  ' + repr([round(v, 15) for v in tr.flatten().tolist()]) + '),')
