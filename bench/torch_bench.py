#!/usr/bin/env python3
"""PyTorch reference benchmark for BERT sequence classification (and pre-training) on CPU.

Run with Debian's interpreter (the one python3-torch is installed for):

    /usr/bin/python3 bench/torch_bench.py --sizes tiny,mini,small
    /usr/bin/python3 bench/torch_bench.py --sizes base --steps 3
    /usr/bin/python3 bench/torch_bench.py --task pretrain --batches FILE.json --sizes tiny,mini
    /usr/bin/python3 bench/torch_bench.py --task lab --batches FILE.json --sizes base [--bf16]

With --task lab each training step and validation pass runs on the next batch of FILE.json, written by
bench/lab.ts (the lab's tweets, cleaned, tokenized and padded as the lab does), with the lab's
optimizer (AdamW lr 2e-5, no weight decay, clipping at 1); --bf16 adds CPU autocast to bfloat16.

With --task pretrain the model is Hugging Face's BertForPreTraining (MLM head tied to the word
embeddings, NSP head on the pooler) and each step trains on the next batch of FILE.json, written
by bench/pretrain.ts, so that both sides see the same tokens; --mlm-positions all runs the MLM head
on every position as transformers does, masked only on the labelled ones.

Prints one JSON object per line on stdout, one per size. Progress goes to
stderr. Each size (and each thread setting tried) runs in a fresh child
process so that peak-RSS numbers do not mix between sizes.

The model is a self-contained re-implementation of Hugging Face
`BertForSequenceClassification` (same module structure, same maths):
word + position + token-type embeddings, LayerNorm(eps=1e-12), dropout 0.1,
post-LN encoder layers with multi-head self-attention and an additive
attention mask, exact (erf) GELU, tanh pooler over [CLS], 2-label linear
head, mean cross-entropy loss.
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

SIZES = {
    # name: (layers, hidden, heads, intermediate)
    "tiny": (2, 128, 2, 512),
    "mini": (4, 256, 4, 1024),
    "small": (4, 512, 8, 2048),
    "base": (12, 768, 12, 3072),
}

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def rss_mb():
    """Peak resident set size of this process so far, in MiB (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except OSError:
        return None


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def blas_library():
    """Path of the BLAS shared library actually mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if name.startswith(("libblas", "libopenblas", "libblis", "libmkl_rt")):
                    return os.path.realpath(path)
    except OSError:
        pass
    return None


def openblas_corename():
    """Kernel family OpenBLAS picked (depends on the CPU and OPENBLAS_CORETYPE), if OpenBLAS is loaded."""
    try:
        import ctypes

        path = blas_library()
        if not path:
            return None
        fn = ctypes.CDLL(path).openblas_get_corename
        fn.restype = ctypes.c_char_p
        return fn().decode()
    except (AttributeError, OSError):
        return None


class CpuMeter:
    """CPU time used by other processes while we measure (contention check).

    other_cpus = (busy jiffies of the whole machine - our own jiffies) / wall / HZ,
    i.e. how many CPUs' worth of work something else was doing on average.
    """

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _system_busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
        return sum(v[:8]) - idle

    @staticmethod
    def _self_busy():
        with open("/proc/self/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])  # utime + stime (all threads)

    def start(self):
        try:
            self.t0, self.s0, self.p0 = time.perf_counter(), self._system_busy(), self._self_busy()
        except OSError:
            self.t0 = None

    def stop(self):
        if self.t0 is None:
            return None, None
        wall = time.perf_counter() - self.t0
        sysb, selfb = self._system_busy() - self.s0, self._self_busy() - self.p0
        own = selfb / self.hz / wall
        other = max(0.0, (sysb - selfb) / self.hz / wall)
        return round(own, 2), round(other, 2)


def wait_for_idle(max_load, timeout_s):
    """Wait (at most timeout_s) until other processes use fewer than max_load CPUs over a 1 s window."""
    if timeout_s <= 0:
        return 0.0
    t0 = time.perf_counter()
    hz = os.sysconf("SC_CLK_TCK")
    prev = CpuMeter._system_busy()
    while True:
        time.sleep(1.0)
        cur = CpuMeter._system_busy()
        load = (cur - prev) / hz
        prev = cur
        waited = time.perf_counter() - t0
        if load < max_load or waited >= timeout_s:
            return round(waited, 1)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Child: build one model, measure inference and training, print one JSON line.
# --------------------------------------------------------------------------


def run_child(args):
    threads = int(args.threads)
    interop = int(args.interop_threads)
    if args.nice:
        os.nice(args.nice)  # negative values need root

    import torch  # noqa: E402  (imported here so the parent stays light)
    import torch.nn as nn
    import torch.nn.functional as F

    # Inter-op threads must be set before any parallel work starts.
    torch.set_num_interop_threads(interop)
    torch.set_num_threads(threads)

    baseline_rss = rss_mb()

    has_sdpa = hasattr(F, "scaled_dot_product_attention")
    use_sdpa = has_sdpa and args.attention in ("auto", "sdpa")
    if args.attention == "sdpa" and not has_sdpa:
        raise SystemExit("--attention sdpa requested but this torch has no scaled_dot_product_attention")

    layers, hidden, heads, inter = SIZES[args.size]
    vocab, batch, seq = args.vocab, args.batch, args.seq
    if args.task in ("pretrain", "lab"):
        with open(args.batches) as f:
            args.batch_data = json.load(f)
        vocab, seq = args.batch_data["vocab_size"], args.batch_data["max_len"]
    max_pos, type_vocab = max(512, seq), 2
    drop = 0.1
    eps = 1e-12

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=0)
            self.position_embeddings = nn.Embedding(max_pos, hidden)
            self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
            self.dropout = nn.Dropout(drop)
            self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0), persistent=False)

        def forward(self, input_ids, token_type_ids):
            s = input_ids.shape[1]
            x = (
                self.word_embeddings(input_ids)
                + self.token_type_embeddings(token_type_ids)
                + self.position_embeddings(self.position_ids[:, :s])
            )
            return self.dropout(self.LayerNorm(x))

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.h = heads
            self.d = hidden // heads
            self.query = nn.Linear(hidden, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)
            self.p = drop

        def split(self, x):
            b, s, _ = x.shape
            return x.view(b, s, self.h, self.d).transpose(1, 2)

        def forward(self, x, add_mask):
            q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
            p = self.p if self.training else 0.0
            if use_sdpa:
                # Float attn_mask is added to the scaled scores, as in HF's eager path.
                ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=add_mask, dropout_p=p)
            else:
                scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)
                scores = scores + add_mask
                probs = F.dropout(torch.softmax(scores, dim=-1), p=p, training=self.training)
                ctx = torch.matmul(probs, v)
            b, _, s, _ = ctx.shape
            return ctx.transpose(1, 2).reshape(b, s, hidden)

    class AddNorm(nn.Module):
        def __init__(self, fan_in):
            super().__init__()
            self.dense = nn.Linear(fan_in, hidden)
            self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
            self.dropout = nn.Dropout(drop)

        def forward(self, h, residual):
            return self.LayerNorm(self.dropout(self.dense(h)) + residual)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = SelfAttention()
            self.attention_output = AddNorm(hidden)
            self.intermediate = nn.Linear(hidden, inter)
            self.output = AddNorm(inter)

        def forward(self, x, add_mask):
            a = self.attention_output(self.attention(x, add_mask), x)
            i = F.gelu(self.intermediate(a))  # exact erf GELU (approximate="none")
            return self.output(i, a)

    class BertForSequenceClassification(nn.Module):
        def __init__(self, num_labels=2):
            super().__init__()
            self.embeddings = Embeddings()
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])
            self.pooler = nn.Linear(hidden, hidden)
            self.dropout = nn.Dropout(drop)
            self.classifier = nn.Linear(hidden, num_labels)
            self.apply(self._init)

        @staticmethod
        def _init(m):
            # Same initialisation as HF BertPreTrainedModel._init_weights.
            if isinstance(m, nn.Linear):
                m.weight.data.normal_(0.0, 0.02)
                m.bias.data.zero_()
            elif isinstance(m, nn.Embedding):
                m.weight.data.normal_(0.0, 0.02)
                if m.padding_idx is not None:
                    m.weight.data[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.weight.data.fill_(1.0)
                m.bias.data.zero_()

        def forward(self, input_ids, attention_mask, token_type_ids):
            dtype = self.pooler.weight.dtype
            add_mask = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
            x = self.embeddings(input_ids, token_type_ids)
            for layer in self.layers:
                x = layer(x, add_mask)
            pooled = torch.tanh(self.pooler(x[:, 0]))
            return self.classifier(self.dropout(pooled))

    if args.task == "pretrain":
        return run_pretrain(args, torch, nn, F, Embeddings, Layer, baseline_rss, use_sdpa, threads, interop)

    if args.task == "lab":
        return run_lab(args, torch, F, BertForSequenceClassification, baseline_rss, use_sdpa, threads, interop)

    torch.manual_seed(args.seed)
    model = BertForSequenceClassification()
    n_params = sum(p.numel() for p in model.parameters())

    # HF Trainer-style parameter groups: no weight decay on biases and LayerNorm weights.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    opt_kwargs = dict(lr=2e-5, eps=1e-8, betas=(0.9, 0.999))
    if args.foreach != "default":
        opt_kwargs["foreach"] = args.foreach == "on"
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], **opt_kwargs
    )

    n_batches = args.warmup + args.steps
    gen = torch.Generator().manual_seed(args.seed + 1)
    batches = []
    for _ in range(n_batches):
        ids = torch.randint(1, vocab, (batch, seq), generator=gen)
        labels = torch.randint(0, 2, (batch,), generator=gen)
        batches.append((ids, labels))
    attention_mask = torch.ones(batch, seq, dtype=torch.long)
    token_type_ids = torch.zeros(batch, seq, dtype=torch.long)
    rss_model = rss_mb()

    # ---- inference: forward logits, eval mode, inference_mode ----
    meter = CpuMeter()
    model.eval()
    infer_ms = []
    meter.start()
    with torch.inference_mode():
        for i, (ids, _) in enumerate(batches):
            t0 = time.perf_counter()
            logits = model(ids, attention_mask, token_type_ids)
            float(logits[0, 0])  # touch the result
            dt = (time.perf_counter() - t0) * 1000.0
            if i >= args.warmup:
                infer_ms.append(dt)
    infer_own_cpus, infer_other_cpus = meter.stop()
    rss_infer = rss_mb()

    # ---- training: fwd + loss + bwd + clip + AdamW step + zero_grad ----
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    train_ms = []
    losses = []
    meter.start()
    for i, (ids, labels) in enumerate(batches):
        t0 = time.perf_counter()
        logits = model(ids, attention_mask, token_type_ids)
        loss = F.cross_entropy(logits, labels)  # reduction="mean"
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_v = float(loss)
        dt = (time.perf_counter() - t0) * 1000.0
        losses.append(loss_v)
        if i >= args.warmup:
            train_ms.append(dt)
    train_own_cpus, train_other_cpus = meter.stop()
    rss_train = rss_mb()

    blas = None
    try:
        cfg = torch.__config__.show()
        for tok in cfg.replace(",", " ").split():
            if tok.startswith("BLAS_INFO="):
                blas = tok.split("=", 1)[1]
    except Exception:  # pragma: no cover
        pass

    train_med = statistics.median(train_ms)
    infer_med = statistics.median(infer_ms)
    result = {
        "impl": "pytorch",
        "size": args.size,
        "layers": layers,
        "hidden": hidden,
        "heads": heads,
        "intermediate": inter,
        "vocab": vocab,
        "batch": batch,
        "seq": seq,
        "params": n_params,
        "threads": threads,
        "interop_threads": interop,
        "warmup": args.warmup,
        "steps": args.steps,
        "train_seq_per_s": round(batch / (train_med / 1000.0), 3),
        "infer_seq_per_s": round(batch / (infer_med / 1000.0), 3),
        "train_step_ms_median": round(train_med, 3),
        "infer_ms_median": round(infer_med, 3),
        "train_step_ms_min": round(min(train_ms), 3),
        "infer_ms_min": round(min(infer_ms), 3),
        "train_step_ms": [round(x, 3) for x in train_ms],
        "infer_ms": [round(x, 3) for x in infer_ms],
        "peak_rss_mb": round(rss_train, 1),
        "peak_rss_mb_after_infer": round(rss_infer, 1),
        "model_rss_mb": round(rss_model, 1),
        "baseline_rss_mb": round(baseline_rss, 1),
        "rss_delta_mb": round(rss_train - baseline_rss, 1),
        "final_rss_mb": round(current_rss_mb() or 0.0, 1),
        "cpu_used_train": train_own_cpus,
        "cpu_used_infer": infer_own_cpus,
        "other_cpu_load_train": train_other_cpus,
        "other_cpu_load_infer": infer_other_cpus,
        "loss_first": round(losses[0], 6),
        "loss_last": round(losses[-1], 6),
        "attention": "sdpa" if use_sdpa else "matmul-softmax",
        "optimizer_foreach": opt_kwargs.get("foreach", "default"),
        "torch_version": torch.__version__,
        "blas": blas,
        "blas_library": blas_library(),
        "openblas_core": openblas_corename(),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "openblas_env": {k: os.environ.get(k) for k in OPENBLAS_VARS},
        "nice": os.nice(0),
    }
    print(json.dumps(result), flush=True)


def run_lab(args, torch, F, BertForSequenceClassification, baseline_rss, use_sdpa, threads, interop):
    """The lab's fine-tuning step on the batches of bench/lab.ts (already cut to their width), then
    validation forward passes; --bf16 runs forward and loss under CPU autocast (bfloat16), the
    backward pass outside it, as PyTorch's AMP recipe says. Prints one JSON line."""
    import contextlib

    data = args.batch_data
    torch.manual_seed(args.seed)
    model = BertForSequenceClassification()
    n_params = sum(p.numel() for p in model.parameters())
    # The lab's optimizer: AdamW lr 2e-5, eps 1e-8, no weight decay; clipping at 1.
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-8, weight_decay=0.0)
    as_long = lambda rows: torch.tensor(rows, dtype=torch.long)  # noqa: E731
    train = [(as_long(b["ids"]), as_long(b["mask"]), as_long(b["labels"])) for b in data["train"]]
    val = [(as_long(b["ids"]), as_long(b["mask"])) for b in data["val"]]
    warmup = data["warmup"]
    if len(train) <= warmup:
        raise SystemExit(f"{args.batches}: {len(train)} training batches, need more than the warm-up {warmup}")
    autocast = (lambda: torch.cpu.amp.autocast(dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext
    rss_model = rss_mb()
    params = list(model.parameters())
    meter = CpuMeter()
    model.train()
    step_s, step_cpu_s, losses = [], [], []
    meter.start()
    for i, (ids, mask, labels) in enumerate(train):
        t0, c0 = time.perf_counter(), time.process_time()
        with autocast():
            logits = model(ids, mask, torch.zeros_like(ids))
            loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
        dt = time.perf_counter() - t0
        if i >= warmup:
            step_s.append(dt)
            step_cpu_s.append(time.process_time() - c0)
    train_own, train_other = meter.stop()
    model.eval()
    val_s, val_cpu_s = [], []
    meter.start()
    with torch.inference_mode(), autocast():
        for ids, mask in val:
            t0, c0 = time.perf_counter(), time.process_time()
            probs = torch.softmax(model(ids, mask, torch.zeros_like(ids)).float(), dim=-1)
            float(probs[0, 0])
            val_s.append(time.perf_counter() - t0)
            val_cpu_s.append(time.process_time() - c0)
    infer_own, infer_other = meter.stop()
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    timed = train[warmup:]
    print(json.dumps({
        "impl": "pytorch", "task": "lab", "size": args.size, "params": n_params, "mode": data["mode"],
        "autocast_bf16": bool(args.bf16), "threads": threads, "interop_threads": interop,
        "warmup": warmup, "steps": len(step_s),
        "train_step_s_mean": mean(step_s), "val_batch_s_mean": mean(val_s),
        "train_step_cpu_s_mean": mean(step_cpu_s), "val_batch_cpu_s_mean": mean(val_cpu_s),
        "train_step_ms_median": round(statistics.median(step_s) * 1000, 3),
        "infer_ms_median": round(statistics.median(val_s) * 1000, 3),
        "train_seq_per_s": round(mean([len(b[0]) for b in timed]) / mean(step_s), 3),
        "infer_seq_per_s": round(mean([len(b[0]) for b in val]) / mean(val_s), 3),
        "train_step_s": [round(x, 4) for x in step_s], "val_batch_s": [round(x, 4) for x in val_s],
        "peak_rss_mb": round(rss_mb(), 1), "model_rss_mb": round(rss_model, 1), "baseline_rss_mb": round(baseline_rss, 1),
        "cpu_used_train": train_own, "cpu_used_infer": infer_own,
        "other_cpu_load_train": train_other, "other_cpu_load_infer": infer_other,
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "attention": "sdpa" if use_sdpa else "matmul-softmax", "torch_version": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "blas_library": blas_library(), "openblas_core": openblas_corename(), "cpu": cpu_model(), "cpus": os.cpu_count(),
    }), flush=True)


def run_pretrain(args, torch, nn, F, Embeddings, Layer, baseline_rss, use_sdpa, threads, interop):
    """One MLM+NSP training step per batch of args.batch_data; prints one JSON line."""
    data = args.batch_data
    layers, hidden, heads, inter = SIZES[args.size]
    vocab = data["vocab_size"]
    masked_only = args.mlm_positions == "masked"

    class BertForPreTraining(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])
            self.pooler = nn.Linear(hidden, hidden)
            # cls.predictions: transform (dense, GELU, LayerNorm), decoder tied to the word embeddings.
            self.transform = nn.Linear(hidden, hidden)
            self.transform_norm = nn.LayerNorm(hidden, eps=1e-12)
            self.decoder_bias = nn.Parameter(torch.zeros(vocab))
            self.seq_relationship = nn.Linear(hidden, 2)
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    m.weight.data.normal_(0.0, 0.02)
                    if isinstance(m, nn.Linear):
                        m.bias.data.zero_()
                    elif m.padding_idx is not None:
                        m.weight.data[m.padding_idx].zero_()

        def forward(self, ids, mask, types, mlm_labels, nsp_labels):
            dtype = self.pooler.weight.dtype
            add_mask = (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
            x = self.embeddings(ids, types)
            for layer in self.layers:
                x = layer(x, add_mask)
            pooled = torch.tanh(self.pooler(x[:, 0]))
            h = x.reshape(-1, hidden)
            y = mlm_labels.reshape(-1)
            if masked_only:
                keep = y != -100
                h, y = h[keep], y[keep]
            h = self.transform_norm(F.gelu(self.transform(h)))
            logits = F.linear(h, self.embeddings.word_embeddings.weight, self.decoder_bias)
            mlm = F.cross_entropy(logits, y, ignore_index=-100)
            return mlm + F.cross_entropy(self.seq_relationship(pooled), nsp_labels)

    torch.manual_seed(args.seed)
    model = BertForPreTraining()
    n_params = sum(p.numel() for p in model.parameters())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "norm" in name.lower() else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4, eps=1e-8
    )
    as_long = lambda rows: torch.tensor(rows, dtype=torch.long)  # noqa: E731
    batches = [
        tuple(as_long(b[k]) for k in ("input_ids", "attention_mask", "token_type_ids", "mlm_labels", "nsp_labels"))
        for b in data["batches"]
    ]
    if len(batches) <= args.warmup:
        raise SystemExit(f"{args.batches}: {len(batches)} batches, need more than --warmup {args.warmup}")
    rss_model = rss_mb()
    model.train()
    params = list(model.parameters())
    meter = CpuMeter()
    step_ms, tokens, losses = [], [], []
    meter.start()
    for i, (ids, mask, types, mlm_labels, nsp_labels) in enumerate(batches):
        t0 = time.perf_counter()
        loss = model(ids, mask, types, mlm_labels, nsp_labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
        dt = (time.perf_counter() - t0) * 1000.0
        if i >= args.warmup:
            step_ms.append(dt)
            tokens.append(int(mask.sum()))
    own_cpus, other_cpus = meter.stop()
    med = statistics.median(step_ms)
    print(json.dumps({
        "impl": "pytorch", "task": "pretrain", "mlm_positions": args.mlm_positions, "size": args.size,
        "layers": layers, "hidden": hidden, "heads": heads, "intermediate": inter, "vocab": vocab,
        "batch": len(batches[0][0]), "max_len": data["max_len"], "params": n_params,
        "threads": threads, "interop_threads": interop, "warmup": args.warmup, "steps": len(step_ms),
        "train_tokens_per_s": round(sum(tokens) / (sum(step_ms) / 1000.0), 1),
        "train_seq_per_s": round(len(batches[0][0]) / (med / 1000.0), 3),
        "train_step_ms_median": round(med, 3), "train_step_ms": [round(x, 3) for x in step_ms],
        "tokens_timed": sum(tokens),
        "peak_rss_mb": round(rss_mb(), 1), "model_rss_mb": round(rss_model, 1), "baseline_rss_mb": round(baseline_rss, 1),
        "cpu_used_train": own_cpus, "other_cpu_load_train": other_cpus, "other_cpu_load_infer": 0.0,
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "attention": "sdpa" if use_sdpa else "matmul-softmax", "torch_version": torch.__version__,
        "blas_library": blas_library(), "openblas_core": openblas_corename(), "cpu": cpu_model(), "cpus": os.cpu_count(),
    }), flush=True)


# --------------------------------------------------------------------------
# Parent: one fresh child process per (size, thread setting).
# --------------------------------------------------------------------------


def spawn(args, size, threads):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--size", size,
        "--threads", str(threads),
        "--interop-threads", str(args.interop_threads),
        "--vocab", str(args.vocab),
        "--batch", str(args.batch),
        "--seq", str(args.seq),
        "--warmup", str(args.warmup),
        "--steps", str(args.steps),
        "--seed", str(args.seed),
        "--attention", args.attention,
        "--foreach", args.foreach,
        "--nice", str(args.nice),
        "--task", args.task,
        "--mlm-positions", args.mlm_positions,
    ]
    if args.batches:
        cmd += ["--batches", args.batches]
    if args.bf16:
        cmd += ["--bf16"]
    env = dict(os.environ)
    if args.openblas_env == "unset":
        for k in OPENBLAS_VARS:
            env.pop(k, None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child for size={size} threads={threads} failed with exit code {proc.returncode}")
    lines = [l for l in proc.stdout.splitlines() if l.strip().startswith("{")]
    if not lines:
        raise SystemExit(f"child for size={size} threads={threads} printed no JSON")
    res = json.loads(lines[-1])
    res["wall_s"] = round(time.perf_counter() - t0, 2)
    return res


def thread_candidates(spec):
    if spec == "auto":
        n = os.cpu_count() or 1
        # 1 and the number of CPUs (plus the physical-core guess in between for big machines).
        cands = sorted({1, max(1, n // 2), n})
        return cands
    return [int(x) for x in spec.split(",") if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="tiny,mini,small", help="comma list of: " + ",".join(SIZES))
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument(
        "--threads",
        default="auto",
        help="intra-op threads: 'auto' tries 1 and all CPUs and keeps the faster (by training throughput); "
        "or a number; or a comma list to try",
    )
    ap.add_argument("--interop-threads", type=int, default=1, help="torch.set_num_interop_threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--max-other-load",
        type=float,
        default=0.3,
        help="if other processes used more than this many CPUs during a measurement, rerun it (see --retries)",
    )
    ap.add_argument("--retries", type=int, default=1, help="reruns allowed per measurement when the machine was busy")
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for the machine to be idle (default 0: don't wait)",
    )
    ap.add_argument(
        "--attention",
        choices=["auto", "sdpa", "matmul"],
        default="auto",
        help="auto: F.scaled_dot_product_attention when this torch has it, else matmul+softmax",
    )
    ap.add_argument("--foreach", choices=["default", "on", "off"], default="default", help="AdamW foreach implementation")
    ap.add_argument(
        "--openblas-env",
        choices=["keep", "unset"],
        default="keep",
        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE as they are (default) or unset them for the children",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="os.nice() increment for the measuring child (e.g. -10 as root to shield it from other load)",
    )
    ap.add_argument("--all-candidates", action="store_true", help="print a JSON line for every thread setting tried")
    ap.add_argument(
        "--task",
        choices=["classify", "pretrain", "lab"],
        default="classify",
        help="fine-tuning step on random ids (default), MLM+NSP pre-training step, or the lab's batches (bench/lab.ts)",
    )
    ap.add_argument("--batches", help="--task pretrain|lab: JSON file of batches written by bench/pretrain.ts or bench/lab.ts")
    ap.add_argument("--bf16", action="store_true", help="--task lab: forward and loss under torch.cpu.amp.autocast(bfloat16)")
    ap.add_argument(
        "--mlm-positions",
        choices=["all", "masked"],
        default="all",
        help="--task pretrain: MLM head on every position (transformers) or only on the labelled ones",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        run_child(args)
        return

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            ap.error(f"unknown size {s!r}; choose from {','.join(SIZES)}")
    if args.warmup < 0 or args.steps < 1:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    if args.task in ("pretrain", "lab") and not args.batches:
        ap.error(f"--task {args.task} needs --batches FILE.json (written by bench/{'pretrain' if args.task == 'pretrain' else 'lab'}.ts)")
    cands = thread_candidates(args.threads)
    key = "train_tokens_per_s" if args.task == "pretrain" else "train_seq_per_s"

    for size in sizes:
        results = []
        for t in cands:
            log(f"[torch_bench] size={size} threads={t} interop={args.interop_threads} ...")
            r, best_load = None, None
            # With fewer threads than CPUs, other processes may use the spare CPUs without slowing us.
            spare = max(0, (os.cpu_count() or 1) - t)
            for attempt in range(1, args.retries + 2):
                waited = wait_for_idle(args.max_other_load + spare, args.wait_idle)
                if waited > 1.5:
                    log(f"[torch_bench]   waited {waited}s for other processes to quieten")
                cur = spawn(args, size, t)
                load = max(cur["other_cpu_load_train"] or 0.0, cur["other_cpu_load_infer"] or 0.0)
                excess = round(max(0.0, load - spare), 2)
                cur["contended"] = excess > args.max_other_load
                if r is None or excess < best_load:
                    r, best_load = cur, excess
                if not cur["contended"]:
                    break
                more = "retrying" if attempt <= args.retries else "keeping the least disturbed attempt"
                log(f"[torch_bench]   other processes took {excess} CPUs from this measurement; {more}")
            r["attempts"] = attempt
            log(
                f"[torch_bench]   train {r['train_step_ms_median']:.1f} ms/step ({r['train_seq_per_s']:.1f} seq/s"
                + (f", {r['train_tokens_per_s']:.0f} tokens/s), " if args.task == "pretrain" else
                   f"), infer {r['infer_ms_median']:.1f} ms ({r['infer_seq_per_s']:.1f} seq/s), ")
                + f"peak RSS {r['peak_rss_mb']:.0f} MB, wall {r['wall_s']:.1f}s, "
                f"other load {r['other_cpu_load_train']}/{r['other_cpu_load_infer']} CPUs"
            )
            results.append(r)
            if args.all_candidates:
                print(json.dumps(dict(r, candidate=True)), flush=True)
        best = max(results, key=lambda r: r[key])
        best = dict(best)
        best["threads_tried"] = {
            str(r["threads"]): {
                k: r[k]
                for k in (key, "train_seq_per_s", "infer_seq_per_s", "train_step_ms_median", "infer_ms_median")
                if k in r
            }
            for r in results
        }
        print(json.dumps(best), flush=True)


if __name__ == "__main__":
    main()
