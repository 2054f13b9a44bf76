//! LangChain-style building blocks for calling LLMs from a Pluto function: prompt templates,
//! the [`Llm`] trait with a SageMaker implementation speaking the Hugging Face TGI container
//! format, chat formatting for Zephyr-style models, and the chains: [`LlmChain`], the "stuff"
//! question-answering [`StuffQaChain`], and [`RetrievalQaChain`], which answers from the chunks of
//! many documents ([`TextSplitter`]) a lexical retriever ([`Bm25Retriever`]) picks, citing their
//! sources.
//!
//! ```no_run
//! use pluto::chain::{GenerationParams, LlmChain, PromptTemplate, SageMakerLlm};
//! # async fn example(endpoint: pluto::SageMaker) -> Result<(), pluto::chain::ChainError> {
//! let llm = SageMakerLlm::new(endpoint).with_custom_attributes("accept_eula=true");
//! let template = PromptTemplate::new("Translate into French: {text}\nFrench:")?;
//! let chain = LlmChain::new(llm, template).with_params(GenerationParams::default().max_new_tokens(64));
//! let french = chain.run([("text", "Good morning")]).await?;
//! # let _ = french;
//! # Ok(())
//! # }
//! ```
//!
//! Every model and chain also streams: [`Llm::stream`], [`LlmChain::stream`],
//! [`StuffQaChain::stream`] and [`ChatLlm`]'s stream give a [`TokenStream`] whose chunks, joined,
//! are the buffered answer, whatever the chunking; a `pluto::TextStream` handler returns one
//! (`TextStream::from(tokens)`) to send it to the client as it is generated.
//!
//! Everything but [`SageMakerLlm`] is plain Rust with no AWS call, so chains can be tested with a
//! fake [`Llm`]. See `docs/chains.md` for a guide.

mod chat;
mod error;
mod llm;
mod llm_chain;
mod prompt;
mod qa;
mod retrieval;
mod stream;
mod tgi;

pub use chat::{
    ChatLlm, ChatMessage, ChatPrompt, Role, extract_assistant_reply, extract_assistant_reply_stream,
};
pub use error::ChainError;
pub use llm::{GenerationParams, Llm, SageMakerLlm};
pub use llm_chain::LlmChain;
pub use pluto_model::llm::DEFAULT_MAX_NEW_TOKENS;
pub use prompt::PromptTemplate;
pub use qa::{Document, STUFF_QA_PROMPT, StuffQaChain};
pub use retrieval::{
    Bm25Retriever, CHUNK_KEY, RetrievalAnswer, RetrievalQaChain, SOURCE_KEY, TextSplitter,
};
pub use stream::TokenStream;
pub use tgi::{
    TgiError, TgiGeneration, TgiParameters, TgiRequest, TgiStreamDecoder, parse_tgi_response,
};
