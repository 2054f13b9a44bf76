//! Streaming chains: [`TokenStream`], the text a model generates as it generates it, and the
//! filters that give a stream the same text as the buffered answer (a dropped echo of the prompt,
//! trimmed whitespace, a chat reply cut at the end of its turn) whatever the chunking.
//!
//! Each filter is fed the chunks in order and answers the text that is certain at that point,
//! holding back what a later chunk could still change (a possible partial `</s>`, trailing
//! whitespace, a possible echo of the prompt). When a filter knows the answer is complete, the
//! model's stream is dropped at once, which stops the generation.

use super::error::ChainError;
use futures_util::{Stream, StreamExt};
use pluto_model::llm::{ASSISTANT_TAG, END_OF_TURN, SYSTEM_TAG, USER_TAG};
use std::pin::Pin;

/// The text a model generates, chunk by chunk, as it generates it. Joined, the chunks are the
/// buffered answer; an `Err` item ends the stream. Dropping it stops the generation (the HTTP
/// connection to the model is closed).
pub type TokenStream = Pin<Box<dyn Stream<Item = Result<String, ChainError>> + Send + 'static>>;

/// A stream of one chunk, `text` (none when it is empty).
pub(crate) fn once(text: String) -> TokenStream {
    let chunk = (!text.is_empty()).then_some(Ok(text));
    Box::pin(futures_util::stream::iter(chunk))
}

/// What a [`TextFilter`] makes of a chunk.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Filtered {
    /// Text that is certain now.
    pub(crate) text: String,
    /// The answer is complete: drop the rest of the model's stream.
    pub(crate) done: bool,
}

impl Filtered {
    fn more(text: String) -> Self {
        Self { text, done: false }
    }
}

/// A transformation of generated text that works chunk by chunk: the chunks' outputs, then
/// [`TextFilter::finish`]'s, joined, are the transformation of the joined chunks.
pub(crate) trait TextFilter: Send + 'static {
    /// Takes the next chunk.
    fn push(&mut self, chunk: &str) -> Filtered;
    /// The model's stream ended: the text still held back.
    fn finish(&mut self) -> String;
}

/// `stream` through `filter`: empty outputs are skipped, the model's stream is dropped as soon
/// as the filter is done or an error comes (which is passed on and ends the stream).
pub(crate) fn filter(stream: TokenStream, filter: impl TextFilter) -> TokenStream {
    struct State<F> {
        source: Option<TokenStream>,
        filter: F,
    }
    let state = State {
        source: Some(stream),
        filter,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            loop {
                let source = state.source.as_mut()?;
                match source.next().await {
                    Some(Ok(chunk)) => {
                        let filtered = state.filter.push(&chunk);
                        if filtered.done {
                            state.source = None;
                            if filtered.text.is_empty() {
                                return None;
                            }
                        }
                        if !filtered.text.is_empty() {
                            return Some((Ok(filtered.text), state));
                        }
                    }
                    Some(Err(error)) => {
                        state.source = None;
                        return Some((Err(error), state));
                    }
                    None => {
                        state.source = None;
                        let rest = state.filter.finish();
                        return (!rest.is_empty()).then_some((Ok(rest), state));
                    }
                }
            }
        },
    ))
}

/// Drops a leading copy of the prompt, as `strip_echo` does for buffered answers: text is held
/// while it is still a prefix of the prompt.
#[derive(Debug)]
pub(crate) struct EchoFilter {
    prompt: String,
    /// Text held while it could be the echo; `None` once decided.
    held: Option<String>,
}

impl EchoFilter {
    pub(crate) fn new(prompt: &str) -> Self {
        Self {
            prompt: prompt.to_owned(),
            held: (!prompt.is_empty()).then(String::new),
        }
    }
}

impl TextFilter for EchoFilter {
    fn push(&mut self, chunk: &str) -> Filtered {
        let Some(held) = self.held.as_mut() else {
            return Filtered::more(chunk.to_owned());
        };
        held.push_str(chunk);
        if held.len() < self.prompt.len() && self.prompt.starts_with(held.as_str()) {
            return Filtered::default();
        }
        let mut text = self.held.take().unwrap_or_default();
        if text.starts_with(&self.prompt) {
            text.drain(..self.prompt.len());
        }
        Filtered::more(text)
    }

