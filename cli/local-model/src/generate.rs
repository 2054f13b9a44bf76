//! Text generation: checking what is asked (`pluto_model::llm::GenerationParams`), what comes
//! back ([`Generation`]), what of the text can be streamed when ([`TextRelease`]), and the
//! decoding loop (prefill, then one token at a time: repetition penalty, greedy or seeded
//! sampling with temperature, top-k and top-p, end-of-turn tokens and stop strings).

use std::fmt;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use pluto_model::llm::{Continue, GenerationParams, StreamEnd, TgiStreamToken};

use super::ModelError;
use super::llama::Llama;
use super::tokenizer::GgufTokenizer;

/// Checks the parameters' ranges: a finite temperature, `top_p` in (0, 1], `top_k` at least 1,
/// a repetition penalty above 0.
///
/// What they mean here: `max_new_tokens` counts the end-of-sequence token; a repetition penalty
/// (1 is none) applies, as in Hugging Face transformers, to the logits of tokens already in the
/// prompt or the generated text (positive ones divided by it, negative ones multiplied), when
/// decoding greedily too; `top_p` and `top_k` only apply when sampling; without a seed, sampling
/// draws a random one.
fn validate(params: &GenerationParams) -> Result<(), ModelError> {
    let invalid = |message: String| Err(ModelError::InvalidRequest(message));
    if !params.temperature.is_finite() {
        return invalid(format!(
            "temperature {} is not a number",
            params.temperature
        ));
    }
    if let Some(p) = params.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return invalid(format!("top_p must be in (0, 1], not {p}"));
    }
    if params.top_k == Some(0) {
        return invalid("top_k must be at least 1".to_owned());
    }
    if let Some(penalty) = params.repetition_penalty
        && !(penalty.is_finite() && penalty > 0.0)
    {
        return invalid(format!("repetition_penalty must be above 0, not {penalty}"));
    }
    Ok(())
}

