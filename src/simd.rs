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
/// round differently, so their results are kept apart.
pub fn kernel_tag() -> &'static [u8] {
    if avx2_fma() {
        b"avx2"
    } else {
        b"portable"
    }
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