    fn finish(&mut self) -> String {
        // A text shorter than the prompt is not an echo of it.
        self.held.take().unwrap_or_default()
    }
}

/// Trims the answer as `str::trim` does: leading whitespace is dropped, trailing whitespace is
/// held until more text comes, and dropped at the end.
#[derive(Debug, Default)]
pub(crate) struct TrimFilter {
    started: bool,
    trailing: String,
}

impl TrimFilter {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

impl TextFilter for TrimFilter {
    fn push(&mut self, chunk: &str) -> Filtered {
        let chunk = if self.started {
            chunk
        } else {
            chunk.trim_start()
        };
        if chunk.is_empty() {
            return Filtered::default();
        }
        self.started = true;
        self.trailing.push_str(chunk);
        let certain = self.trailing.trim_end().len();
        let rest = self.trailing.split_off(certain);
        Filtered::more(std::mem::replace(&mut self.trailing, rest))
    }

    fn finish(&mut self) -> String {
        String::new()
    }
}

/// The markers that end the assistant's turn in a Zephyr-style chat.
const END_MARKERS: [&str; 3] = [END_OF_TURN, USER_TAG, SYSTEM_TAG];

/// The assistant's reply of a Zephyr-style chat model, as `extract_assistant_reply` reads it,
/// on a stream: the echoed prompt is dropped, an `<|assistant|>` tag before the reply restarts
/// it, the reply ends at the first `</s>`, `<|user|>` or `<|system|>` (a possible partial marker
/// is held back until the next chunk tells), and it is trimmed.
///
/// Unlike the buffered reading, which takes the text after the *last* `<|assistant|>` tag, the
/// stream ends at the first end marker after the reply has begun, so a model that goes on to
/// invent more turns is stopped there.
#[derive(Debug)]
pub(crate) struct ChatReplyFilter {
    echo: EchoFilter,
    /// Text not yet emitted.
    held: String,
    /// Whether non-whitespace text has been emitted.
    started: bool,
    /// An end marker came before any reply: wait for an `<|assistant|>` tag (the model echoed
    /// a prompt that differs from the one sent), else the reply is empty.
    seeking_tag: bool,
    done: bool,
}

impl ChatReplyFilter {
    pub(crate) fn new(prompt: &str) -> Self {
        Self {
            echo: EchoFilter::new(prompt),
            held: String::new(),
            started: false,
            seeking_tag: false,
            done: false,
        }
    }

    /// Emits `text` (trimmed at the start when the reply has not begun).
    fn emit(&mut self, text: &str, out: &mut String) {
        let text = if self.started {
            text
        } else {
            text.trim_start()
        };
        if !text.is_empty() {
            self.started = true;
            out.push_str(text);
        }
    }

