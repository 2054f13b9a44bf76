//! Benchmark of the local model (figures only, no assertions): load time, prompt processing
//! (prefill) and generation speed in tokens per second, and the time to the first token of a
//! document question (~300 tokens) cold and with the document's prefix in the attention cache,
//! next to llama.cpp's figures on the same machine.
//!
//! `cargo bench -p pluto-local-model --bench model` (after `scripts/fetch-model`; the model is
//! found as the tests find it).

use std::env;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pluto_local_model::{
    CACHE_DIR_ENV, Generation, GenerationParams, LocalModel, MODEL_ENV, ModelError,
    PREFILL_BLOCK_TOKENS, locate_model, model_path_in,
};
use pluto_model::llm::{Continue, Role, render_zephyr};

const RUNS: usize = 3;

fn model_path() -> Result<PathBuf, ModelError> {
    let configured = [MODEL_ENV, CACHE_DIR_ENV]
        .iter()
        .any(|var| env::var_os(var).is_some_and(|value| !value.is_empty()));
    if configured {
        locate_model(None)
    } else {
        locate_model(Some(&model_path_in(&repo_dir().join(".cache/pluto"))))
    }
}

/// The repository (two levels above this crate).
fn repo_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The best of `RUNS` timings of `f`, with its last result.
fn best<T>(mut f: impl FnMut() -> Result<T, ModelError>) -> Result<(Duration, T), ModelError> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = f()?;
        best = best.min(start.elapsed());
        last = Some(value);
    }
    last.map(|value| (best, value))
        .ok_or(ModelError::InvalidRequest("no runs".to_owned()))
}

fn per_second(count: usize, time: Duration) -> f64 {
    // A figure for people: precision loss is fine.
    #[allow(clippy::cast_precision_loss)]
    let count = count as f64;
    count / time.as_secs_f64()
}

/// Figures llama.cpp (SmolLM2-135M-Instruct Q4_1, 2 threads) reached on the 2-core machine this
/// crate is developed on, for comparison: prompt tokens/s and generated tokens/s.
const LLAMA_CPP_PREFILL: f64 = 286.0;
const LLAMA_CPP_DECODE: f64 = 92.0;

/// A question about a document, about 300 tokens: what the document-QA example asks.
fn qa_prompt(model: &LocalModel, question: &str) -> String {
    let document = "Aurora Bakery opened in Tromsø in 2009 and bakes everything on site. Its best \
                    seller is the cardamom bun, which costs 45 NOK; a loaf of rye bread costs 60 \
                    NOK and a cinnamon roll 40 NOK. The bakery is open from 7 to 17 every day but \
                    Sunday, and it closes for two weeks in July. It employs eleven bakers, and \
                    its founder, Ingrid Nilsen, trained in Copenhagen. "
        .repeat(3);
    model.chat_prompt(&format!(
        "Answer from this piece only.\n{document}\nQuestion: {question}"
    ))
}

/// Streams `prompt`: the time to the first token, and to every token after it.
fn timed_stream(
    model: &LocalModel,
    prompt: &str,
    params: &GenerationParams,
) -> Result<(Duration, Vec<Duration>, Generation), ModelError> {
    let start = Instant::now();
    let mut times = Vec::new();
    let generation = model.generate_stream(prompt, params, |_| {
        times.push(start.elapsed());
        Continue::Continue(())
    })?;
    let first = times.first().copied().unwrap_or_default();
    Ok((first, times, generation))
}

