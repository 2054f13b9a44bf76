//! One conversational turn: the history so far plus the new message make the prompt; the reply
//! streams to the client, and once it has ended it is appended to the history, which keeps only
//! the most recent turns so prompts stay small.

use futures_util::StreamExt;
use pluto::TextStream;
use pluto::chain::{
    ChainError, ChatPrompt, GenerationParams, Llm, TokenStream, extract_assistant_reply_stream,
};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// How the chatbot behaves.
pub(crate) const SYSTEM_PROMPT: &str =
    "You are a friendly assistant. Use the conversation so far to answer.";

/// Turns kept per session (older ones are dropped).
pub(crate) const MAX_TURNS: usize = 8;

/// One exchange of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Turn {
    pub(crate) user: String,
    pub(crate) assistant: String,
}

/// The prompt for `message` after `turns`, in TinyLlama's chat format.
pub(crate) fn prompt(turns: &[Turn], message: &str) -> String {
    let mut prompt = ChatPrompt::new().system(SYSTEM_PROMPT);
    for turn in turns {
        prompt = prompt.user(&turn.user).assistant(&turn.assistant);
    }
    prompt.user(message).render()
}

/// Streams the reply to `message` given the previous `turns`: the assistant's words only.
pub(crate) async fn reply<L: Llm>(
    llm: L,
    turns: &[Turn],
    message: &str,
) -> Result<TokenStream, ChainError> {
    let prompt = prompt(turns, message);
    let params = GenerationParams::default()
        .max_new_tokens(200)
        .repetition_penalty(1.1);
    let tokens = llm.stream(&prompt, &params).await?;
    Ok(extract_assistant_reply_stream(tokens, &prompt))
}

/// The history with this exchange added, keeping the most recent [`MAX_TURNS`].
pub(crate) fn record(mut turns: Vec<Turn>, message: String, answer: String) -> Vec<Turn> {
    turns.push(Turn {
        user: message,
        assistant: answer,
    });
    if turns.len() > MAX_TURNS {
        turns.drain(..turns.len() - MAX_TURNS);
    }
    turns
}

