//! The local model with the real SmolLM2-135M-Instruct weights: answers, determinism, the
//! generation parameters, token streaming, the reuse of the attention cache for a common prompt
//! prefix, the tokenizer's special tokens and the model's metadata.
//!
//! The model is found as `cargo pluto run` finds it (`PLUTO_MODEL`, else the cache directory of
//! `PLUTO_CACHE_DIR`), or else in the repository's `.cache/pluto`, where `scripts/fetch-model`
//! puts it (`scripts/test` runs that first). A missing model fails the tests: it is never
//! fetched nor skipped here.

#![allow(clippy::unwrap_used)]

use std::env;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pluto_local_model::{
    CACHE_DIR_ENV, ChatFormat, FinishReason, Generation, GenerationParams, LocalModel, MODEL_ENV,
    ModelError, PREFILL_BLOCK_TOKENS, TextGeneration, locate_model, model_path_in,
    to_local_chat_prompt,
};
use pluto_model::llm::{Continue, Role, TgiRequest, TgiStreamToken, render_zephyr};

const QUESTION: &str = "What is the capital of France?";

fn model_path() -> PathBuf {
    let configured = [MODEL_ENV, CACHE_DIR_ENV]
        .iter()
        .any(|var| env::var_os(var).is_some_and(|value| !value.is_empty()));
    let located = if configured {
        locate_model(None)
    } else {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo = manifest.parent().and_then(Path::parent).unwrap();
        locate_model(Some(&model_path_in(&repo.join(".cache/pluto"))))
    };
    located.unwrap_or_else(|error| {
        panic!(
            "the local model is missing: {error}\n\
             Run `scripts/fetch-model` in the repository (it puts the model into .cache/pluto), \
             or set PLUTO_MODEL to a GGUF file."
        )
    })
}

/// The model, loaded once for all tests.
fn model() -> &'static LocalModel {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = model_path();
        LocalModel::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
    })
}

fn greedy(max_new_tokens: u32) -> GenerationParams {
    GenerationParams::default().max_new_tokens(max_new_tokens)
}

fn chat(prompt: &str, params: &GenerationParams) -> Generation {
    let generation = model().generate_chat(prompt, params).unwrap();
    eprintln!("{prompt:?} -> {generation:?}");
    generation
}

#[test]
fn plain_prompt_is_answered_with_paris() {
    let answer = chat(QUESTION, &greedy(64));
    assert!(answer.text.contains("Paris"), "{answer:?}");
    assert_eq!(
        answer.finish_reason,
        FinishReason::EndOfSequence,
        "{answer:?}"
    );
    assert!(!answer.text.contains("<|im_end|>"), "{answer:?}");
    assert!(answer.generated_tokens <= 64);
    assert_eq!(
        answer.prompt_tokens,
        model()
            .tokenize(&to_local_chat_prompt(QUESTION))
            .unwrap()
            .len()
    );
    assert_eq!(answer.seed, None);
}

#[test]
fn zephyr_prompt_is_answered_with_paris() {
    let zephyr = render_zephyr([
        (Role::System, "You are a helpful assistant."),
        (Role::User, QUESTION),
    ]);
    let answer = chat(&zephyr, &greedy(64));
    assert!(answer.text.contains("Paris"), "{answer:?}");
    // The same through the explicit translation.
    let translated = model()
        .generate(&to_local_chat_prompt(&zephyr), &greedy(64))
        .unwrap();
    assert_eq!(translated, answer);
}

#[test]
fn greedy_decoding_is_deterministic() {
    let prompt = "Name three colors.";
    let first = chat(prompt, &greedy(24));
    let second = chat(prompt, &greedy(24));
    assert_eq!(first, second);
    assert!(!first.text.trim().is_empty(), "{first:?}");
}

#[test]
fn max_new_tokens_is_honoured() {
    let answer = chat("Tell me a long story about a dragon.", &greedy(3));
    assert_eq!(answer.generated_tokens, 3, "{answer:?}");
    assert_eq!(answer.finish_reason, FinishReason::Length);
    assert!(!answer.text.is_empty());

    let longer = chat("Tell me a long story about a dragon.", &greedy(8));
    assert!(longer.generated_tokens <= 8);
    assert!(
        longer.text.starts_with(&answer.text),
        "{answer:?} {longer:?}"
    );

    let none = chat(QUESTION, &greedy(0));
    assert_eq!(none.generated_tokens, 0);
    assert_eq!(none.text, "");
    assert_eq!(none.finish_reason, FinishReason::Length);
}

