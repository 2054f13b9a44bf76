//! `LlmChain`: a prompt template piped into a model, LangChain's `prompt | llm`.

use super::error::ChainError;
use super::llm::{GenerationParams, Llm};
use super::prompt::PromptTemplate;
use super::stream::TokenStream;

/// A [`PromptTemplate`] piped into an [`Llm`]: [`LlmChain::run`] fills in the template and
/// returns what the model generates from it.
///
/// ```
/// use pluto::chain::{ChainError, GenerationParams, Llm, LlmChain, PromptTemplate};
///
/// struct Shout;
/// impl Llm for Shout {
///     async fn generate(&self, prompt: &str, _: &GenerationParams) -> Result<String, ChainError> {
///         Ok(prompt.to_uppercase())
///     }
/// }
///
/// let chain = LlmChain::new(Shout, PromptTemplate::new("say {word}")?);
/// assert_eq!(chain.prompt([("word", "hi")])?, "say hi");
/// # Ok::<(), ChainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LlmChain<L> {
    llm: L,
    template: PromptTemplate,
    params: GenerationParams,
}

impl<L: Llm> LlmChain<L> {
    /// A chain sending `template`, filled in, to `llm` with default [`GenerationParams`].
    pub fn new(llm: L, template: PromptTemplate) -> Self {
        Self {
            llm,
            template,
            params: GenerationParams::default(),
        }
    }

    /// Uses `params` for each generation.
    pub fn with_params(mut self, params: GenerationParams) -> Self {
        self.params = params;
        self
    }

    /// The model.
    pub fn llm(&self) -> &L {
        &self.llm
    }

    /// The template.
    pub fn template(&self) -> &PromptTemplate {
        &self.template
    }

    /// The generation parameters.
    pub fn params(&self) -> &GenerationParams {
        &self.params
    }

    /// The model, template and parameters, to rebuild the chain with one of them changed.
    pub fn into_parts(self) -> (L, PromptTemplate, GenerationParams) {
        (self.llm, self.template, self.params)
    }

    /// The prompt [`LlmChain::run`] would send for `values` (see [`PromptTemplate::format`]).
    pub fn prompt<I, K, V>(&self, values: I) -> Result<String, ChainError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.template.format(values)
    }

    /// Fills in the template with `values` and returns the model's generation, as is.
    pub async fn run<I, K, V>(&self, values: I) -> Result<String, ChainError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let prompt = self.prompt(values)?;
        self.llm.generate(&prompt, &self.params).await
    }

    /// Fills in the template with `values` and streams the model's generation (see
    /// [`Llm::stream`]); joined, the chunks are what [`LlmChain::run`] returns.
    pub async fn stream<I, K, V>(&self, values: I) -> Result<TokenStream, ChainError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let prompt = self.prompt(values)?;
        self.llm.stream(&prompt, &self.params).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records each prompt and parameters it is given and answers `reply`.
    #[derive(Debug)]
    struct FakeLlm {
        reply: &'static str,
        calls: Mutex<Vec<(String, GenerationParams)>>,
    }

    impl FakeLlm {
        fn new(reply: &'static str) -> Self {
            Self {
                reply,
                calls: Mutex::new(Vec::new()),
            }
        }

        fn calls(&self) -> Vec<(String, GenerationParams)> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Llm for FakeLlm {
        async fn generate(
            &self,
            prompt: &str,
            params: &GenerationParams,
        ) -> Result<String, ChainError> {
            self.calls
                .lock()
                .unwrap()
                .push((prompt.to_owned(), params.clone()));
            Ok(self.reply.to_owned())
        }
    }

    #[tokio::test]
    async fn run_sends_the_filled_in_template_with_the_params() {
        let llm = FakeLlm::new(" Bonjour");
        let params = GenerationParams::default().max_new_tokens(16).stop("\n");
        let chain = LlmChain::new(
            &llm,
            PromptTemplate::new("Translate into {language}: {text}\n{language}:").unwrap(),
        )
        .with_params(params.clone());
        let answer = chain
            .run([("language", "French"), ("text", "Hello")])
            .await
            .unwrap();
        assert_eq!(answer, " Bonjour");
        assert_eq!(
            llm.calls(),
            [("Translate into French: Hello\nFrench:".to_owned(), params)]
        );
    }

    #[tokio::test]
    async fn template_errors_stop_before_the_model() {
        let llm = FakeLlm::new("unused");
        let chain = LlmChain::new(&llm, PromptTemplate::new("{a} {b}").unwrap());
        let error = chain.run([("a", "1")]).await.unwrap_err();
        assert!(
            matches!(error, ChainError::VariableMismatch { ref missing, .. } if missing == &["b"])
        );
        assert!(llm.calls().is_empty());
    }

    #[tokio::test]
    async fn model_errors_pass_through() {
        struct Failing;
        impl Llm for Failing {
            async fn generate(&self, _: &str, _: &GenerationParams) -> Result<String, ChainError> {
                Err(ChainError::ModelReported {
                    message: "overloaded".to_owned(),
                    error_type: None,
                })
            }
        }
        let chain = LlmChain::new(Failing, PromptTemplate::new("x").unwrap());
        assert_eq!(chain.params(), &GenerationParams::default());
        assert_eq!(chain.template().text(), "x");
        let error = chain
            .run(std::iter::empty::<(&str, &str)>())
            .await
            .unwrap_err();
        assert!(
            matches!(error, ChainError::ModelReported { message, .. } if message == "overloaded")
        );
    }

    /// Streams `reply` in pieces of `piece` bytes.
    struct ChunkedLlm {
        reply: &'static str,
        piece: usize,
    }

    impl Llm for ChunkedLlm {
        async fn generate(&self, _: &str, _: &GenerationParams) -> Result<String, ChainError> {
            Ok(self.reply.to_owned())
        }

        async fn stream(&self, _: &str, _: &GenerationParams) -> Result<TokenStream, ChainError> {
            let chunks: Vec<Result<String, ChainError>> = self
                .reply
                .as_bytes()
                .chunks(self.piece)
                .map(|chunk| Ok(String::from_utf8_lossy(chunk).into_owned()))
                .collect();
            Ok(Box::pin(futures_util::stream::iter(chunks)))
        }
    }

    #[tokio::test]
    async fn stream_yields_the_models_chunks_joining_to_run() {
        use futures_util::StreamExt;
        let chain = LlmChain::new(
            ChunkedLlm {
                reply: " Bonjour le monde",
                piece: 4,
            },
            PromptTemplate::new("{q}").unwrap(),
        );
        let chunks: Vec<String> = chain
            .stream([("q", "?")])
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(chunks, [" Bon", "jour", " le ", "mond", "e"]);
        assert_eq!(chunks.concat(), chain.run([("q", "?")]).await.unwrap());
        let error = chain.stream([("x", "?")]).await.err().unwrap();
        assert!(matches!(error, ChainError::VariableMismatch { .. }));
    }

    #[test]
    fn run_future_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let llm = FakeLlm::new("x");
        let chain = LlmChain::new(&llm, PromptTemplate::new("{q}").unwrap());
        assert_send(chain.run([("q", "?")]));
        assert_send(chain.stream([("q", "?")]));
    }
}
