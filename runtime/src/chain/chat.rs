//! Chat formatting for Zephyr-style chat models (TinyLlama-Chat, Zephyr): turning a conversation
//! into `<|system|>` / `<|user|>` / `<|assistant|>` prompt text, reading the assistant's reply back
//! out of the generated text, and `ChatLlm`, which does both around any [`Llm`].

use super::error::ChainError;
use super::llm::{GenerationParams, Llm};
use serde::{Deserialize, Serialize};
use std::fmt;

/// End of a turn in the Zephyr format (the models' end-of-sequence token).
const END_OF_TURN: &str = "</s>";
const ASSISTANT_TAG: &str = "<|assistant|>";

/// Who says a message.
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
    /// The tag that opens this role's turns: `<|system|>`, `<|user|>` or `<|assistant|>`.
    pub fn tag(self) -> &'static str {
        match self {
            Role::System => "<|system|>",
            Role::User => "<|user|>",
            Role::Assistant => ASSISTANT_TAG,
        }
    }
}

/// One message of a conversation. Serializes as `{"role": "user", "content": "..."}`, so a chat
/// history can be stored as JSON (e.g. in a `KvStore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

impl<S: Into<String>> From<(Role, S)> for ChatMessage {
    fn from((role, content): (Role, S)) -> Self {
        Self::new(role, content)
    }
}

/// A conversation to render as a Zephyr-style chat prompt, ending with the assistant's turn
/// (the same text as the models' Hugging Face chat template with `add_generation_prompt`).
///
/// ```
/// use pluto::chain::ChatPrompt;
///
/// let prompt = ChatPrompt::new()
///     .system("You are a pirate.")
///     .user("Hi!")
///     .assistant("Arr!")
///     .user("Where is the treasure?");
/// assert_eq!(
///     prompt.render(),
///     "<|system|>\nYou are a pirate.</s>\n<|user|>\nHi!</s>\n<|assistant|>\nArr!</s>\n\
///      <|user|>\nWhere is the treasure?</s>\n<|assistant|>\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatPrompt {
    messages: Vec<ChatMessage>,
}

impl ChatPrompt {
    /// An empty conversation.
    pub fn new() -> Self {
        Self::default()
    }

    /// A conversation made of `messages`: [`ChatMessage`]s or `(Role, text)` pairs.
    pub fn from_messages<M: Into<ChatMessage>>(messages: impl IntoIterator<Item = M>) -> Self {
        Self {
            messages: messages.into_iter().map(Into::into).collect(),
        }
    }

    /// Adds a system message.
    pub fn system(self, content: impl Into<String>) -> Self {
        self.with(ChatMessage::system(content))
    }

    /// Adds a user message.
    pub fn user(self, content: impl Into<String>) -> Self {
        self.with(ChatMessage::user(content))
    }

    /// Adds an assistant message.
    pub fn assistant(self, content: impl Into<String>) -> Self {
        self.with(ChatMessage::assistant(content))
    }

    /// Adds a message.
    pub fn with(mut self, message: impl Into<ChatMessage>) -> Self {
        self.push(message);
        self
    }

    /// Adds a message in place.
    pub fn push(&mut self, message: impl Into<ChatMessage>) {
        self.messages.push(message.into());
    }

    /// The messages, in order.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// The prompt text: each message as `<|role|>\n{content}</s>\n`, then `<|assistant|>\n` for the
    /// model to continue.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for message in &self.messages {
            text.push_str(message.role.tag());
            text.push('\n');
            text.push_str(&message.content);
            text.push_str(END_OF_TURN);
            text.push('\n');
        }
        text.push_str(ASSISTANT_TAG);
        text.push('\n');
        text
    }
}

impl fmt::Display for ChatPrompt {
    /// Writes [`ChatPrompt::render`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl<M: Into<ChatMessage>> FromIterator<M> for ChatPrompt {
    fn from_iter<I: IntoIterator<Item = M>>(messages: I) -> Self {
        Self::from_messages(messages)
    }
}