/// The sampling strategy, when sampling (a temperature above 0).
fn sampling(params: &GenerationParams) -> Option<Sampling> {
    if params.is_greedy() {
        return None;
    }
    let temperature = f64::from(params.temperature);
    let p = params.top_p.filter(|&p| p < 1.0).map(f64::from);
    let k = params.top_k.and_then(|k| usize::try_from(k).ok());
    Some(match (k, p) {
        (None, None) => Sampling::All { temperature },
        (Some(k), None) => Sampling::TopK { k, temperature },
        (None, Some(p)) => Sampling::TopP { p, temperature },
        (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
    })
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// `max_new_tokens` were generated, or the context is full.
    Length,
    /// The model ended its turn (end-of-sequence or end-of-turn token).
    EndOfSequence,
    /// The text reached one of the stop strings.
    StopSequence,
    /// The token callback stopped the generation (the client went away).
    Cancelled,
}

impl FinishReason {
    /// The name Text Generation Inference gives it: `length`, `eos_token` or `stop_sequence`;
    /// `cancelled`, which TGI has no name for, when the token callback stopped the generation
    /// (nobody is left to tell).
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Cancelled => "cancelled",
            FinishReason::Length => "length",
            FinishReason::EndOfSequence => "eos_token",
            FinishReason::StopSequence => "stop_sequence",
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Generated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Only the new text, without the prompt, special tokens, or the stop string that ended it.
    pub text: String,
    /// Tokens generated, the end-of-sequence token included (at most `max_new_tokens`).
    pub generated_tokens: usize,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// The sampler's seed when sampling (`None` for greedy decoding).
    pub seed: Option<u64>,
}

impl Generation {
    /// The end of a token stream for this generation: TGI's `details`.
    pub fn stream_end(&self) -> StreamEnd {
        StreamEnd {
            finish_reason: self.finish_reason.as_str().to_owned(),
            generated_tokens: u32::try_from(self.generated_tokens).unwrap_or(u32::MAX),
            seed: self.seed,
        }
    }
}

/// Generates from `prompt` (token ids) with `llama`, whose context holds `context_length`
/// tokens, handing `on_token` every token as soon as it is sampled (see [`TextRelease`] for its
/// text). The returned [`Generation::text`] is the text of the tokens handed over, joined.
pub(crate) fn generate(
    llama: &mut Llama,
    tokenizer: &GgufTokenizer,
    prompt: &[u32],
    context_length: usize,
    params: &GenerationParams,
    on_token: &mut dyn FnMut(TgiStreamToken) -> Continue,
) -> Result<Generation, ModelError> {
    validate(params)?;
    if prompt.is_empty() {
        return Err(ModelError::EmptyPrompt);
    }
    if prompt.len() >= context_length {
        return Err(ModelError::PromptTooLong {
            prompt_tokens: prompt.len(),
            context_length,
        });
    }
    let seed = (!params.is_greedy()).then(|| params.seed.unwrap_or_else(random_seed));
    let mut sampler = sampling(params)
        .map(|sampling| LogitsProcessor::from_sampling(seed.unwrap_or(0), sampling));
    let max_new_tokens = usize::try_from(params.max_new_tokens)
        .unwrap_or(usize::MAX)
        .min(context_length - prompt.len());

    let mut generation = Generation {
        text: String::new(),
        generated_tokens: 0,
        prompt_tokens: prompt.len(),
        finish_reason: FinishReason::Length,
        seed,
    };
    if max_new_tokens == 0 {
        return Ok(generation);
    }

    let device = Device::Cpu;
    let (mut scores, _reused) = llama.prefill(prompt)?;
    let mut release = TextRelease::new(&params.stop);
    let mut context: Vec<u32> = prompt.to_vec();
    let mut generated: Vec<u32> = Vec::new();
    loop {
        if let Some(penalty) = params.repetition_penalty.filter(|&p| p != 1.0) {
            apply_repetition_penalty(&mut scores, penalty, &context);
        }
        let next = match sampler.as_mut() {
            Some(sampler) => {
                sampler.sample(&Tensor::from_slice(&scores, scores.len(), &device)?)?
            }
            None => argmax(&scores),
        };
        let logprob = log_probability(&scores, next);
        generation.generated_tokens += 1;
        if tokenizer.ends_turn(next) {
            generation.finish_reason = FinishReason::EndOfSequence;
            // What was held back as a possible start of a stop string is text after all.
            let held = release.next(&tokenizer.decode(&generated)?, true).text;
            let last_text_token = generated.last().copied().unwrap_or(next);
            if !held.is_empty() && on_token(text_token(last_text_token, held, 0.0)).is_break() {
                generation.finish_reason = FinishReason::Cancelled;
                break;
            }
            let _ = on_token(TgiStreamToken {
                id: next,
                text: tokenizer.spelling(next),
                logprob,
                special: true,
            });
            break;
        }
        generated.push(next);
        context.push(next);
        let last = generation.generated_tokens >= max_new_tokens;
        let released = release.next(&tokenizer.decode(&generated)?, last);
        let flow = on_token(text_token(next, released.text, logprob));
        if released.stopped {
            generation.finish_reason = FinishReason::StopSequence;
            break;
        }
        if flow.is_break() {
            generation.finish_reason = FinishReason::Cancelled;
            break;
        }
        if last {
            break;
        }
        scores = llama.feed(&[next])?;
    }
    generation.text = release.into_text();
    Ok(generation)
}

/// A text token for `on_token`.
fn text_token(id: u32, text: String, logprob: f32) -> TgiStreamToken {
    TgiStreamToken {
        id,
        text,
        logprob,
        special: false,
    }
}

/// What of the generated text may be handed out as it grows, token by token: never the start of
/// a UTF-8 character whose other bytes are still to come (a byte-level token can end inside one:
/// decoded text ending in U+FFFD waits for the next token), never text that may be the start of
/// a stop string (a suffix that is a prefix of one waits), never the stop string itself nor what
/// follows it. At the end everything not cut by a stop string is released.
struct TextRelease<'s> {
    stops: Vec<&'s str>,
    /// The text released so far.
    released: String,
}

/// What [`TextRelease::next`] releases.
#[derive(Debug, PartialEq, Eq)]
struct Released {
    /// The newly released text (often empty while text is held back).
    text: String,
    /// Whether the text reached a stop string (the generation is over).
    stopped: bool,
}

impl<'s> TextRelease<'s> {
    fn new(stops: &'s [String]) -> Self {
        Self {
            stops: stops
                .iter()
                .map(String::as_str)
                .filter(|stop| !stop.is_empty())
                .collect(),
            released: String::new(),
        }
    }

