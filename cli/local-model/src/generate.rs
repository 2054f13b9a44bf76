//! Text generation: checking what is asked (`pluto_model::llm::GenerationParams`), what comes
//! back ([`Generation`]), and the decoding loop (prefill, then one token at a time: repetition penalty, greedy or seeded
//! sampling with temperature, top-k and top-p, end-of-turn tokens and stop strings).

use std::fmt;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;

use pluto_model::llm::GenerationParams;

use super::ModelError;
use super::tokenizer::GgufTokenizer;

/// Prompt tokens run through the model at once: bounds the attention scores' memory on long
/// prompts (9 heads x 512 x 4096 floats is 75 MB) at no cost in speed.
const PREFILL_CHUNK: usize = 512;

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
}

impl FinishReason {
    /// The name Text Generation Inference gives it: `length`, `eos_token` or `stop_sequence`.
    pub fn as_str(self) -> &'static str {
        match self {
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

/// Generates from `prompt` (token ids) with `weights`, whose context holds `context_length`
/// tokens.
pub(crate) fn generate(
    weights: &mut ModelWeights,
    tokenizer: &GgufTokenizer,
    prompt: &[u32],
    context_length: usize,
    params: &GenerationParams,
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
    let stops: Vec<&str> = params
        .stop
        .iter()
        .map(String::as_str)
        .filter(|stop| !stop.is_empty())
        .collect();

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
    weights.clear_kv_cache();
    let mut logits = None;
    let mut position = 0;
    for chunk in prompt.chunks(PREFILL_CHUNK) {
        let input = Tensor::new(chunk, &device)?.unsqueeze(0)?;
        logits = Some(weights.forward(&input, position)?);
        position += chunk.len();
    }
    let mut logits = logits.ok_or(ModelError::EmptyPrompt)?;

    let mut context: Vec<u32> = prompt.to_vec();
    let mut generated: Vec<u32> = Vec::new();
    loop {
        let mut scores: Vec<f32> = logits
            .squeeze(0)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1()?;
        if let Some(penalty) = params.repetition_penalty.filter(|&p| p != 1.0) {
            apply_repetition_penalty(&mut scores, penalty, &context);
        }
        let next = match sampler.as_mut() {
            Some(sampler) => {
                let len = scores.len();
                sampler.sample(&Tensor::from_vec(scores, len, &device)?)?
            }
            None => argmax(&scores),
        };
        generation.generated_tokens += 1;
        if tokenizer.ends_turn(next) {
            generation.finish_reason = FinishReason::EndOfSequence;
            break;
        }
        generated.push(next);
        context.push(next);
        if !stops.is_empty() {
            let text = tokenizer.decode(&generated)?;
            if let Some(end) = stops.iter().filter_map(|stop| text.find(stop)).min() {
                generation.text = text[..end].to_owned();
                generation.finish_reason = FinishReason::StopSequence;
                weights.clear_kv_cache();
                return Ok(generation);
            }
        }
        if generation.generated_tokens >= max_new_tokens {
            break;
        }
        let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
        logits = weights.forward(&input, position)?;
        position += 1;
    }
    weights.clear_kv_cache();
    generation.text = tokenizer.decode(&generated)?;
    Ok(generation)
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

    #[test]
    fn finish_reasons_have_tgi_names() {
        assert_eq!(FinishReason::Length.to_string(), "length");
        assert_eq!(FinishReason::EndOfSequence.as_str(), "eos_token");
        assert_eq!(FinishReason::StopSequence.as_str(), "stop_sequence");
    }
}
