//! Allocator settings for the binaries, whose global allocator is mimalloc.
//!
//! candle allocates a fresh buffer for every op. mimalloc hands freed memory back to the OS
//! after a short delay ("purging"), so the next step's buffers of the same size fault their
//! pages in again and the kernel zeroes them: a fifth of a ViT training step on one thread
//! went to `clear_page` that way (perf, `emc bench --only vit --threads 1`: 56,000 page
//! faults and 2.2 s of system time in a 10 s run; 1,000 faults and 0.1 s without purging).
//! A training process reuses the same buffer sizes step after step, so keeping freed memory
//! costs nothing beyond the peak it already reached.

use std::os::raw::c_long;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3 `include/mimalloc.h`; the
/// `libmimalloc-sys` crate has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable mimalloc reads the purge delay from.
pub const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Tells mimalloc to keep freed memory instead of returning it to the OS, unless
/// `MIMALLOC_PURGE_DELAY` is set, which then wins. Call it first thing in `main` of a binary
/// whose global allocator is `mimalloc::MiMalloc`; elsewhere it changes nothing that is used.
/// Returns the purge delay in effect (milliseconds; -1: never).
pub fn retain_freed_memory() -> i64 {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        // SAFETY: mimalloc's options are plain integers guarded by its own initialisation;
        // setting one at any time is supported (`mi_option_set`).
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1 as c_long) };
    }
    // SAFETY: as above, a read of an option.
    #[allow(clippy::useless_conversion)] // `c_long` is `i32` on Windows
    i64::from(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purging_is_off_unless_the_environment_asks_for_it() {
        let delay = retain_freed_memory();
        match std::env::var(PURGE_DELAY_ENV) {
            Err(_) => assert_eq!(delay, -1),
            Ok(v) => assert_eq!(delay.to_string(), v.trim()),
        }
    }
}
