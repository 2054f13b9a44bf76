//! One conversational turn: the history so far plus the new message make the prompt; the reply
//! is appended to the history, which keeps only the most recent turns so prompts stay small.

use pluto::chain::{ChainError, ChatPrompt, GenerationParams, Llm, extract_assistant_reply};
use serde::{Deserialize, Serialize};

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

/// What `chat` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub(crate) answer: String,
    /// Turns in the session, this one included.
    pub(crate) turns: usize,
}

/// Answers `message` given the previous `turns`; returns the reply and the updated history.
pub(crate) async fn respond<L: Llm>(
    llm: &L,
    mut turns: Vec<Turn>,
    message: &str,
) -> Result<(Reply, Vec<Turn>), ChainError> {
    let mut prompt = ChatPrompt::new().system(SYSTEM_PROMPT);
    for turn in &turns {
        prompt = prompt.user(&turn.user).assistant(&turn.assistant);
    }
    let prompt = prompt.user(message).render();
    let params = GenerationParams::default()
        .max_new_tokens(200)
        .repetition_penalty(1.1);
    let answer = extract_assistant_reply(&llm.generate(&prompt, &params).await?);
    turns.push(Turn {
        user: message.to_owned(),
        assistant: answer.clone(),
    });
    if turns.len() > MAX_TURNS {
        turns.drain(..turns.len() - MAX_TURNS);
    }
    Ok((
        Reply {
            answer,
            turns: turns.len(),
        },
        turns,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

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
            Ok(format!("reply {}</s>", prompts.len()))
        }
    }

    #[tokio::test]
    async fn history_goes_into_the_prompt_and_the_reply_into_the_history() {
        let llm = Scripted {
            prompts: Mutex::new(Vec::new()),
        };
        let (first, turns) = respond(&llm, Vec::new(), "My name is Ada.")
            .await
            .expect("reply");
        assert_eq!(
            first,
            Reply {
                answer: "reply 1".into(),
                turns: 1
            }
        );
        let (second, turns) = respond(&llm, turns, "What is my name?")
            .await
            .expect("reply");
        assert_eq!(second.turns, 2);
        let prompts = llm.prompts.lock().expect("prompts");
        assert_eq!(
            prompts[1],
            format!(
                "<|system|>\n{SYSTEM_PROMPT}</s>\n<|user|>\nMy name is Ada.</s>\n<|assistant|>\nreply 1</s>\n\
                 <|user|>\nWhat is my name?</s>\n<|assistant|>\n"
            )
        );
        assert_eq!(
            turns[1],
            Turn {
                user: "What is my name?".into(),
                assistant: "reply 2".into()
            }
        );
    }

    #[tokio::test]
    async fn only_the_most_recent_turns_are_kept() {
        let llm = Scripted {
            prompts: Mutex::new(Vec::new()),
        };
        let mut turns = Vec::new();
        for index in 0..MAX_TURNS + 3 {
            turns = respond(&llm, turns, &format!("message {index}"))
                .await
                .expect("reply")
                .1;
        }
        assert_eq!(turns.len(), MAX_TURNS);
        assert_eq!(turns[0].user, "message 3");
    }
}
