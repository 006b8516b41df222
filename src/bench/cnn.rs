//! `agf bench cnn`: training and inference samples per second of the `won2018` net at a
//! given batch size, next to PyTorch running the same net on the same machine in the same
//! invocation (when python3 has torch).

use super::{median, peak_rss_mb};
use crate::nn::adam::{Adam, AdamConfig};
use crate::nn::{Cnn, CnnConfig};
use crate::rng::Rng;
use candle_core::{Device, Tensor, D};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// PyTorch's side: the same layers (§4 of AGF-METHOD.md), one repeat per process; prints
/// one JSON line. On a GPU it synchronises before reading a clock, lets cuDNN pick its fastest
/// algorithms (inputs keep one size, as a researcher would set it), and reads the memory in
/// use on the device after training as agf does (the process's own CUDA context included).
const TORCH_SCRIPT: &str = r#"
import json, sys, time
def peak_mb():  # VmHWM: ru_maxrss would include the parent process (kept across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import torch, torch.nn as nn
batch, steps, threads, device = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
gpu = device.startswith("cuda")
if gpu:
    torch.backends.cudnn.benchmark = True
def sync():
    if gpu: torch.cuda.synchronize(device)
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
    nn.Linear(256, 16)).to(device)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
x = torch.randn(batch, 1, 128, 43, device=device)
y = torch.softmax(torch.randn(batch, 16, device=device), 1)
def train_step():
    opt.zero_grad()
    loss = -(y * torch.log_softmax(net(x), 1)).sum(1).mean()
    loss.backward(); opt.step()
net.train(); train_step(); sync()
t = time.perf_counter()
for _ in range(steps): train_step()
sync()
train_s = time.perf_counter() - t
device_mb = None
if gpu:
    free, total = torch.cuda.mem_get_info(device)
    device_mb = (total - free) / 2**20
net.eval()
with torch.no_grad():
    net(x).cpu()
    t = time.perf_counter()
    for _ in range(steps): net(x).cpu()
    infer_s = time.perf_counter() - t
print(json.dumps({"torch": torch.__version__, "train_sps": batch * steps / train_s,
    "infer_sps": batch * steps / infer_s, "params": sum(p.numel() for p in net.parameters()),
    "max_rss_mb": peak_mb(), "device_mb": device_mb}))
"#;

/// Bench settings.
pub struct CnnBench {
    pub batch: usize,
    /// Timed steps per repeat (after one warm-up step).
    pub steps: usize,
    /// agf and PyTorch take turns this many times; medians are printed.
    pub repeats: usize,
    pub torch: bool,
}

/// One repeat's figures.
struct Pass {
    train_sps: f64,
    infer_sps: f64,
    /// Peak resident memory (CPU) or device memory in use after training (GPU), MB.
    memory_mb: f64,
}

/// The won2018 net with its optimiser and one batch of data, ready to time.
struct Ours {
    net: Cnn,
    opt: Adam,
    x: Tensor,
    y: Tensor,
    rng: Rng,
}

impl Ours {
    fn new(batch: usize, device: &Device) -> candle_core::Result<Ours> {
        let net = Cnn::new(&CnnConfig::won2018(), 16, 0, device)?;
        let opt = Adam::new(&net.params, AdamConfig::default())?;
        let mut rng = Rng::new(1);
        let x: Vec<f32> = (0..batch * 128 * 43).map(|_| rng.normal() as f32).collect();
        let x = Tensor::from_vec(x, (batch, 1, 128, 43), device)?;
        let y: Vec<f32> = (0..batch * 16).map(|_| rng.normal() as f32).collect();
        let y = candle_nn::ops::softmax(&Tensor::from_vec(y, (batch, 16), device)?, D::Minus1)?;
        Ok(Ours {
            net,
            opt,
            x,
            y,
            rng,
        })
    }

    fn train_step(&mut self) -> candle_core::Result<()> {
        let f = self.net.forward(&self.x, true, Some(&mut self.rng))?;
        let logp = candle_nn::ops::log_softmax(&f.logits, D::Minus1)?;
        let loss = (self.y.mul(&logp)?.sum(D::Minus1)?.mean_all()? * -1.0)?;
        self.opt.step(&self.net.params, &loss.backward()?)
    }

    fn infer_step(&self) -> candle_core::Result<()> {
        self.net
            .forward(&self.x, false, None)?
            .logits
            .to_device(&Device::Cpu)
            .map(drop)
    }

