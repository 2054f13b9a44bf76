//! The local model behind the simulator's SageMaker endpoints: a real language model, a quantized
//! llama-architecture GGUF file run on the CPU by candle. By default SmolLM2-135M-Instruct (Q4_1,
//! 98 MB), which answers a short question in about 0.1 s on two cores (on a CPU with AVX512-VNNI,
//! prompts are processed at ~850 tokens/s and text generated at ~125 tokens/s; ~220 and ~100
//! with candle's generic kernels; a prompt that starts like the previous one only processes what
//! is new, with the same results); `--model PATH` or
//! `PLUTO_MODEL` can name any llama-architecture GGUF file with a byte-level BPE (`gpt2`) or
//! SentencePiece (`llama`) tokenizer, TinyLlama-Chat itself included.
//!
//! - [`resolve_model`] finds the model file (fetching the default model once with pip),
//! - [`LocalModel::load`] loads it: weights, the tokenizer built from the GGUF metadata, and the
//!   chat format of its chat template,
//! - [`LocalModel::generate`] generates text for [`GenerationParams`], and
//!   [`LocalModel::generate_stream`] hands over each token as it is generated (what a Text Generation
//!   Inference request asks, [`pluto_model::llm`]'s), and [`LocalModel::generate_chat`] first
//!   re-renders the prompt in the model's chat format ([`to_local_chat_prompt`]: the apps prompt
//!   for TinyLlama-Chat's Zephyr format or send plain text; SmolLM2 speaks ChatML),
//! - [`LocalModel`] implements [`TextGeneration`], which the simulator serves SageMaker
//!   `InvokeEndpoint` with (the simulator itself does not depend on candle).
//!
//! ```no_run
//! use pluto_local_model::{LocalModel, resolve_model};
//! use pluto_model::llm::{GenerationParams, Role, render_zephyr};
//!
//! let model = LocalModel::load(&resolve_model(None)?)?;
//! let prompt = render_zephyr([(Role::User, "What is the capital of France?")]);
//! let answer = model.generate_chat(&prompt, &GenerationParams::default())?;
//! println!("{}", answer.text);
//! # Ok::<(), pluto_local_model::ModelError>(())
//! ```

mod chat;
mod error;
mod generate;
mod llama;
mod resolve;
mod tokenizer;
mod weights;

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use candle_core::quantized::gguf_file;
use candle_transformers::models::quantized_llama::MAX_SEQ_LEN;
use pluto_model::llm::{Continue, StreamEnd, TgiRequest, TgiStreamToken};

pub use chat::{ChatFormat, to_local_chat_prompt};
pub use error::ModelError;
pub use generate::{FinishReason, Generation};
pub use llama::{MatmulKernels, PREFILL_BLOCK_TOKENS};
pub use pluto_model::llm::{GenerationParams, TextGeneration};
pub use resolve::{
    CACHE_DIR_ENV, DEFAULT_MODEL_FILE, DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_PACKAGE_VERSION,
    MODEL_ENV, cache_dir, default_model_path, fetch_default_model, locate_model, model_path_in,
    resolve_model,
};

use llama::Llama;
use tokenizer::{GgufTokenizer, Metadata};

/// What a loaded model is, from its GGUF metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The model's name: the file name without `.gguf` and the quantization
    /// (`SmolLM2-135M-Instruct`), else `general.name`.
    pub name: String,
    /// The quantization of the weights (`general.file_type`: `Q4_1`, `Q4_K_M`, ...).
    pub quantization: Option<String>,
    /// The architecture (`general.architecture`; always `llama` here).
    pub architecture: String,
    /// The number of parameters, counted from the tensors' shapes.
    pub parameters: u64,
    /// The tokens the context holds here: the trained context length, at most 4096 (candle's
    /// limit for llama models).
    pub context_length: usize,
    /// The context length the model was trained for (`llama.context_length`).
    pub trained_context_length: Option<usize>,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// The model file.
    pub path: PathBuf,
    /// The size of the model file in bytes.
    pub file_size: u64,
    /// How long loading took.
    pub load_time: Duration,
}

