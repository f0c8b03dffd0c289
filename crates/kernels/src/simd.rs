//! Run-time choice of the widest vector instructions the CPU has, for loops written as plain
//! Rust: [`multiversion!`](crate::multiversion) compiles a function once per instruction set
//! and calls the best one. Binaries stay portable (no `-C target-cpu=native`), yet the loops
//! use AVX-512 or AVX2 where present instead of the x86-64 baseline's SSE2.
//!
//! Every version runs the same IEEE operations in the same order (Rust never fuses `a * b + c`
//! into an FMA on its own), so all versions give the same bits: the choice changes speed only.

/// Whether the CPU has AVX-512F (checked once, then cached by the standard library).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX2 (checked once, then cached by the standard library).
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines a function whose body is compiled for AVX-512, for AVX2 and for the baseline, the
/// best one being picked at run time ([`has_avx512`], [`has_avx2`]).
///
/// Write the body as simple loops over slices (zips, `chunks_exact`, per-lane accumulators)
/// so that the compiler vectorises it; keep closures out of it (a closure passed in may not
/// be compiled for the wider instruction set). Arguments must be plain (no `impl Trait`).
///
/// ```
/// tapegrad_kernels::multiversion! {
///     /// `out[i] = a[i] * s`.
///     fn scale(out: &mut [f32], a: &[f32], s: f32) {
///         for (o, &x) in out.iter_mut().zip(a) {
///             *o = x * s;
///         }
///     }
/// }
/// let mut out = [0.0; 3];
/// scale(&mut out, &[1.0, 2.0, 3.0], 2.0);
/// assert_eq!(out, [2.0, 4.0, 6.0]);
/// ```
#[macro_export]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::has_avx512() {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::has_avx2() {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