impl<M: Into<ChatMessage>> Extend<M> for ChatPrompt {
    fn extend<I: IntoIterator<Item = M>>(&mut self, messages: I) {
        self.messages.extend(messages.into_iter().map(Into::into));
    }
}

/// The assistant's reply in text generated by a Zephyr-style chat model.
///
/// Takes the text after the last `<|assistant|>` tag (all of it when there is none, as when the
/// container returned only the continuation), cuts it at the first `</s>`, `<|user|>` or
/// `<|system|>` (the model ending its turn or going on to invent the user's next one), and trims
/// whitespace.
///
/// ```
/// use pluto::chain::extract_assistant_reply;
///
/// let generated = "<|user|>\nHi</s>\n<|assistant|>\nHello! How can I help?</s>\n<|user|>\nI";
/// assert_eq!(extract_assistant_reply(generated), "Hello! How can I help?");
/// assert_eq!(extract_assistant_reply(" Just the answer.\n"), "Just the answer.");
/// ```
pub fn extract_assistant_reply(generated: &str) -> String {
    let reply = match generated.rfind(ASSISTANT_TAG) {
        Some(start) => &generated[start + ASSISTANT_TAG.len()..],
        None => generated,
    };
    let end = [END_OF_TURN, Role::User.tag(), Role::System.tag()]
        .iter()
        .filter_map(|marker| reply.find(marker))
        .min()
        .unwrap_or(reply.len());
    reply[..end].trim().to_owned()
}

/// An [`Llm`] that talks to a Zephyr-style chat model: each prompt is sent as a user message
/// (after an optional system message) in the chat format, and the assistant's reply is
/// extracted from the answer. Chains built for plain prompts then work with chat models.
///
/// ```
/// use pluto::chain::{ChatLlm, ChainError, GenerationParams, Llm};
///
/// struct Echo;
/// impl Llm for Echo {
///     async fn generate(&self, prompt: &str, _: &GenerationParams) -> Result<String, ChainError> {
///         Ok(format!("{prompt}Hello!</s>"))
///     }
/// }
///
/// # tokio_test(async {
/// let chat = ChatLlm::new(Echo).with_system("Be brief.");
/// assert_eq!(chat.prompt("Hi"), "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
/// assert_eq!(chat.generate("Hi", &GenerationParams::default()).await?, "Hello!");
/// # Ok::<(), ChainError>(())
/// # });
/// # fn tokio_test<F: std::future::Future>(future: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(future)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChatLlm<L> {
    llm: L,
    system: Option<String>,
}

impl<L> ChatLlm<L> {
    /// Wraps `llm`, with no system message.
    pub fn new(llm: L) -> Self {
        Self { llm, system: None }
    }

    /// Sends `system` as the system message before each prompt.
    pub fn with_system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    /// The wrapped model.
    pub fn inner(&self) -> &L {
        &self.llm
    }

    /// The chat prompt sent for `prompt`.
    pub fn prompt(&self, prompt: &str) -> String {
        let mut chat = ChatPrompt::new();
        if let Some(system) = &self.system {
            chat.push(ChatMessage::system(system.as_str()));
        }
        chat.user(prompt).render()
    }
}