impl ModelInfo {
    /// The name with the quantization: `SmolLM2-135M-Instruct (Q4_1)`.
    pub fn label(&self) -> String {
        match &self.quantization {
            Some(quantization) => format!("{} ({quantization})", self.name),
            None => self.name.clone(),
        }
    }

    /// The parameter count rounded for people: `135M`, `1.1B`.
    pub fn parameters_label(&self) -> String {
        // Lossy on purpose: a rounded figure for display.
        #[allow(clippy::cast_precision_loss)]
        let n = self.parameters as f64;
        if n >= 1e9 {
            format!("{:.1}B", n / 1e9)
        } else if n >= 1e6 {
            format!("{:.0}M", n / 1e6)
        } else {
            format!("{:.0}K", n / 1e3)
        }
    }
}

impl fmt::Display for ModelInfo {
    /// `SmolLM2-135M-Instruct (Q4_1): llama, 135M parameters, 4096-token context`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, {} parameters, {}-token context",
            self.label(),
            self.architecture,
            self.parameters_label(),
            self.context_length
        )
    }
}

/// A loaded model, ready to generate. `Send + Sync`: share it (in an `Arc`) between requests;
/// generations run one at a time (a mutex guards the weights and their attention cache).
pub struct LocalModel {
    info: ModelInfo,
    tokenizer: GgufTokenizer,
    chat_format: ChatFormat,
    llama: Mutex<Llama>,
}

impl fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalModel")
            .field("info", &self.info)
            .field("chat_format", &self.chat_format)
            .finish_non_exhaustive()
    }
}

impl LocalModel {
    /// Loads the GGUF model at `path`: a llama-architecture model with a byte-level BPE (`gpt2`)
    /// or SentencePiece (`llama`) tokenizer in its metadata. Weights in Q4_1, Q5_0 or Q5_1, which
    /// candle runs without SIMD, are converted to Q8_0. Takes about 0.5 s for the default model
    /// (see [`ModelInfo::load_time`]).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let start = Instant::now();
        let io_error = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let gguf_error = |source| ModelError::Gguf {
            path: path.to_path_buf(),
            source,
        };
        let unsupported = |reason: String| ModelError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(io_error)?;
        let file_size = file.metadata().map_err(io_error)?.len();
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(gguf_error)?;
        let metadata = Metadata(&content.metadata);

        let architecture = metadata.string("general.architecture").unwrap_or("");
        if architecture != "llama" {
            return Err(unsupported(format!(
                "its architecture is `{architecture}`; the local model engine runs llama models"
            )));
        }
        let tokenizer = GgufTokenizer::from_metadata(metadata).map_err(unsupported)?;
        let chat_format = ChatFormat::from_template(metadata.string("tokenizer.chat_template"));
        let trained_context_length = metadata
            .u64("llama.context_length")
            .and_then(|n| usize::try_from(n).ok());
        let quantization = metadata
            .u32("general.file_type")
            .and_then(file_type_name)
            .map(str::to_owned);
        let info = ModelInfo {
            name: model_name(
                path,
                metadata.string("general.name"),
                quantization.as_deref(),
            ),
            quantization,
            architecture: architecture.to_owned(),
            parameters: content
                .tensor_infos
                .values()
                .map(|tensor| tensor.shape.elem_count() as u64)
                .sum(),
            context_length: trained_context_length
                .unwrap_or(MAX_SEQ_LEN)
                .min(MAX_SEQ_LEN),
            trained_context_length,
            vocab_size: tokenizer.vocab_size(),
            path: path.to_path_buf(),
            file_size,
            load_time: Duration::ZERO,
        };

