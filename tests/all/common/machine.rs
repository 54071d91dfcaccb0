//! Turns on the whole machine. The model probe's `machine` scope counts every process on the machine, so a test
//! that checks its figures must run with no other test busy; every other test shares the machine. This binary
//! runs all end-to-end tests in one process (in parallel with `--test-threads=2`), so the turns are taken here.
//!
//! A test shares the machine from the first time it starts the harness ([`super::harness`] calls [`share`]) or
//! a heavy program of its own (it calls [`share`] itself), until its thread ends: libtest runs every test on a
//! thread of its own. A test that must run alone calls [`alone`] first and holds the guard.

use std::cell::{Cell, RefCell};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Who holds the machine: one test alone, or any number of tests sharing it.
struct Holders {
    alone: bool,
    sharing: usize,
}

static HOLDERS: Mutex<Holders> = Mutex::new(Holders {
    alone: false,
    sharing: 0,
});
static CHANGED: Condvar = Condvar::new();

thread_local! {
    /// This thread's share, released when the thread (its test) ends.
    static SHARE: RefCell<Option<Share>> = const { RefCell::new(None) };
    /// Whether this thread's test holds the machine alone (it then needs no share).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

fn holders() -> MutexGuard<'static, Holders> {
    // A test that panicked while holding the lock left the counts consistent: every change is one statement.
    HOLDERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A test's share of the machine.
struct Share;

impl Drop for Share {
    fn drop(&mut self) {
        holders().sharing -= 1;
        CHANGED.notify_all();
    }
}

/// Shares the machine for the rest of this test: waits while a test holds it alone. A new share does not wait
/// for a test waiting to be alone, so that a test's own threads never wait on one another.
pub fn share() {
    if ALONE.get() || SHARE.with(|s| s.borrow().is_some()) {
        return;
    }
    let mut holders = holders();
    while holders.alone {
        holders = CHANGED.wait(holders).unwrap_or_else(PoisonError::into_inner);
    }
    holders.sharing += 1;
    drop(holders);
    SHARE.with(|s| *s.borrow_mut() = Some(Share));
}

/// The machine to this test alone while the guard lives: waits until no other test shares it.
#[must_use = "the machine is this test's only while the guard lives"]
pub fn alone() -> Alone {
    // A thread that ran an earlier test (libtest with one thread may run tests on one thread) gives its share back.
    SHARE.with(|s| s.borrow_mut().take());
    let mut holders = holders();
    while holders.alone || holders.sharing > 0 {
        holders = CHANGED.wait(holders).unwrap_or_else(PoisonError::into_inner);
    }
    holders.alone = true;
    ALONE.set(true);
    Alone(())
}

/// The guard of [`alone`].
pub struct Alone(());

impl Drop for Alone {
    fn drop(&mut self) {
        holders().alone = false;
        ALONE.set(false);
        CHANGED.notify_all();
    }
}

/// Threads stand in for tests here: each thread's share is its own.
#[test]
fn a_test_alone_waits_for_the_tests_sharing_and_holds_new_ones_off() {
    use std::time::{Duration, Instant};
    let hold = Duration::from_millis(300);
    let (shared, started) = std::sync::mpsc::channel();
    let sharing = std::thread::spawn(move || {
        share();
        shared.send(()).unwrap();
        std::thread::sleep(hold);
    });
    started.recv().unwrap();
    let asked = Instant::now();
    let alone = alone();
    assert!(asked.elapsed() >= hold / 2, "alone after {:?}", asked.elapsed());
    sharing.join().unwrap();
    let waiting = std::thread::spawn(|| {
        let asked = Instant::now();
        share();
        asked.elapsed()
    });
    std::thread::sleep(hold);
    drop(alone);
    let waited = waiting.join().unwrap();
    assert!(waited >= hold / 2, "shared after {waited:?}");
}
