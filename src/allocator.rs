//! The binary's memory allocator: mimalloc, faster than glibc's malloc on
//! the request path and without glibc's habit of keeping each thread's
//! peak (its per-thread arenas held on to every device-list refresh).
//! Built without transparent huge pages (feature `no_thp`: they round
//! small heaps up to 2 MiB pages) and told to return freed pages at once.
//! Measured in the README's performance section.

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's option enum (the bindings name
/// no constant for it); a test checks it still means that.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system at once instead of after mimalloc's
/// default second, which with 10,000 devices cached kept about 20 MiB
/// more resident. Call first thing in `main`.
pub fn tune() {
    // SAFETY: sets an option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_we_set() {
        // mimalloc's default purge delay is 1000 (ms); no other option
        // defaults to 1000.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads an option.
            let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            assert_eq!(default, 1000);
        }
        tune();
        // SAFETY: reads an option.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 0);
    }
}
