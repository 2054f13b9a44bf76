//! The TGI wire format (Hugging Face Text Generation Inference, as served by SageMaker's TGI
//! containers), its generation defaults, and the chat-format tags: what the runtime sends and the
//! local model answers.
//!
//! - [`GenerationParams`]: how to generate, as apps say it (`pluto::chain` re-exports it);
//! - [`TgiRequest`] / [`TgiParameters`] / [`TgiGeneration`] / [`TgiError`]: the JSON on the wire,
//!   in both directions ([`TgiRequest::new`] for clients, [`GenerationParams::from`] a
//!   [`TgiParameters`] for servers);
//! - [`TgiStreamEvent`] / [`TgiStreamToken`] / [`TgiStreamDetails`]: TGI's streaming format
//!   (server-sent `data:{json}` events), which SageMaker's `InvokeEndpointWithResponseStream`
//!   carries in its payload parts;
//! - [`DEFAULT_MAX_NEW_TOKENS`], [`DEFAULT_SAMPLING_TEMPERATURE`]: the defaults both sides apply;
//! - [`Role`], [`SYSTEM_TAG`], [`USER_TAG`], [`ASSISTANT_TAG`], [`END_OF_TURN`] and
//!   [`render_zephyr`]: the Zephyr chat format (TinyLlama-Chat, Zephyr) the apps prompt in;
//! - [`TextGeneration`]: what serves a simulated SageMaker endpoint (the local model).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The most tokens generated when nothing says otherwise: [`GenerationParams::default`]'s, and a
/// server's for a [`TgiRequest`] without `max_new_tokens`.
pub const DEFAULT_MAX_NEW_TOKENS: u32 = 256;

/// The sampling temperature of a [`TgiRequest`] that asks to sample (`do_sample: true`) without
/// giving one, as TGI takes it.
pub const DEFAULT_SAMPLING_TEMPERATURE: f32 = 1.0;

/// The tag opening a system turn in the Zephyr chat format.
pub const SYSTEM_TAG: &str = "<|system|>";
/// The tag opening a user turn in the Zephyr chat format.
pub const USER_TAG: &str = "<|user|>";
/// The tag opening an assistant turn in the Zephyr chat format.
pub const ASSISTANT_TAG: &str = "<|assistant|>";
/// The end of a turn in the Zephyr chat format (the models' end-of-sequence token).
pub const END_OF_TURN: &str = "</s>";

/// Who says a message of a conversation. Serializes in lowercase: `"system"`, `"user"`,
/// `"assistant"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::System, Role::User, Role::Assistant];

    /// The tag that opens this role's turns in the Zephyr chat format: [`SYSTEM_TAG`],
    /// [`USER_TAG`] or [`ASSISTANT_TAG`].
    pub fn tag(self) -> &'static str {
        match self {
            Role::System => SYSTEM_TAG,
            Role::User => USER_TAG,
            Role::Assistant => ASSISTANT_TAG,
        }
    }

    /// The role's name, as serialized and as ChatML writes it: `system`, `user`, `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `turns` as a Zephyr-format prompt: each as `{tag}\n{content}</s>\n`, then the opening of the
/// assistant's turn, `<|assistant|>\n`, for the model to continue (the text of the models'
/// Hugging Face chat template with `add_generation_prompt`).
///
/// ```
/// use pluto_model::llm::{Role, render_zephyr};
///
/// assert_eq!(
///     render_zephyr([(Role::System, "Be brief."), (Role::User, "Hi!")]),
///     "<|system|>\nBe brief.</s>\n<|user|>\nHi!</s>\n<|assistant|>\n"
/// );
/// ```
pub fn render_zephyr<'a>(turns: impl IntoIterator<Item = (Role, &'a str)>) -> String {
    let mut text = String::new();
    for (role, content) in turns {
        text.push_str(role.tag());
        text.push('\n');
        text.push_str(content);
        text.push_str(END_OF_TURN);
        text.push('\n');
    }
    text.push_str(ASSISTANT_TAG);
    text.push('\n');
    text
}

