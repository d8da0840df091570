//! Replays every fuzz seed (`fuzz/corpus/<target>/`) and every saved crash input
//! (`fuzz/regressions/<target>/`) through the same functions the cargo-fuzz targets call
//! (`session_core_tests::fuzz_support`), so that stable CI keeps found bugs fixed without
//! a nightly compiler or libFuzzer. See docs/fuzzing.md.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use session_core_tests::fuzz_support::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files directly in `dir`, sorted (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

/// Runs every file of `kind` (corpus or regressions) for `target`; returns how many ran.
/// Failures are collected per file so that one report names every failing input.
fn replay(kind: &str, target: &str, run: fn(&[u8])) -> usize {
    let dir = fuzz_dir().join(kind).join(target);
    let failures = Mutex::new(Vec::new());
    let paths = files(&dir);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for path in &paths {
        let data = std::fs::read(path).expect("readable fuzz input");
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures
                .lock()
                .expect("not poisoned")
                .push(format!("{}: {msg}", path.display()));
        }
    }
    std::panic::set_hook(previous);
    let failures = failures.into_inner().expect("not poisoned");
    assert!(
        failures.is_empty(),
        "{} of {} {kind} inputs of `{target}` fail:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    paths.len()
}

#[test]
fn every_target_has_a_seed_corpus_and_every_seed_passes() {
    for &(target, run) in TARGETS {
        let n = replay("corpus", target, run);
        assert!(n > 0, "no seeds in fuzz/corpus/{target}");
    }
}

#[test]
fn every_saved_crash_input_passes() {
    let mut total = 0;
    for &(target, run) in TARGETS {
        total += replay("regressions", target, run);
    }
    println!("{total} regression inputs replayed");
}

#[test]
fn regression_directories_are_named_after_targets() {
    for dir in files(&fuzz_dir().join("regressions")).into_iter().chain(
        std::fs::read_dir(fuzz_dir().join("regressions"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    ) {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with('.') || name == "README.md" || TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/regressions/{name} is not a fuzz target"
        );
    }
}
