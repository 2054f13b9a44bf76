//! The business logic: prompts in TinyLlama's chat format, and retrieval question answering over
//! a library of documents (split into chunks, the best ones for the question stuffed into one
//! prompt, the answer citing their documents), both streamed token by token. Generic over the
//! model, so it is tested with a scripted one.

use futures_util::StreamExt;
use pluto::chain::{
    Bm25Retriever, ChainError, ChatLlm, Document, GenerationParams, Llm, RetrievalQaChain,
    StuffQaChain, TextSplitter, TokenStream,
};

/// How the chatbot behaves.
pub(crate) const SYSTEM_PROMPT: &str =
    "You are a friendly and concise assistant. Answer in one or two sentences.";

/// A document of the example library (`ingest` it, then ask `qa` about it).
#[cfg(test)]
pub(crate) const FACT_SHEET: &str = "Aurora Bakery is a small bakery at 12 Harbour Street in Tromsø, \
founded in 2019 by Ingrid Solberg. It opens at 7:00 on weekdays and at 9:00 on Saturdays, and it is \
closed on Sundays. Its best seller is the cardamom bun, which costs 45 NOK. Every loaf is baked with \
organic flour from a mill in Lofoten.";

/// Decoding for both functions: greedy, so the same question gets the same answer.
pub(crate) fn generation() -> GenerationParams {
    GenerationParams::default()
        .max_new_tokens(200)
        .repetition_penalty(1.1)
}

/// Streams the reply to one chat message: TinyLlama's chat format, the reply only (the echoed
/// prompt dropped, the stream ending at the model's `</s>`).
pub(crate) async fn chat<L: Llm + Sync>(llm: L, query: &str) -> Result<TokenStream, ChainError> {
    ChatLlm::new(llm)
        .with_system(SYSTEM_PROMPT)
        .stream(query, &generation())
        .await
}

/// Characters per chunk: a few chunks fit TinyLlama's 2048-token context with the question.
const CHUNK_SIZE: usize = 800;
/// Characters shared by neighbouring chunks, so a sentence cut in two is whole in one of them.
const CHUNK_OVERLAP: usize = 100;
/// Chunks put into the prompt.
const TOP_K: usize = 3;