/// How to generate: length, sampling and stop sequences.
///
/// The default generates up to [`DEFAULT_MAX_NEW_TOKENS`] new tokens greedily (temperature 0:
/// always the most likely token, so the same prompt gives the same answer). Set a temperature
/// above 0 to sample.
///
/// ```
/// use pluto_model::llm::GenerationParams;
///
/// let params = GenerationParams::default().max_new_tokens(64).temperature(0.7).top_p(0.9).stop("\n\n");
/// assert!(!params.is_greedy());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationParams {
    /// The most tokens to generate (an end-of-sequence token included).
    pub max_new_tokens: u32,
    /// Sampling temperature; 0 (or less) means greedy decoding.
    pub temperature: f32,
    /// Nucleus sampling: sample among the most likely tokens whose probabilities add up to this.
    pub top_p: Option<f32>,
    /// Sample among this many most likely tokens.
    pub top_k: Option<u32>,
    /// Penalty for repeating tokens (1.0 = none).
    pub repetition_penalty: Option<f32>,
    /// Stop generating at any of these strings.
    pub stop: Vec<String>,
    /// Seed of the sampler, for reproducible sampling.
    pub seed: Option<u64>,
    /// Asks the container to return the prompt followed by the generated text.
    /// `pluto::chain::SageMakerLlm` strips the echoed prompt either way.
    pub return_full_text: bool,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            repetition_penalty: None,
            stop: Vec::new(),
            seed: None,
            return_full_text: false,
        }
    }
}

impl GenerationParams {
    /// Sets the most tokens to generate.
    pub fn max_new_tokens(mut self, max_new_tokens: u32) -> Self {
        self.max_new_tokens = max_new_tokens;
        self
    }

    /// Sets the sampling temperature (0 for greedy decoding).
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = temperature;
        self
    }

    /// Sets nucleus sampling's probability mass.
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets how many most likely tokens to sample among.
    pub fn top_k(mut self, top_k: u32) -> Self {
        self.top_k = Some(top_k);
        self
    }

    /// Sets the repetition penalty.
    pub fn repetition_penalty(mut self, penalty: f32) -> Self {
        self.repetition_penalty = Some(penalty);
        self
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, sequence: impl Into<String>) -> Self {
        self.stop.push(sequence.into());
        self
    }

    /// Sets the sampler's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets whether the container should echo the prompt.
    pub fn return_full_text(mut self, return_full_text: bool) -> Self {
        self.return_full_text = return_full_text;
        self
    }

    /// Whether these parameters ask for greedy decoding (temperature 0, negative or NaN).
    pub fn is_greedy(&self) -> bool {
        self.temperature.is_nan() || self.temperature <= 0.0
    }
}

/// A TGI generation request: `{"inputs": "...", "parameters": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TgiRequest {
    /// The prompt.
    pub inputs: String,
    /// How to generate; absent means the server's defaults.
    #[serde(default)]
    pub parameters: TgiParameters,
}

/// The `parameters` of a [`TgiRequest`]. Every field is optional: absent fields are not sent, and
/// a request with any subset of them deserializes (unknown fields are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TgiParameters {
    /// The most tokens to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u32>,
    /// Sampling temperature; TGI requires it to be strictly positive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass, in (0, 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Top-k sampling, at least 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Repetition penalty, strictly positive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Sampler seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to sample (`false`: greedy decoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub do_sample: Option<bool>,
    /// Whether to prepend the prompt to the generated text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_full_text: Option<bool>,
}

impl TgiRequest {
    /// The request generating from `prompt` with `params` (see [`TgiParameters::from`]).
    pub fn new(prompt: impl Into<String>, params: &GenerationParams) -> Self {
        Self {
            inputs: prompt.into(),
            parameters: TgiParameters::from(params),
        }
    }

