//! Group commit: every write a request makes runs on one committer thread, which takes the
//! writes queued while it was busy, runs them in one redb transaction in queue order and commits
//! that once (one fsync). Each writer waits for its own answer, given only once the commit
//! holding its write is durable.
//!
//! A thread of its own rather than a leader chosen among the writers: each writer then waits on
//! its own answer and is woken once, no writer's request waits while it commits for others, and
//! the one place that runs writes is easy to keep panic-safe.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;

use redb::Database;

use kms_core::StoreError;

use super::WriteTxn;

/// Writes in one transaction at most: bounds how long a write waits behind the others of its
/// batch, and the work a failing write makes the batch redo.
const MAX_BATCH: usize = 64;

/// A queued write, its answer's type erased.
pub(super) trait Queued: Send {
    /// Runs the write in `txn`, keeping its outcome; whether it succeeded.
    fn run(&mut self, txn: &WriteTxn) -> bool;
    /// Answers the writer: its last outcome, where it succeeded once `committed` says the
    /// transaction holding it is durable.
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

struct Write<F, T> {
    write: F,
    outcome: Option<std::thread::Result<Result<T, StoreError>>>,
    reply: mpsc::SyncSender<std::thread::Result<Result<T, StoreError>>>,
}

impl<F, T> Queued for Write<F, T>
where
    F: Fn(&WriteTxn) -> Result<T, StoreError> + Send,
    T: Send,
{
    fn run(&mut self, txn: &WriteTxn) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.write)(txn)));
        let succeeded = matches!(outcome, Ok(Ok(_)));
        self.outcome = Some(outcome);
        succeeded
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let answer = match self.outcome {
            Some(Ok(Ok(output))) => Ok(committed.map(|()| output).map_err(StoreError::Backend)),
            Some(failed) => failed,
            None => Ok(Err(StoreError::Backend(
                committed
                    .err()
                    .unwrap_or_else(|| "write not run".to_owned()),
            ))),
        };
        // A writer that is gone no longer waits for its answer.
        let _ = self.reply.send(answer);
    }
}

/// Runs the writes in queue order in one transaction and commits it once. A write that fails
/// (an error or a panic) aborts the transaction and the others run again without it: each
/// write is deterministic in the state it meets, so every answer stays the one it gets run
/// alone in that order, and a failed write leaves no trace.
fn run_batch(db: &RwLock<Database>, batch: &mut [Box<dyn Queued>]) -> Result<(), String> {
    // The shared hold keeps compaction out while the transaction lives.
    let db = db.read().unwrap_or_else(PoisonError::into_inner);
    let mut failed = vec![false; batch.len()];
    'attempt: loop {
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        let mut wrote = false;
        for (write, failed) in batch.iter_mut().zip(failed.iter_mut()) {
            if *failed {
                continue;
            }
            if !write.run(&txn) {
                *failed = true;
                // Dropping the transaction aborts every write made in it.
                drop(txn);
                continue 'attempt;
            }
            wrote = true;
        }
        if !wrote {
            return Ok(());
        }
        return txn.commit().map_err(|e| e.to_string());
    }
}

/// Commits a batch and answers its writers. A panic in redb itself drops the batch unanswered:
/// its writers see an error, none is acknowledged, and the next batch still runs.
pub(super) fn commit_batch(db: &RwLock<Database>, mut batch: Vec<Box<dyn Queued>>) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let committed = run_batch(db, &mut batch);
        for write in batch {
            write.answer(committed.clone());
        }
    }));
}

type Answer<T> = mpsc::Receiver<std::thread::Result<Result<T, StoreError>>>;

/// A write ready to queue, and where its answer arrives.
pub(super) fn queue_write<T: Send + 'static>(
    write: impl Fn(&WriteTxn) -> Result<T, StoreError> + Send + 'static,
) -> (Box<dyn Queued>, Answer<T>) {
    let (reply, answer) = mpsc::sync_channel(1);
    let queued = Box::new(Write {
        write,
        outcome: None,
        reply,
    });
    (queued, answer)
}

/// The committer thread and the queue to it.
pub(super) struct Committer {
    queue: Option<mpsc::Sender<Box<dyn Queued>>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub(super) fn start(db: Arc<RwLock<Database>>) -> Result<Self, StoreError> {
        let (queue, queued) = mpsc::channel::<Box<dyn Queued>>();
        let thread = std::thread::Builder::new()
            .name("store-commit".to_owned())
            .spawn(move || {
                while let Ok(first) = queued.recv() {
                    let mut batch = vec![first];
                    batch.extend(queued.try_iter().take(MAX_BATCH - 1));
                    commit_batch(&db, batch);
                }
            })
            .map_err(|e| StoreError::Backend(format!("starting the committer: {e}")))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Runs `write` in the next batch and returns its outcome once that batch is durable; a
    /// panic in `write` resumes here. `write` may run more than once, each time in a fresh
    /// transaction, and must give the same outcome in the same state.
    pub(super) fn write<T: Send + 'static>(
        &self,
        write: impl Fn(&WriteTxn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let stopped = || StoreError::Backend("the store's committer stopped".to_owned());
        let (queued, answer) = queue_write(write);
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(queued)
            .map_err(|_| stopped())?;
        match answer.recv() {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(stopped()),
        }
    }
}

impl Drop for Committer {
    /// Closes the queue and waits for the writes in it, so the database is closed when the
    /// store is dropped.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