/// `reply` as it comes, then, once it has ended, `save` of the whole reply. An error of the
/// model or of `save` ends the stream with that error (the client sees it); a reply cut short
/// (an error, or a client that went away) is not saved.
pub(crate) fn remember_when_done<F, Fut, E>(reply: TokenStream, save: F) -> TextStream
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<pluto::Error>,
{
    enum State<F> {
        Streaming {
            reply: TokenStream,
            answer: String,
            save: F,
        },
        Done,
    }
    let chunks = futures_util::stream::unfold(
        State::Streaming {
            reply,
            answer: String::new(),
            save,
        },
        |state| async move {
            let State::Streaming {
                mut reply,
                mut answer,
                save,
            } = state
            else {
                return None;
            };
            match reply.next().await {
                Some(Ok(chunk)) => {
                    answer.push_str(&chunk);
                    let next = State::Streaming {
                        reply,
                        answer,
                        save,
                    };
                    Some((Ok(chunk), next))
                }
                Some(Err(error)) => Some((Err(pluto::Error::from(error)), State::Done)),
                None => match save(answer).await {
                    Ok(()) => None,
                    Err(error) => Some((Err(error.into()), State::Done)),
                },
            }
        },
    );
    TextStream::new(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;
    use std::sync::{Arc, Mutex};

    /// Streams `reply N</s>` for the Nth prompt, two characters a chunk, after an echo of the
    /// prompt (as TGI with `return_full_text`).
    struct Scripted {
        prompts: Mutex<Vec<String>>,
    }

    impl Llm for Scripted {
        async fn generate(&self, prompt: &str, _: &GenerationParams) -> Result<String, ChainError> {
            let mut prompts = self
                .prompts
                .lock()
                .map_err(|_| ChainError::Other("poisoned".into()))?;
            prompts.push(prompt.to_owned());
            Ok(format!("{prompt}reply {}</s>", prompts.len()))
        }

        async fn stream(
            &self,
            prompt: &str,
            params: &GenerationParams,
        ) -> Result<TokenStream, ChainError> {
            let text: Vec<char> = self.generate(prompt, params).await?.chars().collect();
            let chunks: Vec<Result<String, ChainError>> = text
                .chunks(2)
                .map(|chunk| Ok(chunk.iter().collect()))
                .collect();
            Ok(Box::pin(futures_util::stream::iter(chunks)))
        }
    }

    fn scripted() -> Scripted {
        Scripted {
            prompts: Mutex::new(Vec::new()),
        }
    }

    /// One exchange as the `chat` function does it, with `saved` standing in for the KV store.
    async fn exchange(
        llm: &Scripted,
        turns: Vec<Turn>,
        message: &str,
        saved: &Arc<Mutex<Vec<Turn>>>,
    ) -> Result<String, pluto::Error> {
        let reply = reply(llm, &turns, message).await?;
        let message = message.to_owned();
        let store = saved.clone();
        let chunks: Vec<String> = remember_when_done(reply, move |answer| async move {
            *store.lock().map_err(|_| "poisoned")? = record(turns, message, answer);
            Ok::<(), pluto::Error>(())
        })
        .try_collect()
        .await?;
        assert!(chunks.len() > 1, "the reply streams: {chunks:?}");
        Ok(chunks.concat())
    }

    #[tokio::test]
    async fn history_goes_into_the_prompt_and_the_whole_reply_into_the_history() {
        let llm = scripted();
        let saved = Arc::new(Mutex::new(Vec::new()));
        let first = exchange(&llm, Vec::new(), "My name is Ada.", &saved)
            .await
            .expect("reply");
        assert_eq!(first, "reply 1");
        let turns = saved.lock().expect("saved").clone();
        assert_eq!(turns.len(), 1);
        let second = exchange(&llm, turns, "What is my name?", &saved)
            .await
            .expect("reply");
        assert_eq!(second, "reply 2");
        let prompts = llm.prompts.lock().expect("prompts");
        assert_eq!(
            prompts[1],
            format!(
                "<|system|>\n{SYSTEM_PROMPT}</s>\n<|user|>\nMy name is Ada.</s>\n<|assistant|>\nreply 1</s>\n\
                 <|user|>\nWhat is my name?</s>\n<|assistant|>\n"
            )
        );
        assert_eq!(
            saved.lock().expect("saved")[1],
            Turn {
                user: "What is my name?".into(),
                assistant: "reply 2".into()
            }
        );
    }

    #[tokio::test]
    async fn a_reply_cut_by_an_error_is_not_saved_and_a_failed_save_ends_the_stream_with_it() {
        let failing: TokenStream = Box::pin(futures_util::stream::iter([
            Ok("half a ".to_owned()),
            Err(ChainError::Other("the model stopped".into())),
        ]));
        let saved = Arc::new(Mutex::new(false));
        let flag = saved.clone();
        let result: Result<Vec<String>, pluto::Error> =
            remember_when_done(failing, move |_| async move {
                *flag.lock().map_err(|_| "poisoned")? = true;
                Ok::<(), pluto::Error>(())
            })
            .try_collect()
            .await;
        assert!(result.is_err());
        assert!(!*saved.lock().expect("flag"), "nothing saved");

        let whole: TokenStream = Box::pin(futures_util::stream::iter([Ok("fine".to_owned())]));
        let result: Result<Vec<String>, pluto::Error> =
            remember_when_done(whole, |_| async { Err::<(), _>("the table is gone") })
                .try_collect()
                .await;
        assert_eq!(
            result.map_err(|error| error.to_string()).unwrap_err(),
            "the table is gone"
        );
    }

    #[test]
    fn only_the_most_recent_turns_are_kept() {
        let mut turns = Vec::new();
        for index in 0..MAX_TURNS + 3 {
            turns = record(turns, format!("message {index}"), "ok".to_owned());
        }
        assert_eq!(turns.len(), MAX_TURNS);
        assert_eq!(turns[0].user, "message 3");
    }
}