#[test]
fn stop_string_cuts_the_output() {
    let full = chat(QUESTION, &greedy(64));
    let start = full.text.find("Paris").unwrap();
    let stopped = chat(QUESTION, &greedy(64).stop("Paris").stop(""));
    assert_eq!(stopped.finish_reason, FinishReason::StopSequence);
    assert_eq!(stopped.text, full.text[..start]);
    assert!(stopped.generated_tokens < full.generated_tokens);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let prompt = "Write a sentence about the sea.";
    let sample = |seed| {
        chat(
            prompt,
            &greedy(24).temperature(1.0).top_p(0.95).top_k(50).seed(seed),
        )
    };
    let first = sample(42);
    assert_eq!(first, sample(42));
    assert_eq!(first.seed, Some(42));
    let others = [sample(7), sample(1234)];
    assert!(
        others.iter().any(|other| other.text != first.text),
        "three seeds gave the same text: {first:?}"
    );

    let unseeded = chat(prompt, &greedy(4).temperature(0.7));
    assert!(unseeded.seed.is_some());
}

#[test]
fn repetition_penalty_applies() {
    let params = greedy(32).repetition_penalty(1.3);
    let penalised = chat("Repeat the word 'hello' many times.", &params);
    assert_eq!(
        penalised,
        chat("Repeat the word 'hello' many times.", &params)
    );
    assert!(!penalised.text.is_empty());
}

#[test]
fn invalid_requests_are_rejected() {
    let result = model().generate(QUESTION, &greedy(4).top_p(2.0));
    assert!(
        matches!(result, Err(ModelError::InvalidRequest(_))),
        "{result:?}"
    );
}

