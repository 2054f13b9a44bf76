//! Pluto's AWS engine: takes an [`Architecture`](pluto_model::Architecture) to running AWS
//! resources — IAM roles with least-privilege inline policies rendered from the deducer's grants,
//! Lambda functions behind Function URLs, DynamoDB tables, S3 buckets, Secrets Manager secrets,
//! SageMaker endpoints — and back out.
//!
//! It talks to AWS directly through the AWS SDK for Rust and reads the truth back from AWS: every
//! deploy starts by reading the live state ([`Engine::plan_deploy`]), so a re-run after a failure
//! converges, and `destroy` finds the stack by names and tags without any local state
//! ([`inventory`]).
//!
//! Deploys and destroys of one stack never interleave: the CLI holds the stack's [`lock`] (a
//! conditional write to a DynamoDB table the engine owns) around planning and applying.
//!
//! ```text
//! DesiredStack::new(arch, names, target, code) --plan_deploy--> PreparedChange (Plan) --apply--> Outputs
//! ```

pub mod connect;
pub mod desired;
mod dynamodb;
pub mod engine;
pub mod error;
pub mod inventory;
mod lambda;
pub mod lock;
pub mod plan;
pub mod progress;
mod role;
mod s3;
mod sagemaker;
pub mod secrets;
pub mod wait;

pub use connect::{
    ApiCall, Aws, CallLog, ConnectOptions, Timeouts, connect, from_config, load_config,
};
pub use desired::{Code, DesiredStack};
pub use engine::{Engine, Outputs, PreparedChange};
pub use error::EngineError;
pub use lock::{LockError, LockEvent, LockHolder, LockOptions, StackLock};
pub use plan::{Action, Change, FieldChange, Plan};
pub use progress::{Event, Progress, Silent};
pub use wait::WaitPolicy;
