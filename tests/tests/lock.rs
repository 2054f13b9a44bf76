//! The deployment lock against moto, as a library: a held lock names its holder, a waiter gets it
//! when the holder releases, `break_existing` takes it over (and the old holder learns it lost
//! it), a lock whose holder died lapses with its lease while a live holder's renewals keep it,
//! and the lock table is created once and tagged as the engine's. Each test locks its own stack.

use pluto_aws_engine::lock::{self, LOCK_TABLE};
use pluto_aws_engine::{Aws, LockError, LockEvent, LockHolder, LockOptions, StackLock};
use pluto_model::naming::StackNames;
use pluto_tests::moto::moto;
use std::sync::Mutex;
use std::time::{Duration, Instant};

async fn aws() -> Aws {
    pluto_aws_engine::from_config(&moto().sdk_config().await)
        .await
        .expect("the engine connects to moto")
}

fn names(stack: &str) -> StackNames {
    StackNames::new("lock-app", stack).expect("valid names")
}

fn options(operation: &str) -> LockOptions {
    LockOptions {
        poll: Duration::from_millis(50),
        ..LockOptions::new(operation)
    }
}

/// Records the holders `acquire` reports.
#[derive(Default)]
struct Reports(Mutex<Vec<(LockEvent, LockHolder)>>);

impl Reports {
    fn callback(&self) -> impl Fn(&LockHolder, LockEvent) + Send + Sync + '_ {
        |holder, event| {
            if let Ok(mut reports) = self.0.lock() {
                reports.push((event, holder.clone()));
            }
        }
    }

    fn events(&self) -> Vec<LockEvent> {
        self.0
            .lock()
            .map(|reports| reports.iter().map(|(event, _)| *event).collect())
            .unwrap_or_default()
    }
}

fn ignore(_: &LockHolder, _: LockEvent) {}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_refuses_a_second_run_and_names_the_holder() {
    let aws = aws().await;
    let names = names("held");
    let first = StackLock::acquire(&aws, &names, &options("deploy"), &ignore)
        .await
        .expect("the first run takes the lock");
    assert_eq!(first.key(), "lock-app/held");

    let error = StackLock::acquire(&aws, &names, &options("destroy"), &ignore)
        .await
        .expect_err("the second run is refused");
    let LockError::Held { stack, holder } = &error else {
        panic!("expected Held, got {error:?}");
    };
    assert_eq!(stack, "lock-app/held");
    assert_eq!(holder.operation, "deploy");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.principal, aws.caller_arn);
    assert!(holder.expires_at >= holder.acquired_at + 600, "{holder:?}");
    let message = error.to_string();
    assert!(
        message.contains("stack `lock-app/held` is locked: deploy by")
            && message.contains(&format!("(pid {})", std::process::id())),
        "{message}"
    );
    let help = miette::Diagnostic::help(&error)
        .map(|help| help.to_string())
        .unwrap_or_default();
    assert!(
        help.contains("--break-lock") && help.contains("--lock-wait"),
        "{help}"
    );
    assert_eq!(lock::holder(&aws, &names).await.as_ref(), Some(&**holder));

    first.release().await.expect("the holder releases");
    assert_eq!(lock::holder(&aws, &names).await, None);
    StackLock::acquire(&aws, &names, &options("destroy"), &ignore)
        .await
        .expect("a released lock is free")
        .release()
        .await
        .expect("released");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_run_gets_the_lock_when_the_holder_releases_it() {
    let aws = aws().await;
    let names = names("wait");
    let first = StackLock::acquire(&aws, &names, &options("deploy"), &ignore)
        .await
        .expect("the first run takes the lock");
    let reports = Reports::default();
    let waiting = LockOptions {
        wait: Duration::from_secs(30),
        ..options("deploy")
    };
    let report = reports.callback();
    let started = Instant::now();
    let (second, ()) = tokio::join!(StackLock::acquire(&aws, &names, &waiting, &report), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        first.release().await.expect("the first run releases");
    });
    let second = second.expect("the waiting run gets the lock");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(reports.events(), [LockEvent::Waiting], "announced once");
    second.release().await.expect("released");
}