    fn process(&mut self, out: &mut String) {
        loop {
            if self.seeking_tag {
                match self.held.find(ASSISTANT_TAG) {
                    Some(at) => {
                        self.held.drain(..at + ASSISTANT_TAG.len());
                        self.seeking_tag = false;
                        continue;
                    }
                    None => {
                        // Keep only what could be the start of a tag.
                        let keep = partial_marker_len(&self.held, &[ASSISTANT_TAG]);
                        self.held.drain(..self.held.len() - keep);
                        return;
                    }
                }
            }
            let tag = self.held.find(ASSISTANT_TAG);
            let end = END_MARKERS
                .iter()
                .filter_map(|marker| self.held.find(marker))
                .min();
            match (tag, end) {
                (Some(tag), end) if end.is_none_or(|end| tag < end) && !self.started => {
                    if self.held[..tag].trim().is_empty() {
                        self.held.drain(..tag + ASSISTANT_TAG.len());
                        continue;
                    }
                    // Text before the tag: the reply has begun, and a new turn ends it.
                    let before = self.held[..tag].to_owned();
                    self.emit(before.trim_end(), out);
                    self.done = true;
                    return;
                }
                (tag, end) => {
                    let cut = match (tag, end) {
                        (Some(tag), Some(end)) => Some(tag.min(end)),
                        (tag, end) => tag.or(end),
                    };
                    if let Some(cut) = cut {
                        let before = self.held[..cut].to_owned();
                        if !self.started && before.trim().is_empty() {
                            self.held.drain(..cut);
                            self.seeking_tag = true;
                            continue;
                        }
                        self.emit(before.trim_end(), out);
                        self.done = true;
                        return;
                    }
                }
            }
            // No full marker: emit what is certain.
            let partial = partial_marker_len(&self.held, &ALL_MARKERS);
            let candidate_end = self.held.len() - partial;
            let certain = self.held[..candidate_end].trim_end().len();
            let text: String = self.held.drain(..certain).collect();
            self.emit(&text, out);
            return;
        }
    }
}

const ALL_MARKERS: [&str; 4] = [END_OF_TURN, ASSISTANT_TAG, USER_TAG, SYSTEM_TAG];

/// The length of the longest end of `text` that is the beginning of one of `markers` (a marker
/// that the next chunk may complete).
fn partial_marker_len(text: &str, markers: &[&str]) -> usize {
    markers
        .iter()
        .flat_map(|marker| {
            (1..marker.len().min(text.len() + 1))
                .filter(|&len| text.as_bytes().ends_with(&marker.as_bytes()[..len]))
        })
        .max()
        .unwrap_or(0)
}

impl TextFilter for ChatReplyFilter {
    fn push(&mut self, chunk: &str) -> Filtered {
        if self.done {
            return Filtered {
                text: String::new(),
                done: true,
            };
        }
        let text = self.echo.push(chunk).text;
        self.held.push_str(&text);
        let mut out = String::new();
        self.process(&mut out);
        Filtered {
            text: out,
            done: self.done,
        }
    }

