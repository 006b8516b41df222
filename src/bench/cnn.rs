//! `agf bench cnn`: training and inference samples per second of the `won2018` net at a
//! given batch size, next to PyTorch running the same net on the same machine in the same
//! invocation (when python3 has torch).

use super::peak_rss_mb;
use crate::nn::adam::{Adam, AdamConfig};
use crate::nn::{Cnn, CnnConfig};
use crate::rng::Rng;
use candle_core::{Device, Tensor, D};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// PyTorch's side: the same layers (§4 of AGF-METHOD.md); prints one JSON line.
const TORCH_SCRIPT: &str = r#"
import json, resource, sys, time
def peak_mb():  # VmHWM: ru_maxrss would include the parent process (kept across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import torch, torch.nn as nn
batch, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
def block(i, o, k, bn, pool, drop):
    layers = [nn.Conv2d(i, o, k, padding="same")]
    if bn: layers.append(nn.BatchNorm2d(o, eps=1e-3, momentum=0.01))
    layers.append(nn.ELU())
    if pool: layers.append(nn.MaxPool2d(pool))
    if drop: layers.append(nn.Dropout(drop))
    return layers
net = nn.Sequential(
    *block(1, 16, 5, False, (2, 1), 0), *block(16, 32, 3, True, (2, 2), 0.1),
    *block(32, 64, 3, False, (2, 2), 0), *block(64, 64, 3, True, (2, 2), 0.1),
    *block(64, 128, 3, False, (2, 2), 0), *block(128, 256, 3, False, None, 0),
    *block(256, 256, 1, True, None, 0),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(256, eps=1e-3, momentum=0.01),
    nn.Linear(256, 256), nn.BatchNorm1d(256, eps=1e-3, momentum=0.01), nn.ELU(), nn.Dropout(0.5),
    nn.Linear(256, 16))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
x = torch.randn(batch, 1, 128, 43)
y = torch.softmax(torch.randn(batch, 16), 1)
def train_step():
    opt.zero_grad()
    loss = -(y * torch.log_softmax(net(x), 1)).sum(1).mean()
    loss.backward(); opt.step()
net.train(); train_step()
t = time.perf_counter()
for _ in range(steps): train_step()
train_s = time.perf_counter() - t
net.eval()
with torch.no_grad():
    net(x)
    t = time.perf_counter()
    for _ in range(steps): net(x)
    infer_s = time.perf_counter() - t
print(json.dumps({"torch": torch.__version__, "train_sps": batch * steps / train_s,
    "infer_sps": batch * steps / infer_s, "params": sum(p.numel() for p in net.parameters()),
    "max_rss_mb": peak_mb()}))
"#;

/// Run the benchmark: `steps` timed steps after one warm-up, on `device`.
pub fn cnn(
    dir: &Path,
    batch: usize,
    steps: usize,
    device: &Device,
    torch: bool,
) -> Result<String, String> {
    let e = |e: candle_core::Error| e.to_string();
    let mut out = String::new();
    let threads = rayon::current_num_threads();
    let net = Cnn::new(&CnnConfig::won2018(), 16, 0, device).map_err(e)?;
    let mut opt = Adam::new(&net.params, AdamConfig::default()).map_err(e)?;
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..batch * 128 * 43).map(|_| rng.normal() as f32).collect();
    let x = Tensor::from_vec(x, (batch, 1, 128, 43), device).map_err(e)?;
    let y = Tensor::from_vec(
        (0..batch * 16)
            .map(|_| rng.normal() as f32)
            .collect::<Vec<_>>(),
        (batch, 16),
        device,
    )
    .and_then(|t| candle_nn::ops::softmax(&t, D::Minus1))
    .map_err(e)?;
    let mut step = |rng: &mut Rng| -> candle_core::Result<()> {
        let f = net.forward(&x, true, Some(rng))?;
        let logp = candle_nn::ops::log_softmax(&f.logits, D::Minus1)?;
        let loss = (y.mul(&logp)?.sum(D::Minus1)?.mean_all()? * -1.0)?;
        opt.step(&net.params, &loss.backward()?)
    };
    step(&mut rng).map_err(e)?;
    let t = Instant::now();
    for _ in 0..steps {
        step(&mut rng).map_err(e)?;
    }
    device.synchronize().map_err(e)?;
    let train_sps = (batch * steps) as f64 / t.elapsed().as_secs_f64();
    net.forward(&x, false, None).map_err(e)?;
    let t = Instant::now();
    for _ in 0..steps {
        net.forward(&x, false, None)
            .map_err(e)?
            .logits
            .to_device(&Device::Cpu)
            .map_err(e)?;
    }
    let infer_sps = (batch * steps) as f64 / t.elapsed().as_secs_f64();
    let _ = writeln!(
        out,
        "won2018 CNN ({} parameters), input 1 × 128 × 43, batch {batch}, {steps} steps, device {:?}, {threads} threads",
        net.params.count(),
        device
    );
    let _ = writeln!(
        out,
        "agf (candle)   training {train_sps:>8.1} samples/s, inference {infer_sps:>8.1} samples/s, peak memory {:.0} MB",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    if !torch || !device.is_cpu() {
        return Ok(out);
    }
    let script = dir.join("torch_bench.py");
    std::fs::write(&script, TORCH_SCRIPT).map_err(|e| e.to_string())?;
    let run = std::process::Command::new("python3")
        .arg(&script)
        .args([batch.to_string(), steps.to_string(), threads.to_string()])
        .output();
    let parsed: Option<serde_json::Value> = run
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let Some(t) = parsed else {
        let _ = writeln!(
            out,
            "PyTorch: not run (python3 with torch not found: pip install torch)"
        );
        return Ok(out);
    };
    let f = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "PyTorch {:<6} training {:>8.1} samples/s, inference {:>8.1} samples/s, peak memory {:.0} MB ({} parameters)",
        t["torch"].as_str().unwrap_or("?"),
        f("train_sps"),
        f("infer_sps"),
        f("max_rss_mb"),
        t["params"]
    );
    let _ = writeln!(
        out,
        "ratio (agf / PyTorch): training {:.2}×, inference {:.2}×",
        train_sps / f("train_sps"),
        infer_sps / f("infer_sps")
    );
    Ok(out)
}