/// Streams the answer to `question` from the chunks of `documents` most relevant to it, then a
/// last line citing the documents those chunks came from: `Sources: a.txt, b.txt`. With no
/// documents, says so without asking the model.
pub(crate) async fn answer_from_documents<L: Llm + Sync + Send + 'static>(
    llm: L,
    documents: Vec<Document>,
    question: &str,
) -> Result<TokenStream, ChainError> {
    if documents.is_empty() {
        let message = "The library is empty: store documents with the `ingest` function first.";
        return Ok(Box::pin(futures_util::stream::once(async move {
            Ok(message.to_owned())
        })));
    }
    let chunks = TextSplitter::new(CHUNK_SIZE, CHUNK_OVERLAP).split_documents(&documents);
    let qa = StuffQaChain::new(ChatLlm::new(llm)).with_params(generation());
    let chain = RetrievalQaChain::with_qa(qa, Bm25Retriever::new(chunks)).with_k(TOP_K);
    let (tokens, sources) = chain.stream(question).await?;
    let citation = format!("\n\nSources: {}", sources.join(", "));
    Ok(Box::pin(tokens.chain(futures_util::stream::once(
        async move { Ok(citation) },
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;
    use std::sync::Mutex;

    /// A model that records its prompt and streams like TGI does with `return_full_text`: the
    /// prompt, then the reply, three characters a chunk.
    struct Scripted {
        reply: &'static str,
        prompts: Mutex<Vec<String>>,
    }

    impl Llm for Scripted {
        async fn generate(
            &self,
            prompt: &str,
            params: &GenerationParams,
        ) -> Result<String, ChainError> {
            assert!(params.is_greedy(), "the example decodes greedily");
            self.prompts
                .lock()
                .map_err(|_| ChainError::Other("poisoned".into()))?
                .push(prompt.to_owned());
            Ok(format!("{prompt}{}", self.reply))
        }

        async fn stream(
            &self,
            prompt: &str,
            params: &GenerationParams,
        ) -> Result<TokenStream, ChainError> {
            let text: Vec<char> = self.generate(prompt, params).await?.chars().collect();
            let chunks: Vec<Result<String, ChainError>> = text
                .chunks(3)
                .map(|chunk| Ok(chunk.iter().collect()))
                .collect();
            Ok(Box::pin(futures_util::stream::iter(chunks)))
        }
    }

    /// The stream's chunks, joined.
    async fn joined(tokens: TokenStream) -> String {
        tokens
            .try_collect::<Vec<String>>()
            .await
            .expect("no error")
            .concat()
    }

    fn scripted(reply: &'static str) -> Scripted {
        Scripted {
            reply,
            prompts: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn chat_uses_the_tinyllama_format_and_returns_only_the_reply() {
        let llm = scripted("Paris is the capital of France.</s><|user|>\nAnd Spain?");
        let answer = joined(
            chat(&llm, "What is the capital of France?")
                .await
                .expect("an answer"),
        )
        .await;
        assert_eq!(answer, "Paris is the capital of France.");
        let prompts = llm.prompts.lock().expect("prompts");
        assert_eq!(
            prompts[0],
            format!(
                "<|system|>\n{SYSTEM_PROMPT}</s>\n<|user|>\nWhat is the capital of France?</s>\n<|assistant|>\n"
            )
        );
    }

    fn library() -> Vec<Document> {
        vec![
            Document::new(FACT_SHEET).with_metadata("source", "aurora-bakery.txt"),
            Document::new("Pluto is a dwarf planet in the Kuiper belt, with five known moons.")
                .with_metadata("source", "pluto.txt"),
        ]
    }

    #[tokio::test]
    async fn qa_answers_from_the_relevant_document_and_cites_it() {
        let llm = std::sync::Arc::new(scripted(" It is closed on Sundays."));
        let answer = joined(
            answer_from_documents(
                ArcLlm(llm.clone()),
                library(),
                "Is Aurora Bakery open on Sundays?",
            )
            .await
            .expect("an answer"),
        )
        .await;
        assert_eq!(
            answer,
            "It is closed on Sundays.\n\nSources: aurora-bakery.txt, pluto.txt"
        );
        let prompts = llm.prompts.lock().expect("prompts");
        assert!(prompts[0].contains(FACT_SHEET), "{}", prompts[0]);
        // The bakery's sheet ranks first: it shares the question's words.
        let bakery = prompts[0].find("[source: aurora-bakery.txt]");
        let pluto = prompts[0].find("[source: pluto.txt]");
        assert!(bakery < pluto, "{}", prompts[0]);
        assert!(
            prompts[0].contains("Question: Is Aurora Bakery open on Sundays?\nHelpful Answer:"),
            "{}",
            prompts[0]
        );
        assert!(prompts[0].starts_with("<|user|>\n"), "{}", prompts[0]);
    }

    #[tokio::test]
    async fn qa_over_an_empty_library_says_to_ingest_first() {
        let llm = std::sync::Arc::new(scripted("never asked"));
        let answer = joined(
            answer_from_documents(ArcLlm(llm.clone()), Vec::new(), "Anything?")
                .await
                .expect("an answer"),
        )
        .await;
        assert!(answer.contains("`ingest`"), "{answer}");
        assert!(llm.prompts.lock().expect("prompts").is_empty());
    }

    /// A shared scripted model, so the test can read its prompts after the chain consumed it.
    struct ArcLlm(std::sync::Arc<Scripted>);

    impl Llm for ArcLlm {
        async fn generate(
            &self,
            prompt: &str,
            params: &GenerationParams,
        ) -> Result<String, ChainError> {
            self.0.generate(prompt, params).await
        }

        async fn stream(
            &self,
            prompt: &str,
            params: &GenerationParams,
        ) -> Result<TokenStream, ChainError> {
            self.0.stream(prompt, params).await
        }
    }
}