    /// One warm-up step of each kind, then `steps` timed ones.
    fn pass(&mut self, steps: usize) -> candle_core::Result<Pass> {
        let device = self.x.device().clone();
        let samples = (self.x.dim(0)? * steps) as f64;
        self.train_step()?;
        device.synchronize()?;
        let t = Instant::now();
        for _ in 0..steps {
            self.train_step()?;
        }
        device.synchronize()?;
        let train_sps = samples / t.elapsed().as_secs_f64();
        let used = crate::nn::device_memory_used(&device);
        self.infer_step()?;
        let t = Instant::now();
        for _ in 0..steps {
            self.infer_step()?;
        }
        let infer_sps = samples / t.elapsed().as_secs_f64();
        let memory_mb = match used {
            Some(bytes) => bytes as f64 / (1u64 << 20) as f64,
            None => peak_rss_mb().unwrap_or(f64::NAN),
        };
        Ok(Pass {
            train_sps,
            infer_sps,
            memory_mb,
        })
    }
}

/// PyTorch's repeat, or why it could not run.
fn torch_pass(
    script: &Path,
    b: &CnnBench,
    threads: usize,
    device: &str,
) -> Result<(Pass, String, u64), String> {
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([
            b.batch.to_string(),
            b.steps.to_string(),
            threads.to_string(),
            device.to_string(),
        ])
        .output()
        .map_err(|e| format!("python3 cannot be started: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(if last.contains("No module named 'torch'") {
            "python3 has no torch: pip install torch".into()
        } else {
            format!("the PyTorch script failed: {last}")
        });
    }
    let t: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the PyTorch script printed no result: {e}"))?;
    let f = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
    let memory_mb = if device == "cpu" {
        f("max_rss_mb")
    } else {
        f("device_mb")
    };
    Ok((
        Pass {
            train_sps: f("train_sps"),
            infer_sps: f("infer_sps"),
            memory_mb,
        },
        t["torch"].as_str().unwrap_or("?").to_string(),
        t["params"].as_u64().unwrap_or(0),
    ))
}

/// `median (min–max)` of one figure over the repeats.
fn spread(passes: &[Pass], f: fn(&Pass) -> f64) -> (f64, String) {
    let mut v: Vec<f64> = passes.iter().map(f).collect();
    let m = median(&mut v);
    (m, format!("{m:>8.1} ({:.1}–{:.1})", v[0], v[v.len() - 1]))
}

/// Run the benchmark on `device`: agf and PyTorch (on the same device) take turns.
pub fn cnn(dir: &Path, b: &CnnBench, device: &Device) -> Result<String, String> {
    let e = |e: candle_core::Error| e.to_string();
    let threads = rayon::current_num_threads();
    let name = crate::nn::device_name(device);
    let mut ours = Ours::new(b.batch, device).map_err(e)?;
    let script = dir.join("torch_bench.py");
    std::fs::write(&script, TORCH_SCRIPT).map_err(|e| e.to_string())?;
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    let mut torch_error = (!b.torch).then(|| "not asked for".to_string());
    let mut torch_about = None;
    for _ in 0..b.repeats.max(1) {
        mine.push(ours.pass(b.steps).map_err(e)?);
        if torch_error.is_none() {
            match torch_pass(&script, b, threads, &name) {
                Ok((pass, version, params)) => {
                    theirs.push(pass);
                    torch_about = Some((version, params));
                }
                Err(why) => torch_error = Some(why),
            }
        }
    }
    let mut out = String::new();
    let memory = if device.is_cpu() {
        "peak resident memory, MB"
    } else {
        "GPU memory in use after training, MB"
    };
    let _ = writeln!(
        out,
        "won2018 CNN ({} parameters), input 1 × 128 × 43, batch {}, {} timed steps per repeat, \
         {} repeats taken in turns, device {name}, {threads} threads",
        ours.net.params.count(),
        b.batch,
        b.steps,
        mine.len()
    );
    let _ = writeln!(
        out,
        "samples/s: median (min–max) of the repeats; memory: {memory} (the largest repeat)"
    );
    let row = |out: &mut String, who: &str, passes: &[Pass]| {
        let (train, t) = spread(passes, |p| p.train_sps);
        let (infer, i) = spread(passes, |p| p.infer_sps);
        let mem = passes.iter().map(|p| p.memory_mb).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "{who:<15} training {t}, inference {i}, memory {mem:.0} MB"
        );
        (train, infer, mem)
    };
    let (train, infer, mem) = row(&mut out, "agf (candle)", &mine);
    match (&torch_error, torch_about) {
        (None, Some((version, params))) => {
            let (tt, ti, tm) = row(&mut out, &format!("PyTorch {version}"), &theirs);
            let _ = writeln!(
                out,
                "ratio agf / PyTorch (medians): training {:.2}×, inference {:.2}×, memory {:.2}× \
                 (PyTorch's net: {params} parameters)",
                train / tt,
                infer / ti,
                mem / tm
            );
        }
        (Some(why), _) => {
            let _ = writeln!(out, "PyTorch: not run ({why})");
        }
        (None, None) => {}
    }
    Ok(out)
}
