//! The local model as the console sees it: every generation's prompt, output, token count, time
//! to first token and speed go to the hub, while the simulator gets the same answers as from the
//! model itself.

use crate::hub::{Hub, ModelCall, now_ms};
use pluto_model::llm::{Continue, StreamEnd, TextGeneration, TgiRequest, TgiStreamToken};
use std::sync::Arc;
use std::time::Instant;

/// Longest prompt and output kept per call.
const MAX_KEPT_CHARS: usize = 16 * 1024;

/// A [`TextGeneration`] that reports each call to the hub.
pub(crate) struct RecordingModel {
    pub(crate) inner: Arc<dyn TextGeneration>,
    pub(crate) hub: Arc<Hub>,
}

impl std::fmt::Debug for RecordingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingModel")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

fn clipped(text: &str) -> String {
    if text.len() <= MAX_KEPT_CHARS {
        return text.to_owned();
    }
    let mut end = MAX_KEPT_CHARS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

impl RecordingModel {
    /// Runs the model's stream, handing tokens on to `on_token`, and records the call.
    fn run(
        &self,
        request: &TgiRequest,
        streamed: bool,
        on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
    ) -> Result<(StreamEnd, String), Box<dyn std::error::Error + Send + Sync>> {
        let started = Instant::now();
        let at_ms = now_ms();
        let mut first_token = None;
        let mut tokens = 0_u64;
        let mut output = String::new();
        let result = self.inner.generate_stream(request, &mut |token| {
            if first_token.is_none() {
                first_token = Some(started.elapsed());
            }
            tokens += 1;
            if !token.special {
                output.push_str(&token.text);
            }
            on_token(token)
        });
        let elapsed = started.elapsed();
        let decode_seconds = first_token
            .map(|first| elapsed.saturating_sub(first).as_secs_f64())
            .unwrap_or_default();
        let tokens_per_s = (tokens > 1 && decode_seconds > 0.0)
            .then(|| ((tokens - 1) as f64 / decode_seconds * 10.0).round() / 10.0);
        self.hub.on_model_call(ModelCall {
            at_ms,
            prompt: clipped(&request.inputs),
            output: clipped(&output),
            prompt_chars: request.inputs.chars().count(),
            tokens,
            ttft_ms: first_token.map(|first| (first.as_secs_f64() * 1e4).round() / 10.0),
            tokens_per_s,
            duration_ms: (elapsed.as_secs_f64() * 1e4).round() / 10.0,
            streamed,
            error: result.as_ref().err().map(ToString::to_string),
        });
        result.map(|end| (end, output))
    }
}

impl TextGeneration for RecordingModel {
    /// The joined text of the model's stream: for the local model exactly what its `generate`
    /// answers (its non-special tokens joined), measured token by token.
    fn generate(
        &self,
        request: &TgiRequest,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        self.run(request, false, &mut |_| Continue::Continue(()))
            .map(|(_, output)| output)
    }

    fn generate_stream(
        &self,
        request: &TgiRequest,
        on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
    ) -> Result<StreamEnd, Box<dyn std::error::Error + Send + Sync>> {
        self.run(request, true, on_token).map(|(end, _)| end)
    }

    fn label(&self) -> String {
        self.inner.label()
    }
}
