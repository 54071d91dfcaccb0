//! Cold batch windows keep teardown out of the window: what a cold start leaves behind and the next start
//! does not need (an engine, a store, a served process, a finished container) is kept here while the window
//! is open and torn down once it closed. Each cold start still builds everything anew: nothing kept here is
//! ever used again.

use std::any::Any;

/// What a runtime's cold starts left behind during an open cold window.
#[derive(Default)]
pub struct Leftovers {
    open: bool,
    kept: Vec<Box<dyn Any + Send>>,
}

impl Leftovers {
    /// Opens a window: from now on, [`Leftovers::keep`] holds what it is given.
    pub fn open(&mut self) {
        self.open = true;
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Holds `leftover` until [`Leftovers::close`] while a window is open; outside one, drops it at once (the
    /// teardown of a cold start measured on its own is part of it, as before cold windows existed).
    pub fn keep<T: Send + 'static>(&mut self, leftover: T) {
        if self.open {
            self.kept.push(Box::new(leftover));
        }
    }

    /// Closes the window and tears down everything kept, oldest first.
    pub fn close(&mut self) {
        self.open = false;
        for leftover in self.kept.drain(..) {
            drop(leftover);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn leftovers_are_torn_down_when_the_window_closes_and_at_once_outside_one() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut leftovers = Leftovers::default();
        leftovers.keep(Counted(Arc::clone(&dropped)));
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "no window: torn down at once");
        leftovers.open();
        leftovers.keep(Counted(Arc::clone(&dropped)));
        leftovers.keep(Counted(Arc::clone(&dropped)));
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "kept while the window is open");
        leftovers.close();
        assert_eq!(dropped.load(Ordering::SeqCst), 3);
        assert!(!leftovers.is_open());
    }
}