    /// How the server generates for this request (see [`GenerationParams::from`]).
    pub fn generation_params(&self) -> GenerationParams {
        GenerationParams::from(&self.parameters)
    }
}

impl From<&GenerationParams> for TgiParameters {
    /// Translates `params` into what TGI accepts (the client's side).
    ///
    /// TGI rejects a temperature of 0, and samples as soon as `temperature`, `top_p` or `top_k`
    /// is set, whatever `do_sample` says. So greedy parameters (temperature 0) send
    /// `do_sample: false` and none of temperature, `top_p`, `top_k` and `seed`; sampling
    /// parameters send `do_sample: true` with the temperature. A `top_p` of 1 or more and a
    /// `top_k` of 0 mean "no filtering", which TGI rejects as values, so they are left out.
    fn from(params: &GenerationParams) -> Self {
        let sample = !params.is_greedy();
        Self {
            max_new_tokens: Some(params.max_new_tokens),
            temperature: sample.then_some(params.temperature),
            top_p: params.top_p.filter(|&top_p| sample && top_p < 1.0),
            top_k: params.top_k.filter(|&top_k| sample && top_k > 0),
            repetition_penalty: params.repetition_penalty,
            stop: params.stop.clone(),
            seed: params.seed.filter(|_| sample),
            do_sample: Some(sample),
            return_full_text: Some(params.return_full_text),
        }
    }
}

impl From<&TgiParameters> for GenerationParams {
    /// How a server generates for `parameters` (the server's side, as the simulator serves
    /// SageMaker): absent `max_new_tokens` is [`DEFAULT_MAX_NEW_TOKENS`]; it samples only with
    /// `do_sample: true`, at the given temperature or [`DEFAULT_SAMPLING_TEMPERATURE`], and
    /// decodes greedily otherwise. What [`TgiParameters::from`] sends comes back unchanged, but
    /// for the sampling knobs it leaves out.
    fn from(parameters: &TgiParameters) -> Self {
        Self {
            max_new_tokens: parameters.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS),
            temperature: if parameters.do_sample == Some(true) {
                parameters
                    .temperature
                    .unwrap_or(DEFAULT_SAMPLING_TEMPERATURE)
            } else {
                0.0
            },
            top_p: parameters.top_p,
            top_k: parameters.top_k,
            repetition_penalty: parameters.repetition_penalty,
            stop: parameters.stop.clone(),
            seed: parameters.seed,
            return_full_text: parameters.return_full_text == Some(true),
        }
    }
}

/// One generation in a TGI answer: `{"generated_text": "..."}`. The container answers a list of
/// them, `[{"generated_text": "..."}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgiGeneration {
    /// The generated text (after the prompt, when `return_full_text` was set).
    pub generated_text: String,
}

/// A TGI error body: `{"error": "...", "error_type": "validation"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgiError {
    /// The message.
    pub error: String,
    /// Its kind: `validation`, `generation`, `overloaded`, `incomplete_generation`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// One token of a TGI stream: `{"id": 1234, "text": " Paris", "logprob": -0.1, "special": false}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TgiStreamToken {
    /// The token's id in the model's vocabulary.
    #[serde(default)]
    pub id: u32,
    /// Its text (for a special token, e.g. `</s>`, its spelling, which is not part of the answer).
    pub text: String,
    /// Its log-probability (0 when the server does not say).
    #[serde(default)]
    pub logprob: f32,
    /// Whether it is a special token (end of sequence, end of turn), not text.
    #[serde(default)]
    pub special: bool,
}

/// The `details` of the last event of a TGI stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgiStreamDetails {
    /// Why generation stopped: `length`, `eos_token` or `stop_sequence`.
    pub finish_reason: String,
    /// Tokens generated, the end-of-sequence token included.
    pub generated_tokens: u32,
    /// The sampler's seed, when sampling.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// One event of a TGI stream (`"stream": true`, or SageMaker's
