//! The tool's allocator, and giving memory back to the system once a burst of calls is
//! over.
//!
//! `sessionctl` allocates with mimalloc rather than the system's malloc, for what a
//! server keeps after load. With glibc's malloc a flood of 30,000 INVITEs left the
//! server 11-13 % above its idle RSS for as long as it ran, with little of ours live: a
//! free chunk goes back to the system only from the top of an arena or as whole free
//! pages, and each thread's cache (tcache: up to seven freed chunks of each small size,
//! never consolidated) pins pages scattered over the heap the flood grew, which not even
//! `malloc_trim(0)` can return (only `GLIBC_TUNABLES=glibc.malloc.tcache_count=0` in the
//! environment helps, a setting a process cannot make for itself). mimalloc keeps small
//! objects in pages of one size class per thread, so a page empties as a whole and is
//! purged; the same flood leaves it within 5-9 %, and it spends less CPU and holds a
//! call in less memory too. docs/load.md has the figures of each (jemalloc, also
//! measured, kept more than glibc).
//!
//! This is the tool's choice, not the library's: the core allocates through the global
//! allocator of whoever embeds it.
//!
//! mimalloc purges freed pages after a delay, but only when it is called again, and an
//! idle server calls it little; so the runtime core calls a hook when an endpoint goes
//! idle after work (no session, transaction or timer left) and the tool's hook asks
//! mimalloc to collect at once, once per burst, never while calls come and go.

use session_core_runtime::IdleHook;

/// The allocator of every thread of the tool.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Arenas committed as they are used rather than all at once. Committed up front (the
/// default where the system overcommits), an arena's freed pages are only reset, which
/// Linux counts as resident until it needs the memory back: the tool idled at 20 MiB
/// of RSS where it idles at 10 MiB committing on use.
///
/// It must be set before mimalloc creates its first arena, which its own constructor
/// does before `main`; a constructor with a priority runs before every one without
/// (and so before mimalloc's). ELF's `.init_array` is how: on other systems mimalloc
/// keeps its default.
#[cfg(target_os = "linux")]
extern "C" fn configure() {
    /// `mi_option_arena_eager_commit` in mimalloc.h's `mi_option_t` (the sys crate
    /// names only the options both mimalloc versions share).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    // SAFETY: mi_option_set only stores a value in mimalloc's option table, which is a
    // static array that needs no initialisation; mimalloc's own start-up keeps a value
    // set before it.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00200")]
static CONFIGURE: extern "C" fn() = configure;

/// The hook each endpoint of the tool calls when it goes idle after work.
pub(crate) fn release_when_idle() -> IdleHook {
    IdleHook::new(release_free_memory)
}

/// Returns the allocator's free pages to the system.
fn release_free_memory() {
    // SAFETY: mi_collect takes no pointer; it frees and purges only the allocator's own
    // empty pages, and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
    let (mut rss, mut commit) = (0usize, 0usize);
    // SAFETY: every out-parameter is either null (not wanted) or a valid `usize`.
    unsafe {
        libmimalloc_sys::mi_process_info(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut rss,
            std::ptr::null_mut(),
            &mut commit,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    tracing::debug!(rss, commit, "idle: free heap pages returned to the system");
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The constructor ran, and before mimalloc's start-up read its options: a value
    /// read from the environment or the default (2) would show here instead.
    #[test]
    fn arenas_are_committed_on_use() {
        // SAFETY: mi_option_get only reads mimalloc's option table.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(4) }, 0);
    }
}