#[test]
fn prompt_longer_than_the_context_is_an_error() {
    let context = model().info().context_length;
    let long = "one two three four ".repeat(context);
    match model().generate(&long, &greedy(4)) {
        Err(ModelError::PromptTooLong {
            prompt_tokens,
            context_length,
        }) => {
            assert!(prompt_tokens > context);
            assert_eq!(context_length, context);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn chat_control_tokens_are_single_tokens() {
    let model = model();
    assert_eq!(model.tokenize("<|im_start|>").unwrap(), [1]);
    assert_eq!(model.tokenize("<|im_end|>").unwrap(), [2]);
    let ids = model
        .tokenize("<|im_start|>user\nHi there<|im_end|>\n")
        .unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert!(ids.contains(&2));
    assert!(ids.len() <= 8, "{ids:?}");
    // SmolLM2 splits numbers into digits.
    assert_eq!(model.tokenize("2024").unwrap().len(), 4);
    assert_eq!(model.tokenize("").unwrap(), Vec::<u32>::new());
}

#[test]
fn info_comes_from_the_gguf_metadata() {
    let info = model().info();
    eprintln!("{info} loaded in {:?}", info.load_time);
    assert_eq!(info.name, "SmolLM2-135M-Instruct");
    assert_eq!(info.quantization.as_deref(), Some("Q4_1"));
    assert_eq!(info.label(), "SmolLM2-135M-Instruct (Q4_1)");
    assert_eq!(info.architecture, "llama");
    assert!(
        (130_000_000..140_000_000).contains(&info.parameters),
        "{}",
        info.parameters
    );
    assert_eq!(info.parameters_label(), "135M");
    assert_eq!(info.context_length, 4096);
    assert_eq!(info.trained_context_length, Some(8192));
    assert_eq!(info.vocab_size, 49152);
    assert_eq!(info.file_size, 98_362_432);
    assert_eq!(model().chat_format(), &ChatFormat::ChatMl);
    assert_eq!(
        format!(
            "TinyLlama/TinyLlama-1.1B-Chat-v1.0 is served by {}",
            info.label()
        ),
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0 is served by SmolLM2-135M-Instruct (Q4_1)"
    );
}

#[test]
fn a_file_that_is_not_gguf_is_an_error() {
    let path = env::temp_dir().join(format!("pluto-not-a-model-{}.gguf", std::process::id()));
    std::fs::write(&path, b"not a model").unwrap();
    let result = LocalModel::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(result, Err(ModelError::Gguf { .. })), "{result:?}");
    let missing = LocalModel::load(Path::new("/nonexistent/model.gguf"));
    assert!(matches!(missing, Err(ModelError::Io { .. })), "{missing:?}");
}

#[test]
fn serves_tgi_requests_as_text_generation() {
    let served: &dyn TextGeneration = model();
    assert_eq!(served.label(), "SmolLM2-135M-Instruct (Q4_1)");
    let request = TgiRequest::new(QUESTION, &greedy(64));
    let text = served.generate(&request).unwrap();
    assert_eq!(text, chat(QUESTION, &greedy(64)).text);
    // Parameters are checked as `generate` checks them; the error says why.
    let invalid: TgiRequest = serde_json::from_str(
        r#"{"inputs": "Hi", "parameters": {"do_sample": true, "top_p": 2.0}}"#,
    )
    .unwrap();
    let error = served.generate(&invalid).unwrap_err();
    assert!(error.to_string().contains("top_p"), "{error}");
}

/// Streams `prompt` (chat format) with `params`: the tokens handed over and the generation.
fn stream(
    model: &LocalModel,
    prompt: &str,
    params: &GenerationParams,
) -> (Vec<TgiStreamToken>, Generation) {
    let mut tokens = Vec::new();
    let generation = model
        .generate_chat_stream(prompt, params, |token| {
            tokens.push(token);
            Continue::Continue(())
        })
        .unwrap();
    eprintln!("{prompt:?} -> {tokens:?}");
    (tokens, generation)
}

/// The texts of the non-special tokens, joined.
fn joined(tokens: &[TgiStreamToken]) -> String {
    tokens
        .iter()
        .filter(|token| !token.special)
        .map(|token| token.text.as_str())
        .collect()
}

#[test]
fn streamed_tokens_join_to_the_buffered_text() {
    let model = model();
    let cases = [
        (QUESTION, greedy(64)),
        (QUESTION, greedy(64).stop("Paris")),
        (QUESTION, greedy(64).stop(" is")),
        (
            "Tell me a long story about a dragon.",
            greedy(48).stop("\n\n"),
        ),
        ("Tell me a long story about a dragon.", greedy(20)),
        (
            "Write three sentences in French about coffee and the café.",
            greedy(48),
        ),
        ("Name three colors.", greedy(24).stop(",").stop("\n")),
    ];
    for (prompt, params) in cases {
        let buffered = model.generate_chat(prompt, &params).unwrap();
        let (tokens, streamed) = stream(model, prompt, &params);
        assert_eq!(joined(&tokens), buffered.text, "{prompt:?} {params:?}");
        assert_eq!(streamed, buffered, "{prompt:?} {params:?}");
        // One event per generated token, plus one releasing held-back text before an end of turn.
        let extra = usize::from(
            buffered.finish_reason == FinishReason::EndOfSequence
                && tokens.len() == buffered.generated_tokens + 1,
        );
        assert_eq!(
            tokens.len(),
            buffered.generated_tokens + extra,
            "{tokens:?}"
        );
        for token in &tokens {
            assert!(
                !token.text.contains(char::REPLACEMENT_CHARACTER),
                "{token:?}"
            );
            assert!(token.logprob <= 0.0, "{token:?}");
        }
        for stop in &params.stop {
            assert!(!joined(&tokens).contains(stop.as_str()), "{tokens:?}");
        }
    }
}

#[test]
fn multi_byte_characters_are_streamed_whole() {
    let model = model();
    let prompt = "Write three sentences in French about coffee and the café.";
    let (tokens, generation) = stream(model, prompt, &greedy(48));
    assert!(
        generation.text.chars().any(|c| c.len_utf8() > 1),
        "no multi-byte character to check: {generation:?}"
    );
    assert_eq!(joined(&tokens), generation.text);
    assert!(tokens.iter().all(|token| !token.text.contains('\u{FFFD}')));
}

#[test]
fn end_of_turn_is_streamed_as_a_special_token_last() {
    let (tokens, generation) = stream(model(), QUESTION, &greedy(64));
    assert_eq!(generation.finish_reason, FinishReason::EndOfSequence);
    let last = tokens.last().unwrap();
    assert!(last.special, "{last:?}");
    assert_eq!(last.text, "<|im_end|>");
    assert_eq!(last.id, 2);
    assert!(
        tokens[..tokens.len() - 1]
            .iter()
            .all(|token| !token.special)
    );
    assert!(joined(&tokens).contains("Paris"));
}

#[test]
fn stop_string_ends_the_stream_without_its_text() {
    let full = chat(QUESTION, &greedy(64));
    let (tokens, generation) = stream(model(), QUESTION, &greedy(64).stop("Paris"));
    assert_eq!(generation.finish_reason, FinishReason::StopSequence);
    assert_eq!(
        joined(&tokens),
        full.text[..full.text.find("Paris").unwrap()]
    );
    assert!(tokens.iter().all(|token| !token.special));
    assert_eq!(tokens.len(), generation.generated_tokens);
}

#[test]
fn break_stops_the_generation_at_once() {
    let model = model();
    let prompt = "Tell me a long story about a dragon.";
    let mut seen = 0;
    let generation = model
        .generate_chat_stream(prompt, &greedy(64), |_| {
            seen += 1;
            if seen == 3 {
                Continue::Break(())
            } else {
                Continue::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert_eq!(generation.generated_tokens, 3);
    assert_eq!(generation.finish_reason, FinishReason::Cancelled);
    // The model is left in a good state: the next generation is the usual one.
    let again = chat(prompt, &greedy(8));
    assert!(
        again.text.starts_with(&generation.text),
        "{generation:?} {again:?}"
    );
}

#[test]
fn serves_tgi_streams_as_text_generation() {
    let served: &dyn TextGeneration = model();
    let request = TgiRequest::new(QUESTION, &greedy(64));
    let mut tokens = Vec::new();
    let end = served
        .generate_stream(&request, &mut |token| {
            tokens.push(token);
            Continue::Continue(())
        })
        .unwrap();
    assert_eq!(end.finish_reason, "eos_token");
    assert_eq!(end.seed, None);
    assert_eq!(
        usize::try_from(end.generated_tokens).unwrap(),
        tokens.iter().filter(|token| !token.special).count() + 1
    );
    assert_eq!(joined(&tokens), served.generate(&request).unwrap());

    let sampled = TgiRequest::new(QUESTION, &greedy(4).temperature(0.7).seed(9));
    let end = served
        .generate_stream(&sampled, &mut |_| Continue::Continue(()))
        .unwrap();
    assert_eq!(end.seed, Some(9));
}

#[test]
fn common_prompt_prefix_is_reused_with_bit_identical_results() {
    // Its own model: the shared one's cache changes with the other tests running in parallel.
    let model = LocalModel::load(&model_path()).unwrap();
    let document = "Aurora Bakery opened in Tromsø in 2009. Its best seller is the cardamom bun, \
                    which costs 45 NOK. It is open from 7 to 17 every day but Sunday. "
        .repeat(3);
    let ask = |question: &str| model.chat_prompt(&format!("{document}\n{question}"));
    let first = ask("What is the best seller of Aurora Bakery?");
    let second = ask("When does Aurora Bakery open?");
    let second_tokens = model.tokenize(&second).unwrap().len();
    let params = greedy(32);
    // Streamed tokens carry their log-probabilities: equal tokens mean equal logits, bit for bit.
    let streamed = |prompt: &str| {
        let mut tokens = Vec::new();
        let generation = model
            .generate_stream(prompt, &params, |token| {
                tokens.push(token);
                Continue::Continue(())
            })
            .unwrap();
        (tokens, generation)
    };

    assert_eq!(model.cached_prefix_tokens(&second).unwrap(), 0);
    model.generate(&first, &params).unwrap();
    // Whole blocks of the shared document are reused, nothing past what the prompts share.
    let reused = model.cached_prefix_tokens(&second).unwrap();
    let document_tokens = model.tokenize(&model.chat_prompt(&document)).unwrap().len();
    assert_eq!(reused % PREFILL_BLOCK_TOKENS, 0, "{reused}");
    assert!(
        reused + PREFILL_BLOCK_TOKENS + 8 > document_tokens && reused < document_tokens,
        "{reused} of {document_tokens}"
    );
    let warm = streamed(&second);
    // The same prompt again reuses its whole blocks, leaving at least its last token.
    assert_eq!(
        model.cached_prefix_tokens(&second).unwrap(),
        (second_tokens - 1) / PREFILL_BLOCK_TOKENS * PREFILL_BLOCK_TOKENS
    );
    let again = streamed(&second);
    model.clear_cache();
    assert_eq!(model.cached_prefix_tokens(&second).unwrap(), 0);
    let cold = streamed(&second);
    assert_eq!(warm, cold);
    assert_eq!(again, cold);
    assert!(!cold.1.text.is_empty());
    // A prompt the cache holds but did not compute in whole blocks (generated tokens) is not
    // reused past its blocks either.
    let continued = format!("{second}{}", cold.1.text);
    let reused = model.cached_prefix_tokens(&continued).unwrap();
    assert_eq!(
        reused,
        second_tokens / PREFILL_BLOCK_TOKENS * PREFILL_BLOCK_TOKENS
    );
}
