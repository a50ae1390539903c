//! The delivery worker's own runtime, on threads of a lower CPU priority than the request
//! path's: when the machine is busy, answering webhook calls comes first and deliveries get the
//! CPU time left over (they are queued durably, and catch up as the load drops); on an idle
//! machine the priority changes nothing. Store writes are not made here: the worker hands its
//! outcomes to a writer on the main runtime, so a low-priority thread never holds the store's
//! write lock while a request's writer waits for it.

use std::io;
use std::sync::{Mutex, PoisonError};

use tokio::runtime::{Builder, Handle, Runtime};

/// A runtime that stops (without waiting for its tasks) when told to or dropped.
pub(crate) struct Background {
    handle: Handle,
    runtime: Mutex<Option<Runtime>>,
}

impl Background {
    /// Starts a runtime of as many threads as the machine has cores, each at `nice` (Linux's
    /// scale: 0 is the default, 19 the lowest priority; elsewhere the threads keep the default),
    /// and at most [`blocking_threads`] for its store reads.
    pub fn start(nice: i32) -> io::Result<Background> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("hookflow-delivery")
            .max_blocking_threads(blocking_threads(threads))
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build()?;
        Ok(Background { handle: runtime.handle().clone(), runtime: Mutex::new(Some(runtime)) })
    }

    /// Where to spawn; once stopped, what is spawned is dropped at once.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime: its tasks are dropped where they wait, and its threads end.
    pub fn stop(&self) {
        let runtime = self.runtime.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The blocking threads of a runtime of `threads` workers: its blocking work is store reads,
/// which gain nothing from more threads than cores, and every thread keeps its own allocator
/// cache (tokio's default of 512 let a busy worker hold a few hundred MiB).
fn blocking_threads(threads: usize) -> usize {
    2 * threads
}

/// Sets the calling thread's nice value (on Linux a thread's own attribute).
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), nice) {
        tracing::warn!(%error, nice, "cannot lower the delivery threads' priority; they run at the default");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[test]
    fn its_blocking_work_runs_on_a_few_threads() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let background = Background::start(0).unwrap();
        let limit = blocking_threads(std::thread::available_parallelism().map_or(1, usize::from));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..4 * limit)
            .map(|_| {
                let (now, most) = (now.clone(), most.clone());
                background.handle().spawn_blocking(move || {
                    most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            background.handle().block_on(task).unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), limit);
    }

    #[test]
    fn its_threads_run_at_the_nice_value_and_others_keep_theirs() {
        let before = own_nice();
        let lower = (before + 7).min(19);
        let background = Background::start(lower).unwrap();
        let worker = background.handle().block_on(async { own_nice() });
        // `block_on` runs on this thread; a spawned task runs on the runtime's own.
        let spawned =
            background.handle().block_on(background.handle().spawn(async { own_nice() })).unwrap();
        let blocking =
            background.handle().block_on(background.handle().spawn_blocking(own_nice)).unwrap();
        assert_eq!((worker, spawned, blocking), (before, lower, lower));
        assert_eq!(own_nice(), before, "the calling thread keeps its priority");
    }
}
