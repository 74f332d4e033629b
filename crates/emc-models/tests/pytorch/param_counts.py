# Trainable-parameter counts quoted in tests/param_counts.rs (run with any PyTorch >= 2).
import torch, torch.nn as nn, torch.nn.functional as F
def n(m): return sum(p.numel() for p in m.parameters() if p.requires_grad)
print("linear", n(nn.Linear(784, 10)))
print("mlp", n(nn.Sequential(nn.Flatten(), nn.Linear(784,512), nn.ReLU(), nn.Linear(512,512), nn.ReLU(), nn.Linear(512,10))))
print("cnn", n(nn.Sequential(nn.Conv2d(3,32,3,padding=1), nn.ReLU(), nn.Conv2d(32,64,3,padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64*16*16,10))))
class BasicBlock(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.conv1=nn.Conv2d(i,o,3,st,1,bias=False); s.bn1=nn.BatchNorm2d(o)
        s.conv2=nn.Conv2d(o,o,3,1,1,bias=False); s.bn2=nn.BatchNorm2d(o)
        s.sc=nn.Sequential()
        if st!=1 or i!=o: s.sc=nn.Sequential(nn.Conv2d(i,o,1,st,bias=False), nn.BatchNorm2d(o))
    def forward(s,x):
        out=F.relu(s.bn1(s.conv1(x))); out=s.bn2(s.conv2(out)); return F.relu(out+s.sc(x))
class ResNet18(nn.Module):
    def __init__(s, k=64, c=3, nc=10):
        super().__init__()
        s.conv1=nn.Conv2d(c,k,3,1,1,bias=False); s.bn1=nn.BatchNorm2d(k)
        layers=[]; i=k
        for j,st in enumerate([1,2,2,2]):
            o=k*2**j; layers += [BasicBlock(i,o,st), BasicBlock(o,o,1)]; i=o
        s.layers=nn.Sequential(*layers); s.fc=nn.Linear(8*k,nc)
    def forward(s,x):
        x=F.relu(s.bn1(s.conv1(x))); x=s.layers(x); return s.fc(F.adaptive_avg_pool2d(x,1).flatten(1))
print("resnet18 k64", n(ResNet18(64)))
print("resnet18 k16", n(ResNet18(16)))
print("resnet18 k64 mnist 1ch", n(ResNet18(64, c=1)))
class Block(nn.Module):
    def __init__(s, d, h, m):
        super().__init__()
        s.norm1=nn.LayerNorm(d, eps=1e-6); s.attn=nn.MultiheadAttention(d, h, batch_first=True)
        s.norm2=nn.LayerNorm(d, eps=1e-6); s.mlp=nn.Sequential(nn.Linear(d,m), nn.GELU(), nn.Linear(m,d))
class ViT(nn.Module):
    def __init__(s, img=32, c=3, p=4, d=128, depth=4, h=4, m=256, nc=10, cls=False):
        super().__init__()
        s.patch=nn.Conv2d(c,d,p,stride=p); T=(img//p)**2
        if cls: s.cls=nn.Parameter(torch.zeros(1,1,d)); T+=1
        s.pos=nn.Parameter(torch.zeros(1,T,d))
        s.blocks=nn.ModuleList([Block(d,h,m) for _ in range(depth)])
        s.norm=nn.LayerNorm(d, eps=1e-6); s.head=nn.Linear(d,nc)
print("vit mean", n(ViT()))
print("vit cls", n(ViT(cls=True)))
def cnn(chs, c=3, img=32, pool='last', head='flatten', bn=False, nc=10, reps=None):
    layers=[]; i=c; s=img; reps = reps or [1]*len(chs)
    for j,(o,r) in enumerate(zip(chs,reps)):
        for t in range(r):
            layers += [nn.Conv2d(i,o,3,padding=1,bias=not bn)] + ([nn.BatchNorm2d(o)] if bn else []) + [nn.ReLU()]; i=o
        if pool=='all' or (pool=='last' and j==len(chs)-1): layers.append(nn.MaxPool2d(2)); s//=2
    feats = i*s*s if head=='flatten' else i
    layers += [nn.Flatten() if head=='flatten' else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Linear(feats,nc)]
    return nn.Sequential(*layers)
print("cnn gap all bn w2 16,32,64", n(cnn([32,64,128], pool='all', head='gap', bn=True)))
print("compound phi1", n(cnn([35,70], img=37)))
print("compound phi2", n(cnn([39,77], img=42, reps=[1,2])))
print("linear nobias", n(nn.Linear(3072,10,bias=False)))