        let tensors = weights::load(&content, &mut reader).map_err(gguf_error)?;
        let llama = Llama::new(&content, tensors, info.context_length).map_err(gguf_error)?;
        Ok(Self {
            info: ModelInfo {
                load_time: start.elapsed(),
                ..info
            },
            tokenizer,
            chat_format,
            llama: Mutex::new(llama),
        })
    }

    /// The model, once generations running in other threads are done. A generation that
    /// panicked may have left its attention cache half written: it is then forgotten.
    fn llama(&self) -> MutexGuard<'_, Llama> {
        self.llama.lock().unwrap_or_else(|poisoned| {
            let mut llama = poisoned.into_inner();
            llama.clear_cache();
            llama
        })
    }

    /// What the model is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The kernels its quantized matrix products run on (chosen for the CPU on load).
    pub fn matmul_kernels(&self) -> MatmulKernels {
        self.llama().kernels()
    }

    /// The chat format of the model's chat template.
    pub fn chat_format(&self) -> &ChatFormat {
        &self.chat_format
    }

    /// `prompt` in the model's chat format ([`ChatFormat::render`]): for SmolLM2, ChatML, with
    /// Zephyr-format prompts translated and plain text as one user turn.
    pub fn chat_prompt(&self, prompt: &str) -> String {
        self.chat_format.render(prompt)
    }

    /// The token ids of `text` as a prompt: control tokens spelled out in it (`<|im_start|>`)
    /// are single tokens.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer.encode(text)
    }

    /// Generates a continuation of `prompt`, taken as it is (no chat format applied).
    ///
    /// Stops at `max_new_tokens`, at an end-of-sequence or end-of-turn token (`<|im_end|>`), or
    /// at a stop string. A prompt that fills the context (see [`ModelInfo::context_length`]) is an
    /// error, [`ModelError::PromptTooLong`], rather than cut; generation stops when the context
    /// is full. Waits for generations running in other threads.
    ///
    /// The attention cache of the previous generation is reused for the whole blocks of
    /// [`PREFILL_BLOCK_TOKENS`] tokens `prompt` starts with in common with its prompt (a shared
    /// system prompt or document is not processed again), with results bit for bit those
    /// without it: the same prompt and parameters always give the same text.
    pub fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<Generation, ModelError> {
        self.generate_stream(prompt, params, |_| Continue::Continue(()))
    }

    /// [`generate`](Self::generate), handing `on_token` each token as soon as it is sampled:
    ///
    /// - one call per generated token, with its id and log-probability; its `text` is what of
    ///   the generated text that token makes known: empty while a UTF-8 character is incomplete
    ///   or the text may be the start of a stop string, more than the token's own text once
    ///   held-back text is released; never (part of) the stop string that ends the generation;
    /// - the end-of-turn token as a `special` token with its spelling (`<|im_end|>`), just after
    ///   a non-special one with any text still held back;
    /// - the `text`s of the non-special tokens joined are [`Generation::text`], exactly what
    ///   [`generate`](Self::generate) answers.
    ///
    /// `on_token` returning `Continue::Break(())` stops the generation at once (no further
    /// forward pass); the generation ends as [`FinishReason::Cancelled`].
    pub fn generate_stream(
        &self,
        prompt: &str,
        params: &GenerationParams,
        mut on_token: impl FnMut(TgiStreamToken) -> Continue,
    ) -> Result<Generation, ModelError> {
        let tokens = self.tokenizer.encode(prompt)?;
        let mut llama = self.llama();
        generate::generate(
            &mut llama,
            &self.tokenizer,
            &tokens,
            self.info.context_length,
            params,
            &mut on_token,
        )
    }

    /// [`generate`](Self::generate) for `prompt` rendered in the model's chat format
    /// ([`chat_prompt`](Self::chat_prompt)): what a simulated SageMaker endpoint does with the
    /// prompts the apps send.
    pub fn generate_chat(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<Generation, ModelError> {
        self.generate(&self.chat_prompt(prompt), params)
    }

    /// [`generate_stream`](Self::generate_stream) for `prompt` rendered in the model's chat
    /// format.
    pub fn generate_chat_stream(
        &self,
        prompt: &str,
        params: &GenerationParams,
        on_token: impl FnMut(TgiStreamToken) -> Continue,
    ) -> Result<Generation, ModelError> {
        self.generate_stream(&self.chat_prompt(prompt), params, on_token)
    }

    /// Forgets the attention cache kept for the next request's common prefix: the next
    /// generation processes its whole prompt.
    pub fn clear_cache(&self) {
        self.llama().clear_cache();
    }

    /// How many tokens of `prompt` (taken as it is) the attention cache holds already: what the
    /// next [`generate`](Self::generate) of it does not process again (a multiple of
    /// [`PREFILL_BLOCK_TOKENS`]).
    pub fn cached_prefix_tokens(&self, prompt: &str) -> Result<usize, ModelError> {
        let tokens = self.tokenizer.encode(prompt)?;
        Ok(self.llama().reusable(&tokens))
    }
}

