//! Chat formats: the apps prompt for TinyLlama-Chat (the Zephyr format, `<|user|>\n...</s>\n`,
//! rendered by `pluto::chain::ChatPrompt`) or send plain text, while the local stand-in model,
//! SmolLM2-Instruct, was trained on ChatML (`<|im_start|>user\n...<|im_end|>\n`). A prompt is
//! re-rendered in the local model's own format so that the small model answers sensibly.
//!
//! Unlike SmolLM2's own chat template, no default system turn ("You are a helpful AI assistant
//! named SmolLM, ...") is added: the 135M model answers simple questions better without it (with
//! it, it answers "What is the capital of France?" with French gibberish).

use pluto_model::llm::{END_OF_TURN, Role, render_zephyr};

const CHATML_START: &str = "<|im_start|>";
const CHATML_END: &str = "<|im_end|>";

/// One turn; `open` when it has no end-of-turn marker (the last turn, for the model to go on).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Turn<'a> {
    role: Role,
    content: &'a str,
    open: bool,
}

/// The chat format of a model, which prompts are rendered in before generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChatFormat {
    /// ChatML, `<|im_start|>role\n...<|im_end|>\n` (SmolLM2-Instruct, Qwen, ...). Zephyr-format
    /// prompts are translated turn by turn, plain text becomes a single user turn, and prompts
    /// already in ChatML pass unchanged.
    ChatMl,
    /// Zephyr, `<|role|>\n...</s>\n` (TinyLlama-Chat, Zephyr). Prompts in that format (or in
    /// ChatML) pass unchanged, plain text becomes a single user turn.
    Zephyr,
    /// No known chat format: prompts pass unchanged.
    Raw,
}

impl ChatFormat {
    /// The format a model's Jinja chat template (GGUF `tokenizer.chat_template`) renders: ChatML
    /// when it uses `<|im_start|>`, Zephyr when it uses `<|user|>` and `<|assistant|>`, else raw.
    pub fn from_template(template: Option<&str>) -> Self {
        let Some(template) = template else {
            return ChatFormat::Raw;
        };
        if template.contains(CHATML_START) {
            ChatFormat::ChatMl
        } else if template.contains(Role::User.tag()) && template.contains(Role::Assistant.tag()) {
            ChatFormat::Zephyr
        } else {
            ChatFormat::Raw
        }
    }

    /// `prompt` rendered in this format, ending with the opening of the assistant's turn.
    pub fn render(&self, prompt: &str) -> String {
        match self {
            ChatFormat::ChatMl => {
                if prompt.contains(CHATML_START) {
                    return prompt.to_owned();
                }
                let turns = parse_zephyr(prompt).unwrap_or_else(|| {
                    vec![Turn {
                        role: Role::User,
                        content: prompt,
                        open: false,
                    }]
                });
                render_chatml(&turns)
            }
            ChatFormat::Zephyr => {
                if parse_zephyr(prompt).is_some() || prompt.contains(CHATML_START) {
                    prompt.to_owned()
                } else {
                    render_zephyr([(Role::User, prompt)])
                }
            }
            ChatFormat::Raw => prompt.to_owned(),
        }
    }
}

/// `prompt` in the chat format of the default local model, SmolLM2-Instruct (ChatML).
///
/// A Zephyr-format prompt (what `pluto::chain::ChatPrompt` renders for TinyLlama-Chat) is
/// translated turn by turn; plain text becomes a single user turn. The result ends with the
/// opening of the assistant's turn (or with the unfinished assistant turn the prompt ends with).
///
/// ```
/// use pluto_local_model::to_local_chat_prompt;
///
/// assert_eq!(
///     to_local_chat_prompt("<|system|>\nBe brief.</s>\n<|user|>\nHi!</s>\n<|assistant|>\n"),
///     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n\
///      <|im_start|>assistant\n"
/// );
/// ```
pub fn to_local_chat_prompt(prompt: &str) -> String {
    ChatFormat::ChatMl.render(prompt)
}

/// The turns of a Zephyr-format prompt, or `None` when the prompt does not start with a Zephyr
/// tag (after whitespace and an optional `<s>`).
///
/// Lenient about what the runtime never renders: a turn also ends at the next tag when its
/// `</s>` is missing, and text after a `</s>` that is not a tag is dropped.
fn parse_zephyr(prompt: &str) -> Option<Vec<Turn<'_>>> {
    let mut rest = prompt.trim_start();
    rest = rest.strip_prefix("<s>").unwrap_or(rest).trim_start();
    let mut turns = Vec::new();
    loop {
        let Some(role) = Role::ALL
            .into_iter()
            .find(|role| rest.starts_with(role.tag()))
        else {
            return if turns.is_empty() { None } else { Some(turns) };
        };
        rest = &rest[role.tag().len()..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
        let end_of_turn = rest.find(END_OF_TURN);
        let next_tag = Role::ALL
            .into_iter()
            .filter_map(|role| rest.find(role.tag()))
            .min();
        match (end_of_turn, next_tag) {
            (Some(end), next) if next.is_none_or(|next| end < next) => {
                turns.push(Turn {
                    role,
                    content: &rest[..end],
                    open: false,
                });
                rest = &rest[end + END_OF_TURN.len()..];
                // Anything up to the next tag (normally the "\n" after `</s>`) is dropped.
                let skip = Role::ALL
                    .into_iter()
                    .filter_map(|role| rest.find(role.tag()))
                    .min()
                    .unwrap_or(rest.len());
                rest = &rest[skip..];
            }
            (_, Some(next)) => {
                turns.push(Turn {
                    role,
                    content: rest[..next].trim_end(),
                    open: false,
                });
                rest = &rest[next..];
            }
            (_, None) => {
                turns.push(Turn {
                    role,
                    content: rest,
                    open: true,
                });
                return Some(turns);
            }
        }
    }
}

