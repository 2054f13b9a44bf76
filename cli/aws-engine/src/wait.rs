//! How long the engine waits for AWS: polling objects until they are ready, and retrying calls
//! that fail only because IAM has not yet propagated a new role (it takes some seconds).

use std::future::Future;
use std::time::{Duration, Instant};

/// Polling intervals and time limits.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    /// Longest pause between two status reads (the first pauses are shorter: 100 ms, doubling,
    /// so objects that are ready quickly are seen quickly).
    pub poll_interval: Duration,
    /// Longest wait for a Lambda function to become active or finish an update.
    pub function_timeout: Duration,
    /// Longest wait for a DynamoDB table to become active or be deleted.
    pub table_timeout: Duration,
    /// Longest wait for a SageMaker endpoint (real AWS takes ~10 minutes).
    pub endpoint_timeout: Duration,
    /// How often progress is reported while waiting on an endpoint.
    pub endpoint_report_interval: Duration,
    /// Longest time a call is retried while a new role is not assumable.
    pub role_propagation: Duration,
    /// First pause between those retries (doubling, at most 8 s).
    pub role_retry_interval: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            function_timeout: Duration::from_secs(300),
            table_timeout: Duration::from_secs(600),
            endpoint_timeout: Duration::from_secs(45 * 60),
            endpoint_report_interval: Duration::from_secs(15),
            role_propagation: Duration::from_secs(90),
            role_retry_interval: Duration::from_secs(1),
        }
    }
}

impl WaitPolicy {
    /// Short intervals, for emulators that answer at once.
    pub fn fast() -> Self {
        Self {
            poll_interval: Duration::from_millis(50),
            endpoint_report_interval: Duration::from_millis(500),
            role_retry_interval: Duration::from_millis(50),
            ..Self::default()
        }
    }
}

/// Pauses between status reads: 100 ms, then doubling up to [`WaitPolicy::poll_interval`].
#[derive(Debug, Clone)]
pub(crate) struct Polls {
    next: Duration,
    longest: Duration,
}

impl Polls {
    /// The pauses of `policy`.
    pub(crate) fn new(policy: &WaitPolicy) -> Self {
        Self {
            next: Duration::from_millis(100).min(policy.poll_interval),
            longest: policy.poll_interval,
        }
    }

    /// Sleeps for the next pause.
    pub(crate) async fn pause(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.longest);
    }
}

/// Runs `attempt` until it succeeds or fails with an error that is not `retryable`, retrying
/// with doubling pauses from `interval` up to 8 s, for at most `limit`; then returns the last
/// error.
pub(crate) async fn retry_while<T, E, F, Fut>(
    limit: Duration,
    interval: Duration,
    mut attempt: F,
    retryable: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut pause = interval;
    loop {
        match attempt().await {
            Err(error) if retryable(&error) && started.elapsed() + pause <= limit => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn retries_until_success_or_the_limit() {
        let attempts = Cell::new(0);
        let result: Result<u32, &str> = retry_while(
            Duration::from_secs(5),
            Duration::from_millis(1),
            || async {
                attempts.set(attempts.get() + 1);
                if attempts.get() < 3 {
                    Err("not yet")
                } else {
                    Ok(7)
                }
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(attempts.get(), 3);

        let attempts = Cell::new(0);
        let result: Result<u32, &str> = retry_while(
            Duration::from_millis(30),
            Duration::from_millis(10),
            || async {
                attempts.set(attempts.get() + 1);
                Err("never")
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Err("never"));
        assert!((2..=4).contains(&attempts.get()), "{}", attempts.get());
    }
}
