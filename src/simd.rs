//! Run-time CPU feature checks, so that one portable binary uses AVX2 and FMA where the
//! processor has them (hot loops are compiled twice: portable and `avx2,fma`).

/// Whether this processor has AVX2 and FMA (checked once).
#[inline]
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2: OnceLock<bool> = OnceLock::new();
        *AVX2.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which kernels this process runs, for cache keys: the vectorised and the portable kernels
/// round differently, and so do agf's fused CPU kernels and candle's ops, so their results
/// are kept apart.
pub fn kernel_tag() -> &'static [u8] {
    match (avx2_fma(), kernels()) {
        (true, Kernels::Fused) => b"avx2",
        (false, Kernels::Fused) => b"portable",
        (true, Kernels::Candle) => b"avx2+candle",
        (false, Kernels::Candle) => b"portable+candle",
    }
}

/// What serves the nets' layers and K-Means' nearest-centre search on the CPU: agf's fused
/// kernels (the default), or candle's own ops, the path every other device (CUDA) takes.
/// `AGF_KERNELS=candle` runs the GPU's code path on the CPU, so that it is tested without
/// a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    Fused,
    Candle,
}

impl Kernels {
    pub const ENV: &'static str = "AGF_KERNELS";

    /// `AGF_KERNELS` as set (unset: fused).
    pub fn from_env() -> Result<Kernels, String> {
        match std::env::var(Self::ENV).as_deref() {
            Err(_) | Ok("") | Ok("fused") => Ok(Kernels::Fused),
            Ok("candle") => Ok(Kernels::Candle),
            Ok(other) => Err(format!(
                "{}={other:?}: expected \"fused\" (agf's CPU kernels, the default) or \"candle\" \
                 (candle's ops, the path the GPU takes)",
                Self::ENV
            )),
        }
    }
}

thread_local! {
    static KERNELS_HERE: std::cell::Cell<Option<Kernels>> = const { std::cell::Cell::new(None) };
}

/// The kernels this thread runs: [`with_kernels`]'s, else `AGF_KERNELS`'s (read once; the
/// binary refuses a value it does not know before anything runs).
pub fn kernels() -> Kernels {
    use std::sync::OnceLock;
    static FROM_ENV: OnceLock<Kernels> = OnceLock::new();
    KERNELS_HERE
        .with(|k| k.get())
        .unwrap_or_else(|| *FROM_ENV.get_or_init(|| Kernels::from_env().unwrap_or(Kernels::Fused)))
}

/// Run `f` with `k` serving this thread (the choice is made where a layer or a search is
/// set up, on the caller's thread), as tests comparing the two paths in one process do.
pub fn with_kernels<T>(k: Kernels, f: impl FnOnce() -> T) -> T {
    let before = KERNELS_HERE.with(|c| c.replace(Some(k)));
    let out = f();
    KERNELS_HERE.with(|c| c.set(before));
    out
}

/// `fn name(args) -> ret { body }`, with `body` compiled twice, once for AVX2 and FMA and
/// once portably, and the first used where the processor has them (checked once). For hot
/// free functions whose loops the compiler vectorises.
macro_rules! vectorised {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::avx2_fma() {
                // Safety: the features were detected on this processor.
                return unsafe { avx2($($arg),*) };
            }
            portable($($arg),*)
        }
    };
}
pub(crate) use vectorised;
