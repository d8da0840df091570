//! Giving memory back to the system once a burst of calls is over.
//!
//! What the endpoint frees after a load peak goes back to the allocator, and glibc's
//! malloc keeps most of it: a free chunk inside an arena (and every worker thread of the
//! tokio runtime has an arena of its own) is returned only when it sits at the top of
//! the heap. A flood of 30,000 INVITEs left a server at about twice its idle RSS for as
//! long as it ran, with nothing live (docs/load.md has the figures). `malloc_trim(0)`
//! walks every arena and returns its free pages; it costs a millisecond or so on such a
//! heap, so it runs only when an endpoint goes idle after work (no session, transaction
//! or timer left), not while calls come and go.
//!
//! What a trim cannot return is a page holding a chunk in a thread's cache (tcache: up to
//! seven freed chunks of each small size, kept for that thread's next allocations and not
//! consolidated): after a flood they lie scattered over the heap the flood grew, and keep
//! about 1 MB resident. `GLIBC_TUNABLES=glibc.malloc.tcache_count=0` in the server's
//! environment turns that cache off; docs/load.md has the figures with and without it.
//! Other allocators were measured too (mimalloc returned everything but started 2.5 to 9
//! MB larger; jemalloc kept more after the flood than glibc), so glibc stays.

use session_core_runtime::IdleHook;

/// The hook each endpoint of the tool calls when it goes idle after work.
pub(crate) fn release_when_idle() -> IdleHook {
    IdleHook::new(release_free_memory)
}

/// Returns the allocator's free pages to the system, where the allocator is glibc's.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointer and only rearranges the allocator's own
        // free lists under its arena locks; it is safe to call from any thread at any
        // time.
        let released = unsafe { libc::malloc_trim(0) };
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let m = unsafe { libc::mallinfo2() };
        tracing::debug!(
            released,
            in_use = m.uordblks,
            free = m.fordblks,
            mmapped = m.hblkhd,
            arena = m.arena,
            "idle: free heap pages returned to the system"
        );
    }
}
