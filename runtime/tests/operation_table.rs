//! The deducer's table of operations (`pluto_model::operation`) against the runtime's handle
//! types: every method the table names exists on its handle, with the arguments apps pass. A
//! method renamed or removed here fails to compile; an entry added to the table without a line
//! here fails the test.

use pluto::chain::SageMakerLlm;
use pluto::{Bucket, Function, KvStore, SageMaker, Secret};
use pluto_model::operation::{HANDLE_METHODS, HANDLE_METHODS_WITHOUT_OPERATION, RUNTIME_CONSUMERS};
use pluto_spec::ResourceKind;
use std::time::Duration;

/// Takes a closure that calls a method, never running it: it exists for the compiler's check.
fn check<T>(_call: impl FnOnce() -> T) {}

/// Whether the runtime's `kind` handle has `method`: each arm calls it in a closure that is
/// never run, so the compiler checks the method exists.
fn handle_has(kind: ResourceKind, method: &str) -> bool {
    const KV: KvStore = KvStore::__declared("kv");
    const MODEL: SageMaker = SageMaker::__declared("model");
    const FUNCTION: Function = Function::__declared("function");
    const BUCKET: Bucket = Bucket::__declared("bucket");
    const SECRET: Secret = Secret::__declared("secret");
    let minute = Duration::from_secs(60);
    match (kind, method) {
        (ResourceKind::KvStore, "get") => check(|| KV.get("k")),
        (ResourceKind::KvStore, "get_json") => check(|| KV.get_json::<String>("k")),
        (ResourceKind::KvStore, "set") => check(|| KV.set("k", "v")),
        (ResourceKind::KvStore, "set_json") => check(|| KV.set_json("k", &1)),
        (ResourceKind::KvStore, "delete") => check(|| KV.delete("k")),
        (ResourceKind::KvStore, "name") => check(|| KV.name()),
        (ResourceKind::KvStore, "table_name") => check(|| KV.table_name()),
        (ResourceKind::Sagemaker, "invoke") => check(|| MODEL.invoke(&1)),
        (ResourceKind::Sagemaker, "invoke_as") => check(|| MODEL.invoke_as::<_, String>(&1)),
        (ResourceKind::Sagemaker, "invoke_raw") => {
            check(|| MODEL.invoke_raw(pluto::RawRequest::json(Vec::new())))
        }
        (ResourceKind::Sagemaker, "invoke_stream") => {
            check(|| MODEL.invoke_stream(pluto::RawRequest::json(Vec::new())))
        }
        (ResourceKind::Sagemaker, "name") => check(|| MODEL.name()),
        (ResourceKind::Sagemaker, "endpoint_name") => check(|| MODEL.endpoint_name()),
        (ResourceKind::Function, "invoke") => check(|| FUNCTION.invoke(&(1,))),
        (ResourceKind::Function, "invoke_as") => check(|| FUNCTION.invoke_as::<_, String>(&(1,))),
        (ResourceKind::Function, "url") => check(|| FUNCTION.url()),
        (ResourceKind::Function, "name") => check(|| FUNCTION.name()),
        (ResourceKind::Bucket, "get") => check(|| BUCKET.get("k")),
        (ResourceKind::Bucket, "get_text") => check(|| BUCKET.get_text("k")),
        (ResourceKind::Bucket, "get_json") => check(|| BUCKET.get_json::<String>("k")),
        (ResourceKind::Bucket, "presign_get") => check(|| BUCKET.presign_get("k", minute)),
        (ResourceKind::Bucket, "put") => check(|| BUCKET.put("k", "v", "text/plain")),
        (ResourceKind::Bucket, "put_file") => check(|| BUCKET.put_file("k", "f", "text/plain")),
        (ResourceKind::Bucket, "put_json") => check(|| BUCKET.put_json("k", &1)),
        (ResourceKind::Bucket, "presign_put") => {
            check(|| BUCKET.presign_put("k", minute, "text/plain"))
        }
        (ResourceKind::Bucket, "delete") => check(|| BUCKET.delete("k")),
        (ResourceKind::Bucket, "list") => check(|| BUCKET.list("p")),
        (ResourceKind::Bucket, "list_all") => check(|| BUCKET.list_all("p")),
        (ResourceKind::Bucket, "name") => check(|| BUCKET.name()),
        (ResourceKind::Bucket, "bucket_name") => check(|| BUCKET.bucket_name()),
        (ResourceKind::Secret, "get") => check(|| SECRET.get()),
        (ResourceKind::Secret, "name") => check(|| SECRET.name()),
        (ResourceKind::Secret, "secret_name") => check(|| SECRET.secret_name()),
        _ => return false,
    }
    true
}

#[test]
fn every_method_of_the_operation_table_exists_on_its_handle() {
    let named = HANDLE_METHODS
        .iter()
        .map(|entry| (entry.handle, entry.method))
        .chain(HANDLE_METHODS_WITHOUT_OPERATION.iter().copied());
    for (kind, method) in named {
        assert!(
            handle_has(kind, method),
            "the operation table names `{method}` on the {kind} handle, which this test does not \
             check: add an arm calling it to `handle_has`"
        );
    }
}

#[test]
fn every_runtime_consumer_exists() {
    for consumer in RUNTIME_CONSUMERS {
        let exists = match consumer.path {
            ["pluto", "chain", "SageMakerLlm", "new"] => {
                check(|| SageMakerLlm::new(SageMaker::__declared("model")));
                true
            }
            _ => false,
        };
        assert!(exists, "{:?} is not checked here: add it", consumer.path);
    }
}
