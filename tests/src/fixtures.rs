//! Hand-made pieces for tests of policies and of the AWS engine that need no deducer run: grants,
//! functions, a code zip, and an engine pointed at moto (or a proxy in front of it).

use pluto_aws_engine::{Code, Engine, WaitPolicy};
use pluto_deducer::{Function, Grant, Operation, ResourceRef, SourceLocation};
use pluto_spec::{FunctionSpec, ResourceKind, UrlAuth};
use std::collections::BTreeMap;

/// A grant of `operation` on the resource `kind`/`name`, without provenance.
pub fn grant(kind: ResourceKind, name: &str, operation: Operation) -> Grant {
    Grant {
        resource: ResourceRef {
            kind,
            name: name.to_owned(),
        },
        operation,
        provenance: Vec::new(),
        escaped: None,
    }
}

/// A function `name` with this URL auth and these grants; 30 s, 256 MB, no env, no CORS.
pub fn function(name: &str, url: UrlAuth, grants: Vec<Grant>) -> Function {
    Function {
        spec: FunctionSpec {
            name: name.to_owned(),
            url,
            timeout_s: 30,
            memory_mb: 256,
            env: BTreeMap::new(),
            cors: None,
        },
        rust_path: format!("app::{}", name.replace('-', "_")),
        params: Vec::new(),
        source: SourceLocation {
            file: "src/main.rs".to_owned(),
            line: 1,
            column: 1,
        },
        grants,
    }
}

/// `binary` zipped as `bootstrap` into a temporary directory named after `tag`, as engine code
/// (moto stores code without running it).
///
/// # Panics
/// When the temporary directory cannot be written.
pub fn code(binary: &[u8], tag: &str) -> Code {
    let dir = std::env::temp_dir().join(format!("pluto-code-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let zip = pluto_build::bootstrap_zip(binary).expect("a zip");
    let path = dir.join("bootstrap.zip");
    std::fs::write(&path, &zip).expect("the zip is written");
    Code {
        zip_path: path,
        code_sha256: pluto_build::code_sha256(&zip),
        architecture: "x86_64".to_owned(),
    }
}

/// An engine on `endpoint` with test credentials in `us-east-1`, polling every 50 ms.
///
/// # Panics
/// When the endpoint does not answer STS.
pub async fn engine(endpoint: &str) -> Engine {
    let config = crate::moto::sdk_config_for(endpoint).await;
    let aws = pluto_aws_engine::from_config(&config)
        .await
        .expect("the engine connects");
    let mut engine = Engine::new(aws);
    engine.wait = WaitPolicy::fast();
    engine
}