impl TextGeneration for LocalModel {
    /// [`generate_chat`](LocalModel::generate_chat) for the request's prompt, with the parameters
    /// a TGI server reads from it ([`TgiRequest::generation_params`]); only the generated text.
    fn generate(
        &self,
        request: &TgiRequest,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let generation = self.generate_chat(&request.inputs, &request.generation_params())?;
        Ok(generation.text)
    }

    /// [`generate_chat_stream`](LocalModel::generate_chat_stream) for the request's prompt, with
    /// the parameters a TGI server reads from it; the end as TGI's `details`, with the
    /// [`FinishReason`] names.
    fn generate_stream(
        &self,
        request: &TgiRequest,
        on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
    ) -> Result<StreamEnd, Box<dyn std::error::Error + Send + Sync>> {
        let generation =
            self.generate_chat_stream(&request.inputs, &request.generation_params(), on_token)?;
        Ok(generation.stream_end())
    }

    /// [`ModelInfo::label`]: `SmolLM2-135M-Instruct (Q4_1)`.
    fn label(&self) -> String {
        self.info.label()
    }
}

/// The name of llama.cpp's `general.file_type` (`llama_ftype`).
fn file_type_name(file_type: u32) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    })
}

/// The file name without `.gguf` and a `.Q4_1`-like suffix naming `quantization`; else
/// `general_name`; else the file name.
fn model_name(path: &Path, general_name: Option<&str>, quantization: Option<&str>) -> String {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stripped = quantization.and_then(|quantization| {
        let cut = stem.len().checked_sub(quantization.len() + 1)?;
        let (name, suffix) = stem.split_at_checked(cut)?;
        let matches =
            suffix.starts_with(['.', '-', '_']) && suffix[1..].eq_ignore_ascii_case(quantization);
        matches.then(|| name.to_owned())
    });
    match stripped {
        Some(name) if !name.is_empty() => name,
        _ if !stem.is_empty() => stem,
        _ => general_name.unwrap_or("model").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_model_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<LocalModel>();
        fn serves_sagemaker(
            model: std::sync::Arc<LocalModel>,
        ) -> std::sync::Arc<dyn TextGeneration> {
            model
        }
        let _ = serves_sagemaker;
    }

    #[test]
    fn model_name_drops_the_quantization_suffix() {
        let name = |path: &str, quantization| model_name(Path::new(path), Some("g"), quantization);
        assert_eq!(
            name("/m/SmolLM2-135M-Instruct.Q4_1.gguf", Some("Q4_1")),
            "SmolLM2-135M-Instruct"
        );
        assert_eq!(
            name("tinyllama-1.1b-chat-v1.0.q4_k_m.gguf", Some("Q4_K_M")),
            "tinyllama-1.1b-chat-v1.0"
        );
        assert_eq!(name("model-Q8_0.gguf", Some("Q8_0")), "model");
        assert_eq!(name("model.gguf", Some("Q8_0")), "model");
        assert_eq!(name("model.gguf", None), "model");
        assert_eq!(model_name(Path::new(""), Some("g"), None), "g");
    }

    #[test]
    fn info_labels() {
        let info = ModelInfo {
            name: "SmolLM2-135M-Instruct".to_owned(),
            quantization: Some("Q4_1".to_owned()),
            architecture: "llama".to_owned(),
            parameters: 134_515_008,
            context_length: 4096,
            trained_context_length: Some(8192),
            vocab_size: 49152,
            path: PathBuf::from("m.gguf"),
            file_size: 1,
            load_time: Duration::ZERO,
        };
        assert_eq!(info.label(), "SmolLM2-135M-Instruct (Q4_1)");
        assert_eq!(
            info.to_string(),
            "SmolLM2-135M-Instruct (Q4_1): llama, 135M parameters, 4096-token context"
        );
        assert_eq!(
            ModelInfo {
                parameters: 1_100_048_384,
                ..info
            }
            .parameters_label(),
            "1.1B"
        );
    }
}