/// `InvokeEndpointWithResponseStream`), sent as a server-sent event `data:{json}\n\n`
/// ([`TgiStreamEvent::to_sse`]): a token, and on the last event the whole `generated_text` and
/// the `details`. A failure mid-stream is a [`TgiError`] in the same framing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TgiStreamEvent {
    /// The token this event carries.
    pub token: TgiStreamToken,
    /// The whole generated text, on the last event only.
    #[serde(default)]
    pub generated_text: Option<String>,
    /// Why generation stopped, on the last event only.
    #[serde(default)]
    pub details: Option<TgiStreamDetails>,
}

/// The prefix of every event line of a TGI stream.
pub const TGI_SSE_DATA_PREFIX: &str = "data:";

impl TgiStreamEvent {
    /// The event as TGI sends it: `data:{json}\n\n`.
    pub fn to_sse(&self) -> String {
        sse_data(&serde_json::to_string(self).unwrap_or_default())
    }
}

impl TgiError {
    /// The error as a TGI stream sends it mid-stream: `data:{json}\n\n`.
    pub fn to_sse(&self) -> String {
        sse_data(&serde_json::to_string(self).unwrap_or_default())
    }
}

fn sse_data(json: &str) -> String {
    format!("{TGI_SSE_DATA_PREFIX}{json}\n\n")
}

/// What a streaming generation ended with: the TGI `details` of the last event.
pub type StreamEnd = TgiStreamDetails;

/// What a [`TextGeneration::generate_stream`] callback tells the model: go on, or stop (the
/// client went away; no more model time is spent on it).
pub type Continue = std::ops::ControlFlow<()>;

