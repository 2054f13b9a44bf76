//! The business logic: prompts in TinyLlama's chat format, and "stuff" question answering over
//! the bakery's fact sheet, both streamed token by token. Generic over the model, so it is tested
//! with a scripted one.

use pluto::chain::{
    ChainError, ChatLlm, Document, GenerationParams, Llm, StuffQaChain, TokenStream,
};

/// How the chatbot behaves.
pub(crate) const SYSTEM_PROMPT: &str =
    "You are a friendly and concise assistant. Answer in one or two sentences.";

/// The document `qa` answers questions about.
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

/// Streams the answer to a question about [`FACT_SHEET`], with the stuff chain.
pub(crate) async fn answer_from_document<L: Llm + Sync>(
    llm: L,
    question: &str,
) -> Result<TokenStream, ChainError> {
    let documents = [Document::new(FACT_SHEET).with_metadata("source", "aurora-bakery.txt")];
    let chain = StuffQaChain::new(ChatLlm::new(llm)).with_params(generation());
    chain.stream(&documents, question).await
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

    #[tokio::test]
    async fn qa_puts_the_fact_sheet_and_the_question_in_one_prompt() {
        let llm = scripted(" It is closed on Sundays.");
        let answer = joined(
            answer_from_document(&llm, "Is Aurora Bakery open on Sundays?")
                .await
                .expect("an answer"),
        )
        .await;
        assert_eq!(answer, "It is closed on Sundays.");
        let prompts = llm.prompts.lock().expect("prompts");
        assert!(prompts[0].contains(FACT_SHEET), "{}", prompts[0]);
        assert!(
            prompts[0].contains("Question: Is Aurora Bakery open on Sundays?\nHelpful Answer:"),
            "{}",
            prompts[0]
        );
        assert!(prompts[0].starts_with("<|user|>\n"), "{}", prompts[0]);
    }
}
