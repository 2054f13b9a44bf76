//! Question answering over documents: `Document`, and `StuffQaChain`, which "stuffs" all the
//! documents into one prompt (LangChain's `load_qa_chain(chain_type="stuff")`).

use super::error::ChainError;
use super::llm::{GenerationParams, Llm};
use super::llm_chain::LlmChain;
use super::prompt::PromptTemplate;
use super::stream::{self, TokenStream, TrimFilter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// LangChain's default prompt of the stuff question-answering chain. Its variables are
/// `context` (the documents) and `question`.
pub const STUFF_QA_PROMPT: &str = "Use the following pieces of context to answer the question at the end. \
If you don't know the answer, just say that you don't know, don't try to make up an answer.\n\n\
{context}\n\nQuestion: {question}\nHelpful Answer:";

/// What separates documents in the `context`.
const DOCUMENT_SEPARATOR: &str = "\n\n";

/// A piece of text with metadata (its source, page, ...), as LangChain's `Document`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The text.
    pub page_content: String,
    /// Where it comes from and anything else; not sent to the model by [`StuffQaChain`].
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl Document {
    /// A document with no metadata.
    pub fn new(page_content: impl Into<String>) -> Self {
        Self {
            page_content: page_content.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// Answers a question from documents by putting all of them into one prompt.
///
/// The documents' `page_content`s, joined with blank lines, fill the template's `{context}`;
/// the question fills `{question}`. The default template is [`STUFF_QA_PROMPT`].
///
/// ```
/// use pluto::chain::{ChainError, Document, GenerationParams, Llm, StuffQaChain};
///
/// struct Fixed;
/// impl Llm for Fixed {
///     async fn generate(&self, _: &str, _: &GenerationParams) -> Result<String, ChainError> {
///         Ok(" Paris.".to_owned())
///     }
/// }
///
/// let qa = StuffQaChain::new(Fixed);
/// let docs = [Document::new("Paris is the capital of France.")];
/// assert!(qa.prompt(&docs, "What is the capital of France?")?.contains("Paris is the capital"));
/// # Ok::<(), ChainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StuffQaChain<L> {
    chain: LlmChain<L>,
}

impl<L: Llm> StuffQaChain<L> {
    /// A chain asking `llm` with [`STUFF_QA_PROMPT`] and default [`GenerationParams`].
    pub fn new(llm: L) -> Self {
        let template =
            PromptTemplate::new(STUFF_QA_PROMPT).expect("STUFF_QA_PROMPT is a valid template");
        Self {
            chain: LlmChain::new(llm, template),
        }
    }

    /// Uses `template` instead of the default prompt. It must have exactly the variables
    /// `context` and `question`, in any order; otherwise this fails, naming the variables found.
    pub fn with_template(self, template: PromptTemplate) -> Result<Self, ChainError> {
        let mut found = template.input_variables().to_vec();
        found.sort();
        if found != ["context", "question"] {
            return Err(ChainError::TemplateVariables {
                chain: "StuffQaChain",
                expected: vec!["context".to_owned(), "question".to_owned()],
                found: template.input_variables().to_vec(),
            });
        }
        let (llm, _, params) = self.chain.into_parts();
        Ok(Self {
            chain: LlmChain::new(llm, template).with_params(params),
        })
    }

    /// Uses `params` for each generation.
    pub fn with_params(self, params: GenerationParams) -> Self {
        Self {
            chain: self.chain.with_params(params),
        }
    }

    /// The model.
    pub fn llm(&self) -> &L {
        self.chain.llm()
    }

    /// The template.
    pub fn template(&self) -> &PromptTemplate {
        self.chain.template()
    }

    /// The generation parameters.
    pub fn params(&self) -> &GenerationParams {
        self.chain.params()
    }

    /// The prompt [`StuffQaChain::run`] sends for `question` over `documents`.
    pub fn prompt(&self, documents: &[Document], question: &str) -> Result<String, ChainError> {
        let context = stuff(documents);
        self.chain
            .prompt([("context", context.as_str()), ("question", question)])
    }

    /// Asks the model `question` over `documents` and returns its answer, trimmed.
    pub async fn run(&self, documents: &[Document], question: &str) -> Result<String, ChainError> {
        let context = stuff(documents);
        let answer = self
            .chain
            .run([("context", context.as_str()), ("question", question)])
            .await?;
        Ok(answer.trim().to_owned())
    }

    /// Asks the model `question` over `documents` and streams its answer: joined, the chunks
    /// are [`StuffQaChain::run`]'s trimmed answer (leading whitespace is dropped, trailing
    /// whitespace is held until more text comes and dropped at the end).
    pub async fn stream(
        &self,
        documents: &[Document],
        question: &str,
    ) -> Result<TokenStream, ChainError> {
        let context = stuff(documents);
        let tokens = self
            .chain
            .stream([("context", context.as_str()), ("question", question)])
            .await?;
        Ok(stream::filter(tokens, TrimFilter::new()))
    }
}

/// All documents' text in one context.
fn stuff(documents: &[Document]) -> String {
    documents
        .iter()
        .map(|document| document.page_content.as_str())
        .collect::<Vec<_>>()
        .join(DOCUMENT_SEPARATOR)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the prompts it is given and answers `reply`.
    #[derive(Debug, Default)]
    struct FakeLlm {
        reply: &'static str,
        prompts: Mutex<Vec<String>>,
    }

    impl Llm for FakeLlm {
        async fn generate(&self, prompt: &str, _: &GenerationParams) -> Result<String, ChainError> {
            self.prompts.lock().unwrap().push(prompt.to_owned());
            Ok(self.reply.to_owned())
        }
    }

    fn documents() -> Vec<Document> {
        vec![
            Document::new("Pluto was discovered in 1930 by Clyde Tombaugh.")
                .with_metadata("source", "wiki/pluto"),
            Document::new("Pluto was reclassified as a dwarf planet in 2006."),
        ]
    }

    #[test]
    fn default_prompt_is_langchains() {
        let qa = StuffQaChain::new(FakeLlm::default());
        assert_eq!(qa.template().input_variables(), ["context", "question"]);
        assert_eq!(
            qa.prompt(&documents(), "When was Pluto discovered?")
                .unwrap(),
            "Use the following pieces of context to answer the question at the end. If you don't know \
             the answer, just say that you don't know, don't try to make up an answer.\n\n\
             Pluto was discovered in 1930 by Clyde Tombaugh.\n\n\
             Pluto was reclassified as a dwarf planet in 2006.\n\n\
             Question: When was Pluto discovered?\nHelpful Answer:"
        );
    }

    #[test]
    fn braces_in_documents_and_questions_are_text() {
        let qa = StuffQaChain::new(FakeLlm::default())
            .with_template(PromptTemplate::new("{context}|{question}").unwrap())
            .unwrap();
        assert_eq!(
            qa.prompt(&[Document::new("{question}")], "{context}?")
                .unwrap(),
            "{question}|{context}?"
        );
        assert_eq!(qa.prompt(&[], "q").unwrap(), "|q");
    }

    #[tokio::test]
    async fn run_sends_the_stuffed_prompt_and_trims_the_answer() {
        let llm = FakeLlm {
            reply: " In 1930.\n",
            ..FakeLlm::default()
        };
        let template =
            PromptTemplate::new("Question: {question}\nContext:\n{context}\nAnswer:").unwrap();
        let qa = StuffQaChain::new(&llm)
            .with_template(template)
            .unwrap()
            .with_params(GenerationParams::default().max_new_tokens(32));
        assert_eq!(qa.params().max_new_tokens, 32);
        let answer = qa.run(&documents(), "When?").await.unwrap();
        assert_eq!(answer, "In 1930.");
        assert_eq!(
            *llm.prompts.lock().unwrap(),
            [
                "Question: When?\nContext:\nPluto was discovered in 1930 by Clyde Tombaugh.\n\n\
              Pluto was reclassified as a dwarf planet in 2006.\nAnswer:"
            ]
        );
    }

    /// Streams `reply` cut at the given byte offsets.
    struct SplitLlm {
        reply: &'static str,
        cuts: Vec<usize>,
    }

    impl Llm for SplitLlm {
        async fn generate(&self, _: &str, _: &GenerationParams) -> Result<String, ChainError> {
            Ok(self.reply.to_owned())
        }

        async fn stream(
            &self,
            _: &str,
            _: &GenerationParams,
        ) -> Result<crate::chain::TokenStream, ChainError> {
            let mut bounds = vec![0];
            bounds.extend(&self.cuts);
            bounds.push(self.reply.len());
            let chunks: Vec<Result<String, ChainError>> = bounds
                .windows(2)
                .map(|pair| Ok(self.reply[pair[0]..pair[1]].to_owned()))
                .collect();
            Ok(Box::pin(futures_util::stream::iter(chunks)))
        }
    }

    #[tokio::test]
    async fn stream_joins_to_the_trimmed_answer_for_any_chunking() {
        use futures_util::StreamExt;
        let reply = " \n In 1930, by Clyde. \n\n";
        for first in 0..=reply.len() {
            for second in first..=reply.len() {
                let qa = StuffQaChain::new(SplitLlm {
                    reply,
                    cuts: vec![first, second],
                });
                let chunks: Vec<String> = qa
                    .stream(&documents(), "When?")
                    .await
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
                    .await;
                assert!(chunks.iter().all(|chunk| !chunk.is_empty()), "{chunks:?}");
                assert_eq!(
                    chunks.concat(),
                    qa.run(&documents(), "When?").await.unwrap(),
                    "cut at {first}, {second}"
                );
            }
        }
    }

    #[test]
    fn custom_template_must_have_exactly_context_and_question() {
        for text in [
            "{context}",
            "{query} {context}",
            "{context} {question} {extra}",
            "no variables",
        ] {
            let template = PromptTemplate::new(text).unwrap();
            let error = StuffQaChain::new(FakeLlm::default())
                .with_template(template)
                .unwrap_err();
            assert!(
                matches!(error, ChainError::TemplateVariables { .. }),
                "{text}: {error:?}"
            );
        }
        let error = StuffQaChain::new(FakeLlm::default())
            .with_template(PromptTemplate::new("{query} {context}").unwrap())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "StuffQaChain needs a template with exactly the variables `context`, `question`; this one has \
             `query`, `context`"
        );
        // Repeating a variable is fine.
        let template = PromptTemplate::new("{question}\n{context}\n{question}").unwrap();
        assert!(
            StuffQaChain::new(FakeLlm::default())
                .with_template(template)
                .is_ok()
        );
    }

    #[test]
    fn documents_are_langchain_json() {
        let document: Document =
            serde_json::from_str(r#"{"page_content": "text", "metadata": {"source": "a.txt"}}"#)
                .unwrap();
        assert_eq!(
            document,
            Document::new("text").with_metadata("source", "a.txt")
        );
        let bare: Document = serde_json::from_str(r#"{"page_content": "x"}"#).unwrap();
        assert!(bare.metadata.is_empty());
    }
}
