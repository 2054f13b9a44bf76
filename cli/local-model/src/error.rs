//! [`ModelError`]: everything that can go wrong finding, fetching, loading or running the model.

use std::path::PathBuf;

/// An error of the local model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// `--model PATH` or `PLUTO_MODEL` names a file that does not exist.
    #[error(
        "the model file {} (from {origin}) does not exist; `--model PATH` and PLUTO_MODEL take \
         the path of a llama-architecture GGUF file",
        path.display()
    )]
    NotFound {
        /// The missing file.
        path: PathBuf,
        /// Where the path came from: `--model` or `PLUTO_MODEL`.
        origin: &'static str,
    },

    /// The default model is not in the cache directory (and was not to be fetched).
    #[error(
        "the local model is not downloaded: {} does not exist; run `scripts/fetch-model` (in the \
         Pluto repository) or `cargo pluto run`, which fetches it, or point `--model PATH` or \
         PLUTO_MODEL at any llama-architecture GGUF file",
        path.display()
    )]
    NotDownloaded {
        /// Where the default model was looked for.
        path: PathBuf,
    },

    /// No cache directory: none of `PLUTO_CACHE_DIR`, `XDG_CACHE_HOME` and `HOME` is set.
    #[error(
        "no cache directory for the local model: set PLUTO_CACHE_DIR (or HOME), or point \
         `--model PATH` or PLUTO_MODEL at a llama-architecture GGUF file"
    )]
    NoCacheDir,

    /// Downloading the default model failed.
    #[error("could not fetch the local model: {reason}\n{manual}")]
    Fetch {
        /// What went wrong.
        reason: String,
        /// What to run by hand instead.
        manual: String,
    },

    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not a GGUF file candle can read, or its weights do not load.
    #[error("{} is not a usable GGUF model: {source}", path.display())]
    Gguf {
        /// The file.
        path: PathBuf,
        /// candle's error.
        #[source]
        source: candle_core::Error,
    },

    /// The GGUF file is readable but not a model this engine runs.
    #[error("{} is not supported: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Why (architecture, tokenizer, missing metadata).
        reason: String,
    },

    /// The tokenizer could not be built from the GGUF metadata, or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The prompt does not fit into the model's context.
    #[error(
        "the prompt is {prompt_tokens} tokens long; the model's context holds {context_length} \
         tokens, and at least one must be left to generate"
    )]
    PromptTooLong {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Tokens the context holds.
        context_length: usize,
    },

    /// The prompt is empty and the model has no beginning-of-sequence token to start from.
    #[error("the prompt is empty")]
    EmptyPrompt,

    /// A generation parameter is out of range.
    #[error("invalid generation request: {0}")]
    InvalidRequest(String),

    /// Running the model failed.
    #[error("inference failed: {0}")]
    Inference(#[from] candle_core::Error),
}
