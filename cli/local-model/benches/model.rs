//! Benchmark of the local model (figures only, no assertions): load time, prompt processing
//! (prefill) and generation speed in tokens per second.
//!
//! `cargo bench -p pluto-local-model --bench model` (after `scripts/fetch-model`; the model is
//! found as the tests find it).

use std::env;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pluto_local_model::{
    CACHE_DIR_ENV, GenerationParams, LocalModel, MODEL_ENV, ModelError, locate_model, model_path_in,
};
use pluto_model::llm::{Role, render_zephyr};

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

fn run() -> Result<(), ModelError> {
    let path = model_path()?;
    let (load, model) = best(|| LocalModel::load(&path))?;
    let info = model.info();
    println!("model          {info}");
    println!(
        "file           {} ({} bytes)",
        info.path.display(),
        info.file_size
    );
    println!(
        "load           {:.0} ms (best of {RUNS})",
        load.as_secs_f64() * 1e3
    );

    // Prefill: a long prompt, one token generated.
    let document =
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, \
                    France. It is named after the engineer Gustave Eiffel, whose company designed \
                    and built the tower from 1887 to 1889. "
            .repeat(8);
    let long_prompt = model.chat_prompt(&format!("{document}\nWho designed the Eiffel Tower?"));
    let one = GenerationParams::default().max_new_tokens(1);
    let (prefill, generation) = best(|| model.generate(&long_prompt, &one))?;
    println!(
        "prefill        {:.0} tokens/s ({} prompt tokens in {:.0} ms)",
        per_second(generation.prompt_tokens, prefill),
        generation.prompt_tokens,
        prefill.as_secs_f64() * 1e3
    );

    // Generation: a story of 64 tokens, less the prefill of its prompt.
    let story = model.chat_prompt("Tell me a long story about a dragon.");
    let (story_prefill, _) = best(|| model.generate(&story, &one))?;
    let story_params = GenerationParams::default().max_new_tokens(64);
    let (total, generation) = best(|| model.generate(&story, &story_params))?;
    let decode = total.saturating_sub(story_prefill);
    println!(
        "generation     {:.1} tokens/s ({} tokens in {:.0} ms after a {:.0} ms prefill of {} tokens)",
        per_second(generation.generated_tokens.saturating_sub(1).max(1), decode),
        generation.generated_tokens,
        decode.as_secs_f64() * 1e3,
        story_prefill.as_secs_f64() * 1e3,
        generation.prompt_tokens
    );

    // A short answer, from prompt to end of turn.
    let question = render_zephyr([(Role::User, "What is the capital of France?")]);
    let (total, answer) = best(|| model.generate_chat(&question, &GenerationParams::default()))?;
    println!(
        "short answer   {:.0} ms: {:?} ({} tokens, {})",
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