#[tokio::test(flavor = "multi_thread")]
async fn breaking_a_lock_takes_it_over_and_the_old_holder_learns_it_lost_it() {
    let aws = aws().await;
    let names = names("break");
    let stale = StackLock::acquire(&aws, &names, &options("deploy"), &ignore)
        .await
        .expect("the first run takes the lock");
    let reports = Reports::default();
    let breaking = LockOptions {
        break_existing: true,
        ..options("deploy")
    };
    let second = StackLock::acquire(&aws, &names, &breaking, &reports.callback())
        .await
        .expect("breaking takes the lock");
    assert_eq!(reports.events(), [LockEvent::Breaking]);

    let error = stale.release().await.expect_err("the old holder lost it");
    let LockError::Lost { stack, by } = &error else {
        panic!("expected Lost, got {error:?}");
    };
    assert_eq!(stack, "lock-app/break");
    assert!(by.is_some(), "names who holds it now: {error}");
    assert!(
        lock::holder(&aws, &names).await.is_some(),
        "the old holder's release leaves the new holder's record alone"
    );
    second.release().await.expect("the new holder releases");

    // Broken, and the breaker done before the old holder ends: it still learns it lost the lock.
    let stale = StackLock::acquire(&aws, &names, &options("deploy"), &ignore)
        .await
        .expect("taken again");
    StackLock::acquire(&aws, &names, &breaking, &ignore)
        .await
        .expect("broken again")
        .release()
        .await
        .expect("the breaker releases");
    let error = stale.release().await.expect_err("the old holder lost it");
    assert!(
        matches!(error, LockError::Lost { by: None, .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_holders_lock_lapses_with_its_lease_while_renewals_keep_a_live_one() {
    let aws = aws().await;
    let short = LockOptions {
        lease: Duration::from_secs(1),
        ..options("deploy")
    };

    // A live holder renews every third of its lease: others stay out well past it.
    let live_names = names("live");
    let live = StackLock::acquire(&aws, &live_names, &short, &ignore)
        .await
        .expect("taken");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let refused = StackLock::acquire(&aws, &live_names, &options("deploy"), &ignore).await;
    assert!(
        matches!(refused, Err(LockError::Held { .. })),
        "renewed: {refused:?}"
    );
    live.release().await.expect("released");

    // A holder that dies (dropped without release: no renewals) is refused to others until its
    // lease runs out, then the lock is free without breaking.
    let dead_names = names("dead");
    let dead = StackLock::acquire(&aws, &dead_names, &short, &ignore)
        .await
        .expect("taken");
    drop(dead);
    let refused = StackLock::acquire(&aws, &dead_names, &options("deploy"), &ignore).await;
    assert!(
        matches!(refused, Err(LockError::Held { .. })),
        "{refused:?}"
    );
    let waiting = LockOptions {
        wait: Duration::from_secs(10),
        ..options("deploy")
    };
    StackLock::acquire(&aws, &dead_names, &waiting, &ignore)
        .await
        .expect("a lapsed lock is free")
        .release()
        .await
        .expect("released");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lock_table_is_created_once_on_demand_and_tagged_as_the_engines() {
    let aws = aws().await;
    for stack in ["table-a", "table-b"] {
        StackLock::acquire(&aws, &names(stack), &options("deploy"), &ignore)
            .await
            .expect("taken")
            .release()
            .await
            .expect("released");
    }
    let tables = aws
        .dynamodb
        .list_tables()
        .send()
        .await
        .expect("tables")
        .table_names()
        .iter()
        .filter(|name| name.as_str() == LOCK_TABLE)
        .count();
    assert_eq!(tables, 1);
    let table = aws
        .dynamodb
        .describe_table()
        .table_name(LOCK_TABLE)
        .send()
        .await
        .expect("the lock table")
        .table
        .expect("a description");
    let key: Vec<_> = table
        .key_schema()
        .iter()
        .map(|key| format!("{}:{}", key.attribute_name(), key.key_type().as_str()))
        .collect();
    assert_eq!(key, ["lock_id:HASH"]);
    let tags = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(table.table_arn().unwrap_or_default())
        .send()
        .await
        .expect("tags");
    let tags: Vec<_> = tags
        .tags()
        .iter()
        .map(|tag| format!("{}={}", tag.key(), tag.value()))
        .collect();
    assert_eq!(tags, ["pluto:managed=deploy-locks"]);
}
