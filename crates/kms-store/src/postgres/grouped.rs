//! Concurrent creates of one kind share a transaction: a caller that finds no batch running
//! takes the ones queued (its own among them, at most [`MAX_BATCH`]) and runs them together,
//! then hands each queued caller its own answer; callers that find a batch running wait for
//! their answer or for their turn to lead. PostgreSQL already shares WAL flushes between
//! commits, so what this saves is round trips and transactions per record.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use kms_core::StoreError;

/// Creates in one transaction at most: bounds how long a create waits behind the others.
const MAX_BATCH: usize = 64;

pub(super) struct Grouped<J> {
    state: Mutex<State<J>>,
    answered: Condvar,
}

struct State<J> {
    /// Jobs waiting for a leader, in arrival order, by ticket.
    queue: Vec<(u64, J)>,
    /// Answers not yet picked up, by ticket.
    answers: HashMap<u64, Result<(), StoreError>>,
    leading: bool,
    next_ticket: u64,
}

impl<J> Grouped<J> {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queue: Vec::new(),
                answers: HashMap::new(),
                leading: false,
                next_ticket: 0,
            }),
            answered: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // Every change to the state is whole before the lock is released.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` and returns its answer. `run` takes a batch in queue order and answers
    /// each job of it, in that order.
    pub(super) fn run(
        &self,
        job: J,
        run: impl Fn(Vec<J>) -> Vec<Result<(), StoreError>>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push((ticket, job));
        loop {
            if let Some(answer) = state.answers.remove(&ticket) {
                return answer;
            }
            if state.leading {
                state = self
                    .answered
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.leading = true;
            let take = state.queue.len().min(MAX_BATCH);
            let (tickets, jobs): (Vec<u64>, Vec<J>) = state.queue.drain(..take).unzip();
            drop(state);
            // A panic must not leave the others waiting for a leader that is gone.
            let answers = catch_unwind(AssertUnwindSafe(|| run(jobs)))
                .ok()
                .filter(|answers| answers.len() == tickets.len());
            state = self.lock();
            state.leading = false;
            for (i, ticket) in tickets.into_iter().enumerate() {
                let answer = match &answers {
                    Some(answers) => answers[i].clone(),
                    None => Err(StoreError::Backend("a grouped create failed".to_owned())),
                };
                state.answers.insert(ticket, answer);
            }
            self.answered.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_jobs_each_get_their_own_answer_and_run_once() {
        let grouped = Grouped::new();
        let batches = Mutex::new(Vec::new());
        let answers: Vec<_> = std::thread::scope(|s| {
            let callers: Vec<_> = (0..32u64)
                .map(|i| {
                    let (grouped, batches) = (&grouped, &batches);
                    s.spawn(move || {
                        let answer = grouped.run(i, |jobs: Vec<u64>| {
                            batches.lock().unwrap().push(jobs.clone());
                            jobs.iter()
                                .map(|j| {
                                    if j % 3 == 0 {
                                        Err(StoreError::NameTaken)
                                    } else {
                                        Ok(())
                                    }
                                })
                                .collect()
                        });
                        (i, answer)
                    })
                })
                .collect();
            callers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        for (i, answer) in answers {
            let expected = if i % 3 == 0 {
                Err(StoreError::NameTaken)
            } else {
                Ok(())
            };
            assert_eq!(answer, expected, "job {i}");
        }
        let mut ran: Vec<u64> = batches.into_inner().unwrap().concat();
        ran.sort_unstable();
        assert_eq!(ran, (0..32).collect::<Vec<_>>(), "every job ran once");
    }

    #[test]
    fn a_panicking_batch_answers_its_jobs_with_an_error_and_the_next_one_runs() {
        let grouped = Grouped::new();
        let failed = grouped.run(1, |_: Vec<u32>| panic!("batch"));
        assert!(matches!(failed, Err(StoreError::Backend(_))));
        assert_eq!(
            grouped.run(2, |jobs| jobs.iter().map(|_| Ok(())).collect()),
            Ok(())
        );
    }
}