fn run() -> Result<(), ModelError> {
    let path = model_path()?;
    let (load, model) = best(|| LocalModel::load(&path))?;
    let info = model.info();
    println!("model            {info}");
    println!("kernels          {}", model.matmul_kernels());
    println!(
        "file             {} ({} bytes)",
        info.path.display(),
        info.file_size
    );
    println!(
        "load             {:.0} ms (best of {RUNS})",
        load.as_secs_f64() * 1e3
    );

    // Cold: nothing of the prompt in the cache; the first token ends the prefill.
    let question = qa_prompt(&model, "What is the best seller of Aurora Bakery?");
    let one = GenerationParams::default().max_new_tokens(1);
    let (cold, generation) = best(|| {
        model.clear_cache();
        model.generate(&question, &one)
    })?;
    println!(
        "prefill          {:.0} tokens/s ({} prompt tokens, cold; llama.cpp: {LLAMA_CPP_PREFILL:.0})",
        per_second(generation.prompt_tokens, cold),
        generation.prompt_tokens,
    );
    println!(
        "first token      {:.0} ms cold (whole prompt processed)",
        cold.as_secs_f64() * 1e3
    );
    let llama_cpp_cold = generation.prompt_tokens as f64 / LLAMA_CPP_PREFILL;
    println!(
        "                 llama.cpp at its prefill speed: {:.0} ms",
        llama_cpp_cold * 1e3
    );

    // Warm: the previous question shares the document; only the new question is processed.
    let other = qa_prompt(&model, "When does Aurora Bakery open?");
    let mut reused = 0;
    let mut warm = Duration::MAX;
    for _ in 0..RUNS {
        model.clear_cache();
        model.generate(&question, &one)?;
        reused = model.cached_prefix_tokens(&other)?;
        let start = Instant::now();
        model.generate(&other, &one)?;
        warm = warm.min(start.elapsed());
    }
    println!(
        "first token      {:.0} ms with a reused prefix ({reused} of {} prompt tokens cached, \
         in blocks of {PREFILL_BLOCK_TOKENS})",
        warm.as_secs_f64() * 1e3,
        model.tokenize(&other)?.len()
    );

    // Decoding: the tokens of a story after the first, timed as they are streamed.
    let story = model.chat_prompt("Tell me a long story about a dragon.");
    let params = GenerationParams::default().max_new_tokens(64);
    let mut decode = 0.0f64;
    let mut streamed = 0;
    for _ in 0..RUNS {
        let (_, times, generation) = timed_stream(&model, &story, &params)?;
        if let (Some(first), Some(last)) = (times.first(), times.last())
            && times.len() > 1
        {
            decode = decode.max(per_second(times.len() - 1, *last - *first));
            streamed = generation.generated_tokens;
        }
    }
    println!(
        "generation       {decode:.1} tokens/s ({streamed} tokens streamed; llama.cpp: \
         {LLAMA_CPP_DECODE:.0})"
    );

    // A whole QA answer, streamed, cold and with the document cached.
    let answer_params = GenerationParams::default().max_new_tokens(64);
    model.clear_cache();
    let (first, times, answer) = timed_stream(&model, &question, &answer_params)?;
    let total = times.last().copied().unwrap_or_default();
    println!(
        "QA answer        first token {:.0} ms, {} tokens in {:.0} ms (cold): {:?}",
        first.as_secs_f64() * 1e3,
        answer.generated_tokens,
        total.as_secs_f64() * 1e3,
        answer.text
    );
    let (first, times, answer) = timed_stream(&model, &other, &answer_params)?;
    let total = times.last().copied().unwrap_or_default();
    println!(
        "QA answer        first token {:.0} ms, {} tokens in {:.0} ms (document cached): {:?}",
        first.as_secs_f64() * 1e3,
        answer.generated_tokens,
        total.as_secs_f64() * 1e3,
        answer.text
    );

    // A short answer, from prompt to end of turn.
    let short = render_zephyr([(Role::User, "What is the capital of France?")]);
    let (total, answer) = best(|| {
        model.clear_cache();
        model.generate_chat(&short, &GenerationParams::default())
    })?;
    println!(
        "short answer     {:.0} ms cold: {:?} ({} tokens, {})",
        total.as_secs_f64() * 1e3,
        answer.text,
        answer.generated_tokens,
        answer.finish_reason
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}\nRun `scripts/fetch-model` first, or set PLUTO_MODEL.");
            ExitCode::FAILURE
        }
    }
}