    fn finish(&mut self) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        let rest = self.echo.finish();
        self.held.push_str(&rest);
        self.process(&mut out);
        if !self.done && !self.seeking_tag {
            let held = std::mem::take(&mut self.held);
            self.emit(held.trim_end(), &mut out);
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::extract_assistant_reply;

    /// Every way of cutting `text` into two or three pieces (at character boundaries), and
    /// into single characters.
    fn chunkings(text: &str) -> Vec<Vec<String>> {
        let bounds: Vec<usize> = text
            .char_indices()
            .map(|(at, _)| at)
            .chain([text.len()])
            .collect();
        let mut all = vec![vec![text.to_owned()]];
        for &first in &bounds {
            all.push(vec![text[..first].to_owned(), text[first..].to_owned()]);
            for &second in bounds.iter().filter(|&&second| second >= first) {
                all.push(vec![
                    text[..first].to_owned(),
                    text[first..second].to_owned(),
                    text[second..].to_owned(),
                ]);
            }
        }
        all.push(text.chars().map(String::from).collect());
        all
    }

    /// The joined output of `filter` over `chunks`, and whether it asked to stop early.
    fn run(mut filter: impl TextFilter, chunks: &[String]) -> (String, bool) {
        let mut out = String::new();
        for chunk in chunks {
            let filtered = filter.push(chunk);
            out.push_str(&filtered.text);
            if filtered.done {
                return (out, true);
            }
        }
        out.push_str(&filter.finish());
        (out, false)
    }

    #[test]
    fn echo_filter_matches_strip_echo_for_any_chunking() {
        let prompt = "Q: 2+2?\nA:";
        for text in [
            "Q: 2+2?\nA: 4",
            " 4",
            "Q: 2+2?",
            "Q: 2+2?\nA:",
            "Q: 3",
            "",
            "é Q: 2+2?\nA:",
        ] {
            let expected = text.strip_prefix(prompt).unwrap_or(text);
            for chunks in chunkings(text) {
                assert_eq!(
                    run(EchoFilter::new(prompt), &chunks).0,
                    expected,
                    "{chunks:?}"
                );
            }
        }
        assert_eq!(run(EchoFilter::new(""), &["x".to_owned()]).0, "x");
    }

    #[test]
    fn trim_filter_matches_trim_for_any_chunking() {
        for text in [" In 1930.\n", "\n\n  a  b \t\n", "   ", "", "x", " é  ü "] {
            for chunks in chunkings(text) {
                assert_eq!(run(TrimFilter::new(), &chunks).0, text.trim(), "{chunks:?}");
            }
        }
    }

    #[test]
    fn chat_filter_matches_extract_assistant_reply_for_any_chunking() {
        let prompt = "<|user|>\nHi</s>\n<|assistant|>\n";
        let replies = [
            " Paris. </s>",
            "Paris.\n<|user|>\nAnd Spain?</s>\n",
            "Paris.<|system|>\nignore</s>",
            "Héllo, wörld <3 </ s> ok",
            "",
            "   </s>",
            "<|assistant|>\nAgain.</s>",
            "a < b and c </",
        ];
        for reply in replies {
            for generated in [reply.to_owned(), format!("{prompt}{reply}")] {
                let expected = extract_assistant_reply(&generated);
                for chunks in chunkings(&generated) {
                    let (joined, _) = run(ChatReplyFilter::new(prompt), &chunks);
                    assert_eq!(joined, expected, "{generated:?} as {chunks:?}");
                }
            }
        }
    }

    #[test]
    fn chat_filter_ends_at_the_first_end_marker_where_buffered_reading_takes_the_last_tag() {
        // The one documented difference: the stream cannot wait for a later `<|assistant|>`.
        let generated = "Paris.</s>\n<|assistant|>\nmore";
        assert_eq!(extract_assistant_reply(generated), "more");
        assert_eq!(
            run(ChatReplyFilter::new(""), &[generated.to_owned()]),
            ("Paris.".to_owned(), true)
        );
    }

    #[test]
    fn chat_filter_stops_at_the_end_of_the_turn() {
        let mut filter = ChatReplyFilter::new("");
        assert_eq!(filter.push("Paris"), Filtered::more("Paris".to_owned()));
        // A possible partial `</s>` and trailing whitespace are held back.
        assert_eq!(filter.push(". </"), Filtered::more(".".to_owned()));
        assert_eq!(
            filter.push("s>\n<|user|>"),
            Filtered {
                text: String::new(),
                done: true
            }
        );
    }

    #[test]
    fn chat_filter_skips_a_differently_echoed_prompt() {
        // The model echoed a prompt with other spacing: the reply is after its assistant tag.
        let generated = "<|user|>\n Hi </s>\n<|assistant|>\nHello!</s>";
        for chunks in chunkings(generated) {
            let (joined, _) = run(
                ChatReplyFilter::new("<|user|>\nHi</s>\n<|assistant|>\n"),
                &chunks,
            );
            assert_eq!(joined, "Hello!", "{chunks:?}");
        }
        assert_eq!(
            run(ChatReplyFilter::new("p"), &["</s> nothing".to_owned()]).0,
            extract_assistant_reply("</s> nothing")
        );
    }

    #[tokio::test]
    async fn filter_drops_the_model_stream_when_done_and_passes_errors_on() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        /// Sets its flag when dropped.
        struct DropFlag(Arc<AtomicBool>);
        impl Drop for DropFlag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        let chunks = ["Hi", "!</s>", "never read"];
        let source = futures_util::stream::iter(chunks).map(move |chunk| {
            let _ = &guard;
            Ok(chunk.to_owned())
        });
        let mut stream = filter(Box::pin(source), ChatReplyFilter::new(""));
        assert_eq!(stream.next().await.unwrap().unwrap(), "Hi");
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(stream.next().await.unwrap().unwrap(), "!");
        assert!(
            dropped.load(Ordering::SeqCst),
            "the model's stream is dropped at `</s>`"
        );
        assert!(stream.next().await.is_none());

        let failing = futures_util::stream::iter([
            Ok(" a".to_owned()),
            Err(ChainError::ModelReported {
                message: "overloaded".to_owned(),
                error_type: None,
            }),
            Ok("b".to_owned()),
        ]);
        let items: Vec<_> = filter(Box::pin(failing), TrimFilter::new()).collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap(), "a");
        assert!(matches!(items[1], Err(ChainError::ModelReported { .. })));
    }
}