impl<L: Llm + Sync> Llm for ChatLlm<L> {
    async fn generate(
        &self,
        prompt: &str,
        params: &GenerationParams,
    ) -> Result<String, ChainError> {
        let generated = self.llm.generate(&self.prompt(prompt), params).await?;
        Ok(extract_assistant_reply(&generated))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_system_and_user() {
        let prompt = ChatPrompt::new()
            .system("You are helpful.")
            .user("What is 2+2?");
        assert_eq!(
            prompt.render(),
            "<|system|>\nYou are helpful.</s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n"
        );
        assert_eq!(prompt.to_string(), prompt.render());
        assert_eq!(ChatPrompt::new().render(), "<|assistant|>\n");
    }

    #[test]
    fn renders_history_from_pairs() {
        let history = vec![
            (Role::System, "Be terse."),
            (Role::User, "Hi"),
            (Role::Assistant, "Hello."),
            (Role::User, "Name a color."),
        ];
        let prompt: ChatPrompt = history.into_iter().collect();
        assert_eq!(prompt.messages().len(), 4);
        assert_eq!(prompt.messages()[2], ChatMessage::assistant("Hello."));
        assert_eq!(
            prompt.render(),
            "<|system|>\nBe terse.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nName a color.</s>\n<|assistant|>\n"
        );
        let mut extended = ChatPrompt::from_messages([ChatMessage::user("a")]);
        extended.extend([(Role::Assistant, "b".to_owned())]);
        assert_eq!(extended, ChatPrompt::new().user("a").assistant("b"));
    }

    #[test]
    fn history_round_trips_through_json() {
        let prompt = ChatPrompt::new().system("s").user("u").assistant("a");
        let json = serde_json::to_value(&prompt).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": "a"}
            ])
        );
        assert_eq!(serde_json::from_value::<ChatPrompt>(json).unwrap(), prompt);
    }

    #[test]
    fn extracts_reply_from_echoed_prompt() {
        let prompt = ChatPrompt::new()
            .system("You are a friendly chatbot.")
            .user("Hi")
            .assistant("Hello! How can I help you today?")
            .user("What is the capital of France?")
            .render();
        let generated = format!("{prompt}The capital of France is Paris.");
        assert_eq!(
            extract_assistant_reply(&generated),
            "The capital of France is Paris."
        );
    }

    #[test]
    fn extracts_reply_cut_at_end_of_turn_or_next_tag() {
        assert_eq!(
            extract_assistant_reply("<|assistant|>\n Paris. </s>"),
            "Paris."
        );
        assert_eq!(
            extract_assistant_reply("<|assistant|>\nParis.\n<|user|>\nAnd Spain?</s>\n"),
            "Paris."
        );
        assert_eq!(
            extract_assistant_reply("<|assistant|>\nParis.<|system|>\nignore</s>"),
            "Paris."
        );
        assert_eq!(extract_assistant_reply("<|assistant|>\n"), "");
    }

    #[test]
    fn without_tag_the_whole_text_is_the_reply() {
        assert_eq!(
            extract_assistant_reply("  Paris is the capital.\n"),
            "Paris is the capital."
        );
        assert_eq!(extract_assistant_reply("Paris.</s>"), "Paris.");
        assert_eq!(
            extract_assistant_reply("Paris.\n<|user|>\nThanks"),
            "Paris."
        );
    }

    /// Answers the prompt it is given followed by `reply`, as TGI does with `return_full_text`.
    #[derive(Debug, Default)]
    struct EchoingLlm {
        reply: &'static str,
        prompts: std::sync::Mutex<Vec<String>>,
    }

    impl Llm for EchoingLlm {
        async fn generate(&self, prompt: &str, _: &GenerationParams) -> Result<String, ChainError> {
            self.prompts.lock().unwrap().push(prompt.to_owned());
            Ok(format!("{prompt}{}", self.reply))
        }
    }

    #[tokio::test]
    async fn chat_llm_wraps_prompts_and_extracts_replies() {
        let model = EchoingLlm {
            reply: " Paris.</s>\n<|user|>\nThanks!",
            ..EchoingLlm::default()
        };
        let chat = ChatLlm::new(&model).with_system("Answer in one word.");
        let reply = chat
            .generate("Capital of France?", &GenerationParams::default())
            .await
            .unwrap();
        assert_eq!(reply, "Paris.");
        assert_eq!(
            *model.prompts.lock().unwrap(),
            [
                "<|system|>\nAnswer in one word.</s>\n<|user|>\nCapital of France?</s>\n<|assistant|>\n"
            ]
        );
        let bare = ChatLlm::new(&model);
        assert_eq!(bare.prompt("Hi"), "<|user|>\nHi</s>\n<|assistant|>\n");
    }
}