/// `turns` in ChatML, ending with an open assistant turn.
fn render_chatml(turns: &[Turn<'_>]) -> String {
    let mut text = String::new();
    let mut push_turn = |role: Role, content: &str| {
        text.push_str(CHATML_START);
        text.push_str(role.as_str());
        text.push('\n');
        text.push_str(content);
        text.push_str(CHATML_END);
        text.push('\n');
    };
    let (last_open_assistant, complete) = match turns.split_last() {
        Some((last, before)) if last.open && last.role == Role::Assistant => {
            (Some(last.content), before)
        }
        _ => (None, turns),
    };
    for turn in complete {
        // An open user or system turn (no `</s>` at the very end) counts as finished.
        push_turn(turn.role, turn.content);
    }
    text.push_str(CHATML_START);
    text.push_str(Role::Assistant.as_str());
    text.push('\n');
    if let Some(prefill) = last_open_assistant {
        text.push_str(prefill);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_becomes_one_user_turn() {
        assert_eq!(
            to_local_chat_prompt("What is the capital of France?"),
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn zephyr_user_turn_is_translated() {
        assert_eq!(
            to_local_chat_prompt("<|user|>\nWhat is the capital of France?</s>\n<|assistant|>\n"),
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn zephyr_conversation_keeps_its_system_turn_and_history() {
        let zephyr = "<|system|>\nYou are a pirate.</s>\n<|user|>\nHi!</s>\n<|assistant|>\nArr!</s>\n\
                      <|user|>\nWhere is the treasure?</s>\n<|assistant|>\n";
        assert_eq!(
            to_local_chat_prompt(zephyr),
            "<|im_start|>system\nYou are a pirate.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n\
             <|im_start|>assistant\nArr!<|im_end|>\n<|im_start|>user\nWhere is the treasure?<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn multi_line_content_and_special_characters_are_kept() {
        let zephyr = "<|user|>\nLine one.\n\nLine <two> & 'three'.\n</s>\n<|assistant|>\n";
        assert_eq!(
            to_local_chat_prompt(zephyr),
            "<|im_start|>user\nLine one.\n\nLine <two> & 'three'.\n<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn unfinished_assistant_turn_is_continued() {
        assert_eq!(
            to_local_chat_prompt("<|user|>\nName a color.</s>\n<|assistant|>\nThe color is"),
            "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\nThe color is"
        );
    }

    #[test]
    fn conversation_ending_with_a_user_turn_gets_the_assistant_opening() {
        assert_eq!(
            to_local_chat_prompt("<s><|system|>\nBe terse.</s>\n<|user|>\nHi</s>"),
            "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn missing_end_of_turn_markers_are_tolerated() {
        assert_eq!(
            to_local_chat_prompt("<|user|>\nHi\n<|assistant|>\n"),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            to_local_chat_prompt("\n<|system|>\nS</s>\ntrailing\n<|user|>\nU"),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn text_that_merely_mentions_a_tag_is_plain() {
        assert_eq!(
            to_local_chat_prompt("What does <|user|> mean?"),
            "<|im_start|>user\nWhat does <|user|> mean?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            to_local_chat_prompt(""),
            "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn chatml_prompt_passes_unchanged() {
        let chatml = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(to_local_chat_prompt(chatml), chatml);
    }

    #[test]
    fn zephyr_and_raw_formats() {
        let zephyr = "<|user|>\nHi</s>\n<|assistant|>\n";
        assert_eq!(ChatFormat::Zephyr.render("Hi"), zephyr);
        assert_eq!(ChatFormat::Zephyr.render(zephyr), zephyr);
        assert_eq!(ChatFormat::Raw.render(zephyr), zephyr);
        assert_eq!(ChatFormat::Raw.render("Hi"), "Hi");
    }

    #[test]
    fn format_from_templates() {
        let smollm2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}\
            {{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}\
            {% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(ChatFormat::from_template(Some(smollm2)), ChatFormat::ChatMl);
        let tinyllama = "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token }}\
            {% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n'  + message['content'] + eos_token }}{% endif %}{% endfor %}";
        assert_eq!(
            ChatFormat::from_template(Some(tinyllama)),
            ChatFormat::Zephyr
        );
        assert_eq!(
            ChatFormat::from_template(Some("[INST] {{ x }} [/INST]")),
            ChatFormat::Raw
        );
        assert_eq!(ChatFormat::from_template(None), ChatFormat::Raw);
    }
}