/// A text-generation model serving TGI requests, as a simulated SageMaker endpoint does: the
/// simulator hands it each request's [`TgiRequest`] (from a blocking thread) and answers with
/// [`TgiGeneration`]s, or streams [`TgiStreamEvent`]s. `pluto-local-model`'s `LocalModel`
/// implements it.
pub trait TextGeneration: Send + Sync + fmt::Debug {
    /// Generates for one request: only the generated text, without the prompt (the caller
    /// prepends it for `return_full_text`). Blocks while generating.
    fn generate(
        &self,
        request: &TgiRequest,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>>;

    /// Generates for one request, handing `on_token` each token as soon as it is known: its text
    /// (never half a UTF-8 character, never part of a stop string that ends the generation) and
    /// whether it is special. `on_token` returning `Continue::Break(())` stops the generation at
    /// once. Returns the details of the end. Blocks while generating.
    ///
    /// The default generates the whole text and hands it over as one token.
    fn generate_stream(
        &self,
        request: &TgiRequest,
        on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
    ) -> Result<StreamEnd, Box<dyn std::error::Error + Send + Sync>> {
        let text = self.generate(request)?;
        let _ = on_token(TgiStreamToken {
            id: 0,
            text,
            logprob: 0.0,
            special: false,
        });
        Ok(StreamEnd {
            finish_reason: "length".to_owned(),
            generated_tokens: 1,
            seed: None,
        })
    }

    /// A short label for logs, e.g. `SmolLM2-135M-Instruct (Q4_1)`.
    fn label(&self) -> String;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The request as it goes on the wire, read back as JSON (so `0.7f32` compares as `0.7`).
    fn wire(request: &TgiRequest) -> Value {
        serde_json::from_slice(&serde_json::to_vec(request).unwrap()).unwrap()
    }

    #[test]
    fn default_params_are_greedy_with_the_default_length() {
        let params = GenerationParams::default();
        assert_eq!(params.max_new_tokens, DEFAULT_MAX_NEW_TOKENS);
        assert!(params.is_greedy());
        assert!(!params.return_full_text);
        assert!(params.stop.is_empty());
        assert!(
            GenerationParams::default()
                .temperature(f32::NAN)
                .is_greedy()
        );
        assert!(GenerationParams::default().temperature(-1.0).is_greedy());
        assert!(!GenerationParams::default().temperature(0.1).is_greedy());
    }

    #[test]
    fn setters_set_fields() {
        let params = GenerationParams::default()
            .max_new_tokens(10)
            .temperature(0.5)
            .top_p(0.9)
            .top_k(40)
            .repetition_penalty(1.1)
            .stop(END_OF_TURN)
            .stop("\n\n")
            .seed(7)
            .return_full_text(true);
        assert_eq!(
            params,
            GenerationParams {
                max_new_tokens: 10,
                temperature: 0.5,
                top_p: Some(0.9),
                top_k: Some(40),
                repetition_penalty: Some(1.1),
                stop: vec![END_OF_TURN.to_owned(), "\n\n".to_owned()],
                seed: Some(7),
                return_full_text: true,
            }
        );
    }

    #[test]
    fn params_deserialize_with_defaults() {
        let params: GenerationParams = serde_json::from_str(r#"{"temperature": 0.5}"#).unwrap();
        assert_eq!(params, GenerationParams::default().temperature(0.5));
    }

    #[test]
    fn greedy_request_sends_no_temperature_and_no_sampling_knobs() {
        let params = GenerationParams::default()
            .max_new_tokens(64)
            .top_p(0.9)
            .top_k(40)
            .seed(3)
            .repetition_penalty(1.2)
            .stop("</s>");
        assert_eq!(
            wire(&TgiRequest::new("Hello", &params)),
            json!({
                "inputs": "Hello",
                "parameters": {
                    "max_new_tokens": 64,
                    "repetition_penalty": 1.2,
                    "stop": ["</s>"],
                    "do_sample": false,
                    "return_full_text": false
                }
            })
        );
    }

    #[test]
    fn sampling_request_sends_temperature_and_do_sample() {
        let params = GenerationParams::default()
            .temperature(0.7)
            .top_p(0.95)
            .top_k(50)
            .seed(42)
            .return_full_text(true);
        assert_eq!(
            wire(&TgiRequest::new("Once upon a time", &params)),
            json!({
                "inputs": "Once upon a time",
                "parameters": {
                    "max_new_tokens": DEFAULT_MAX_NEW_TOKENS,
                    "temperature": 0.7,
                    "top_p": 0.95,
                    "top_k": 50,
                    "seed": 42,
                    "do_sample": true,
                    "return_full_text": true
                }
            })
        );
    }

    #[test]
    fn values_tgi_rejects_are_left_out() {
        let params = GenerationParams::default()
            .temperature(1.0)
            .top_p(1.0)
            .top_k(0);
        assert_eq!(
            wire(&TgiRequest::new("x", &params))["parameters"],
            json!({"max_new_tokens": DEFAULT_MAX_NEW_TOKENS, "temperature": 1.0, "do_sample": true, "return_full_text": false})
        );
    }

    #[test]
    fn server_side_accepts_any_subset_of_parameters() {
        let request: TgiRequest = serde_json::from_str(r#"{"inputs": "hi"}"#).unwrap();
        assert_eq!(request.inputs, "hi");
        assert_eq!(request.parameters, TgiParameters::default());

        let request: TgiRequest = serde_json::from_str(
            r#"{"inputs": "hi", "parameters": {"temperature": 0.5, "stop": ["\n"], "details": true, "truncate": 100}}"#,
        )
        .unwrap();
        assert_eq!(
            request.parameters,
            TgiParameters {
                temperature: Some(0.5),
                stop: vec!["\n".to_owned()],
                ..TgiParameters::default()
            }
        );
        // What the client sends, the server reads back unchanged.
        let sent = TgiRequest::new("p", &GenerationParams::default().temperature(0.25).top_k(5));
        let received: TgiRequest =
            serde_json::from_slice(&serde_json::to_vec(&sent).unwrap()).unwrap();
        assert_eq!(received, sent);
    }

    #[test]
    fn server_reads_parameters_with_the_defaults() {
        let empty = TgiRequest {
            inputs: "hi".to_owned(),
            parameters: TgiParameters::default(),
        };
        assert_eq!(empty.generation_params(), GenerationParams::default());
        // Sampling without a temperature samples at TGI's default one; a temperature without
        // `do_sample: true` is ignored.
        let sample = TgiParameters {
            do_sample: Some(true),
            ..TgiParameters::default()
        };
        assert_eq!(
            GenerationParams::from(&sample).temperature,
            DEFAULT_SAMPLING_TEMPERATURE
        );
        let no_sample = TgiParameters {
            temperature: Some(0.5),
            ..TgiParameters::default()
        };
        assert!(GenerationParams::from(&no_sample).is_greedy());
    }

    #[test]
    fn parameters_round_trip_from_client_to_server() {
        for params in [
            GenerationParams::default(),
            GenerationParams::default()
                .max_new_tokens(8)
                .repetition_penalty(1.3)
                .stop("\n"),
            GenerationParams::default()
                .temperature(0.7)
                .top_p(0.95)
                .top_k(50)
                .seed(42)
                .return_full_text(true),
        ] {
            assert_eq!(TgiRequest::new("p", &params).generation_params(), params);
        }
    }

    #[test]
    fn answers_and_errors_serialize_as_tgi() {
        assert_eq!(
            serde_json::to_value([TgiGeneration {
                generated_text: "ok".to_owned()
            }])
            .unwrap(),
            json!([{"generated_text": "ok"}])
        );
        assert_eq!(
            serde_json::to_value(TgiError {
                error: "boom".to_owned(),
                error_type: None
            })
            .unwrap(),
            json!({"error": "boom"})
        );
    }

    #[test]
    fn stream_events_are_tgi_server_sent_events() {
        let last = TgiStreamEvent {
            token: TgiStreamToken {
                id: 2,
                text: "</s>".to_owned(),
                logprob: 0.0,
                special: true,
            },
            generated_text: Some(" Paris.".to_owned()),
            details: Some(TgiStreamDetails {
                finish_reason: "eos_token".to_owned(),
                generated_tokens: 3,
                seed: None,
            }),
        };
        let sse = last.to_sse();
        assert!(sse.starts_with("data:{") && sse.ends_with("}\n\n"), "{sse}");
        let json: Value = serde_json::from_str(&sse[5..sse.len() - 2]).unwrap();
        assert_eq!(json["token"]["special"], json!(true));
        assert_eq!(json["details"]["finish_reason"], json!("eos_token"));
        // What TGI sends for a middle token reads back.
        let middle: TgiStreamEvent = serde_json::from_str(
            r#"{"index":1,"token":{"id":3681,"text":" Paris","logprob":-0.2,"special":false},"generated_text":null,"details":null,"top_tokens":null}"#,
        )
        .unwrap();
        assert_eq!(middle.token.text, " Paris");
        assert_eq!(middle.generated_text, None);
        let error = TgiError {
            error: "boom".to_owned(),
            error_type: Some("generation".to_owned()),
        };
        assert_eq!(
            error.to_sse(),
            "data:{\"error\":\"boom\",\"error_type\":\"generation\"}\n\n"
        );
    }

    #[test]
    fn roles_have_zephyr_tags_and_lowercase_names() {
        let tags: Vec<&str> = Role::ALL.iter().map(|role| role.tag()).collect();
        assert_eq!(tags, [SYSTEM_TAG, USER_TAG, ASSISTANT_TAG]);
        assert_eq!(Role::Assistant.to_string(), "assistant");
        assert_eq!(serde_json::to_value(Role::User).unwrap(), json!("user"));
        assert_eq!(
            serde_json::from_value::<Role>(json!("system")).unwrap(),
            Role::System
        );
        assert_eq!(render_zephyr([]), "<|assistant|>\n");
    }
}