    /// Releases what it can of `text`, the decoded text of every token generated so far; `last`
    /// when no more tokens follow.
    fn next(&mut self, text: &str, last: bool) -> Released {
        let stop = self.stops.iter().filter_map(|stop| text.find(stop)).min();
        let end = match stop {
            Some(end) => end,
            None if last => text.len(),
            None => {
                let complete = text.trim_end_matches(char::REPLACEMENT_CHARACTER);
                let held = self
                    .stops
                    .iter()
                    .map(|stop| stop_prefix_at_end(complete, stop))
                    .max()
                    .unwrap_or(0);
                complete.len() - held
            }
        };
        let start = self.released.len();
        let piece = if end > start && text.starts_with(self.released.as_str()) {
            text.get(start..end).unwrap_or_default()
        } else {
            ""
        };
        self.released.push_str(piece);
        Released {
            text: piece.to_owned(),
            stopped: stop.is_some(),
        }
    }

    /// Everything released.
    fn into_text(self) -> String {
        self.released
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of `stop`.
fn stop_prefix_at_end(text: &str, stop: &str) -> usize {
    (1..stop.len())
        .rev()
        .find(|&len| stop.is_char_boundary(len) && text.ends_with(&stop[..len]))
        .unwrap_or(0)
}

/// The log-probability of token `id` under `scores` (logits): `log_softmax(scores)[id]`, 0 for
/// an id out of range.
fn log_probability(scores: &[f32], id: u32) -> f32 {
    let Some(&score) = usize::try_from(id).ok().and_then(|index| scores.get(index)) else {
        return 0.0;
    };
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = scores.iter().map(|score| (score - max).exp()).sum();
    score - max - sum.ln()
}

/// The index of the largest score (the first of equal ones), as greedy decoding takes.
fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (index, score) in scores.iter().enumerate() {
        if *score > scores[best] {
            best = index;
        }
    }
    u32::try_from(best).unwrap_or(u32::MAX)
}

/// Hugging Face's repetition penalty over the distinct tokens of `context`.
fn apply_repetition_penalty(scores: &mut [f32], penalty: f32, context: &[u32]) {
    let mut seen = std::collections::HashSet::new();
    for &token in context {
        if !seen.insert(token) {
            continue;
        }
        if let Some(score) = usize::try_from(token).ok().and_then(|i| scores.get_mut(i)) {
            if *score >= 0.0 {
                *score /= penalty;
            } else {
                *score *= penalty;
            }
        }
    }
}

/// A seed for a request that gives none.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[0.1, 3.0, -1.0, 3.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -5.0]), 1);
    }

    #[test]
    fn repetition_penalty_lowers_seen_tokens_once() {
        let mut scores = vec![2.0, -2.0, 2.0];
        apply_repetition_penalty(&mut scores, 2.0, &[0, 1, 0, 1, 7]);
        assert_eq!(scores, [1.0, -4.0, 2.0]);
    }

    #[test]
    fn parameters_are_validated() {
        let ok = GenerationParams::default();
        assert!(validate(&ok).is_ok());
        assert!(ok.is_greedy());
        assert_eq!(sampling(&ok), None);
        for bad in [
            ok.clone().temperature(f32::NAN),
            ok.clone().top_p(0.0),
            ok.clone().top_p(1.5),
            ok.clone().top_k(0),
            ok.clone().repetition_penalty(0.0),
        ] {
            assert!(
                matches!(validate(&bad), Err(ModelError::InvalidRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sampling_strategy_follows_the_parameters() {
        let sample = GenerationParams::default().temperature(0.5);
        assert_eq!(sampling(&sample), Some(Sampling::All { temperature: 0.5 }));
        assert_eq!(
            sampling(&sample.clone().top_k(40).top_p(0.5)),
            Some(Sampling::TopKThenTopP {
                k: 40,
                p: 0.5,
                temperature: 0.5
            })
        );
        assert_eq!(
            sampling(&sample.clone().top_p(1.0)),
            Some(Sampling::All { temperature: 0.5 })
        );
        assert_eq!(
            sampling(&sample.top_k(3)),
            Some(Sampling::TopK {
                k: 3,
                temperature: 0.5
            })
        );
    }

    /// Feeds `texts` (the decoded text after each token) to a [`TextRelease`] with `stops`, the
    /// last one as the end: what each releases, and whether it stopped.
    fn release_all(stops: &[&str], texts: &[&str]) -> (Vec<(String, bool)>, String) {
        let stops: Vec<String> = stops.iter().map(|&stop| stop.to_owned()).collect();
        let mut release = TextRelease::new(&stops);
        let mut released = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            let step = release.next(text, index + 1 == texts.len());
            released.push((step.text, step.stopped));
            if step.stopped {
                break;
            }
        }
        (released, release.into_text())
    }

    fn steps(steps: &[(&str, bool)]) -> Vec<(String, bool)> {
        steps
            .iter()
            .map(|&(text, stopped)| (text.to_owned(), stopped))
            .collect()
    }

    #[test]
    fn text_is_released_as_it_grows() {
        let (released, text) = release_all(&[], &["Hel", "Hello", "Hello world"]);
        assert_eq!(
            released,
            steps(&[("Hel", false), ("lo", false), (" world", false)])
        );
        assert_eq!(text, "Hello world");
    }

    #[test]
    fn incomplete_utf8_character_is_held_back_until_complete() {
        let (released, text) = release_all(&[], &["caf", "caf\u{FFFD}", "café", "café!"]);
        assert_eq!(
            released,
            steps(&[("caf", false), ("", false), ("é", false), ("!", false)])
        );
        assert_eq!(text, "café!");
    }

    #[test]
    fn replacement_character_at_the_very_end_is_released() {
        let (released, _) = release_all(&[], &["a\u{FFFD}", "a\u{FFFD}"]);
        assert_eq!(released, steps(&[("a", false), ("\u{FFFD}", false)]));
    }

    #[test]
    fn possible_start_of_a_stop_string_is_held_back() {
        let (released, text) = release_all(&["\n\n"], &["Hi\n", "Hi\nthere", "Hi\nthere."]);
        assert_eq!(
            released,
            steps(&[("Hi", false), ("\nthere", false), (".", false)])
        );
        assert_eq!(text, "Hi\nthere.");
    }

    #[test]
    fn stop_string_and_what_follows_are_never_released() {
        let (released, text) = release_all(&["END", "xx"], &["abcE", "abcEN", "abcENDxyz", "more"]);
        assert_eq!(released, steps(&[("abc", false), ("", false), ("", true)]));
        assert_eq!(text, "abc");
        // A stop string inside one token's text: what precedes it comes out with it.
        let (released, text) = release_all(&["END"], &["ok", "ok, theENDing"]);
        assert_eq!(released, steps(&[("ok", false), (", the", true)]));
        assert_eq!(text, "ok, the");
    }

    #[test]
    fn held_back_text_is_flushed_at_the_end() {
        let (released, text) = release_all(&["\n\n"], &["Hi\n", "Hi\n"]);
        assert_eq!(released, steps(&[("Hi", false), ("\n", false)]));
        assert_eq!(text, "Hi\n");
    }

    #[test]
    fn stop_prefix_at_end_respects_character_boundaries() {
        assert_eq!(stop_prefix_at_end("voilà", "à!"), "à".len());
        assert_eq!(stop_prefix_at_end("abc", "cd"), 1);
        // Only proper prefixes: a whole stop string is found, not held back.
        assert_eq!(stop_prefix_at_end("abc", "abc"), 0);
        assert_eq!(stop_prefix_at_end("abc", "x"), 0);
    }

    #[test]
    fn log_probability_is_the_log_softmax() {
        let scores = [1.0f32, 2.0, 3.0];
        let total: f32 = scores.iter().map(|s| s.exp()).sum();
        assert!((log_probability(&scores, 2) - (3.0 - total.ln())).abs() < 1e-6);
        assert_eq!(log_probability(&scores, 7), 0.0);
        let probabilities: f32 = (0..3).map(|id| log_probability(&scores, id).exp()).sum();
        assert!((probabilities - 1.0).abs() < 1e-6);
    }

    #[test]
    fn generation_ends_streams_with_tgi_details() {
        let generation = Generation {
            text: "Paris".to_owned(),
            generated_tokens: 4,
            prompt_tokens: 9,
            finish_reason: FinishReason::EndOfSequence,
            seed: Some(3),
        };
        assert_eq!(
            generation.stream_end(),
            StreamEnd {
                finish_reason: "eos_token".to_owned(),
                generated_tokens: 4,
                seed: Some(3),
            }
        );
    }

    #[test]
    fn finish_reasons_have_tgi_names() {
        assert_eq!(FinishReason::Length.to_string(), "length");
        assert_eq!(FinishReason::EndOfSequence.as_str(), "eos_token");
        assert_eq!(FinishReason::StopSequence.as_str(), "stop_sequence");
        assert_eq!(FinishReason::Cancelled.as_str(), "cancelled");
    }
}
