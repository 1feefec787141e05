//! Coalescing reads: many requests for the same expensive answer (the fleet's summary, which the
//! overview and the API compute from several queries) share one computation, and an answer is
//! never older than the request. A request takes the last answer only when its computation
//! started after the request arrived; otherwise it computes anew, and the requests that arrived
//! meanwhile take that one. Under any load the database computes the summary about once per
//! computation time, and the numbers people see are as fresh as without it.

use std::future::Future;
use std::time::Instant;

/// The last answer and when its computation started; one computation at a time.
pub struct Coalesced<T> {
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T> Default for Coalesced<T> {
    fn default() -> Self {
        Coalesced {
            slot: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> Coalesced<T> {
    /// The answer for a request that arrived at `arrived`: the last one when it was computed
    /// after that, else `compute`'s (kept for the next requests unless it failed).
    pub async fn get<E, F>(&self, arrived: Instant, compute: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((started, answer)) = slot.as_ref()
            && *started >= arrived
        {
            return Ok(answer.clone());
        }
        let started = Instant::now();
        let answer = compute().await?;
        *slot = Some((started, answer.clone()));
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_during_a_computation_share_the_next_and_none_gets_an_older_answer() {
        let shared = Arc::new(Coalesced::<u32>::default());
        let runs = Arc::new(AtomicU32::new(0));
        let compute = |runs: Arc<AtomicU32>| async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok::<u32, ()>(runs.fetch_add(1, Ordering::SeqCst) + 1)
        };
        // One request computes; twenty arriving while it runs wait, and then share one more.
        let first = {
            let (shared, runs) = (shared.clone(), runs.clone());
            tokio::spawn(async move { shared.get(Instant::now(), || compute(runs)).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let mut waiting = Vec::new();
        for _ in 0..20 {
            let (shared, runs) = (shared.clone(), runs.clone());
            let arrived = Instant::now();
            waiting.push(tokio::spawn(async move {
                shared.get(arrived, || compute(runs)).await
            }));
        }
        assert_eq!(first.await.unwrap(), Ok(1));
        for answer in waiting {
            assert_eq!(
                answer.await.unwrap(),
                Ok(2),
                "computed after they arrived, never the one that started before"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A request after that computes again: the answer it gets is newer than it.
        assert_eq!(
            shared.get(Instant::now(), || compute(runs.clone())).await,
            Ok(3)
        );
    }

    #[tokio::test]
    async fn a_failed_computation_is_not_kept() {
        let shared = Coalesced::<u32>::default();
        assert_eq!(
            shared.get(Instant::now(), || async { Err("down") }).await,
            Err("down")
        );
        let arrived = Instant::now();
        assert_eq!(
            shared.get(arrived, || async { Ok::<_, &str>(7) }).await,
            Ok(7)
        );
        assert_eq!(
            shared.get(arrived, || async { Ok::<_, &str>(8) }).await,
            Ok(7),
            "computed after this request arrived"
        );
    }
}
