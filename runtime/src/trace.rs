//! The trace id of the invocation in progress, sent on every AWS call as `X-Amzn-Trace-Id`, as
//! the AWS SDK does in Lambda (its recursion-detection interceptor reads `_X_AMZN_TRACE_ID`, which
//! this runtime cannot set without `unsafe`). Deployed, X-Ray links the calls to the invocation;
//! locally, the simulator's dev console shows each call under the request that made it.
//!
//! A process handles one invocation at a time (as on Lambda), so one process-wide value is
//! enough: the Runtime API loop sets it for each event.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::RwLock;

use pluto_spec::contract::TRACE_ID_HEADER;

static CURRENT: RwLock<Option<String>> = RwLock::new(None);

/// Sets the trace id of the invocation that starts now (`Lambda-Runtime-Trace-Id`), or clears it.
pub(crate) fn set_current(trace_id: Option<String>) {
    match CURRENT.write() {
        Ok(mut current) => *current = trace_id,
        Err(poisoned) => *poisoned.into_inner() = trace_id,
    }
}

fn current() -> Option<String> {
    match CURRENT.read() {
        Ok(current) => current.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Adds the current invocation's trace id to each AWS request that has none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceHeader;

impl Intercept for TraceHeader {
    fn name(&self) -> &'static str {
        "PlutoTraceHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        if let Some(trace_id) = current()
            && !headers.contains_key(TRACE_ID_HEADER)
        {
            // A value that is not a valid header (it came from the Runtime API) is left out.
            let _ = headers.try_insert(TRACE_ID_HEADER, trace_id);
        }
        Ok(())
    }
}
