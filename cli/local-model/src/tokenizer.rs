//! The tokenizer of a GGUF model, built from its metadata (`tokenizer.ggml.*`): a byte-level BPE
//! (`tokenizer.ggml.model = "gpt2"`: SmolLM2, Llama 3) from the vocabulary and the merges, with the
//! pre-tokenizer `tokenizer.ggml.pre` names, or a SentencePiece BPE (`llama`: TinyLlama, Llama 2,
//! Mistral) from the vocabulary and the pieces' scores; the control tokens (`<|im_start|>`,
//! `<|im_end|>`, `</s>`, ...) are matched in the text as single special tokens.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::ModelError;

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Tokens that end a turn in the chat formats of common models; generation stops at any of them
/// that the vocabulary has as a control token, besides the declared end-of-sequence token.
const END_OF_TURN_TOKENS: [&str; 6] = [
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "</s>",
];

/// SentencePiece's space.
const SPACE: char = '\u{2581}';

/// The split regex of Llama 3's tokenizer (`tokenizer.ggml.pre = "llama-bpe"`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Typed access to GGUF metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metadata<'a>(pub(crate) &'a HashMap<String, Value>);

impl<'a> Metadata<'a> {
    pub(crate) fn string(self, key: &str) -> Option<&'a str> {
        match self.0.get(key)? {
            Value::String(value) => Some(value),
            _ => None,
        }
    }

    pub(crate) fn u64(self, key: &str) -> Option<u64> {
        match *self.0.get(key)? {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub(crate) fn u32(self, key: &str) -> Option<u32> {
        self.u64(key).and_then(|v| u32::try_from(v).ok())
    }

    pub(crate) fn f32(self, key: &str) -> Option<f32> {
        match *self.0.get(key)? {
            Value::F32(v) => Some(v),
            // Lossy on purpose: model hyperparameters stored as f64.
            #[allow(clippy::cast_possible_truncation)]
            Value::F64(v) => Some(v as f32),
            _ => None,
        }
    }

    pub(crate) fn bool(self, key: &str) -> Option<bool> {
        match *self.0.get(key)? {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }

    fn array(self, key: &str) -> Option<&'a [Value]> {
        match self.0.get(key)? {
            Value::Array(values) => Some(values),
            _ => None,
        }
    }

    fn strings(self, key: &str) -> Result<Vec<&'a str>, String> {
        let values = self
            .array(key)
            .ok_or_else(|| format!("the metadata has no `{key}` array"))?;
        values
            .iter()
            .map(|value| match value {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(format!("`{key}` holds a value that is not a string")),
            })
            .collect()
    }

    fn f32s(self, key: &str) -> Option<Vec<f32>> {
        self.array(key)?
            .iter()
            .map(|value| match *value {
                Value::F32(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    fn i32s(self, key: &str) -> Option<Vec<i32>> {
        self.array(key)?
            .iter()
            .map(|value| match *value {
                Value::I32(v) => Some(v),
                Value::U32(v) => i32::try_from(v).ok(),
                Value::I8(v) => Some(v.into()),
                Value::U8(v) => Some(v.into()),
                _ => None,
            })
            .collect()
    }
}

/// A model's tokenizer, with its special tokens.
#[derive(Debug)]
pub(crate) struct GgufTokenizer {
    tokenizer: Tokenizer,
    bos: Option<u32>,
    add_bos: bool,
    end_of_turn: Vec<u32>,
    vocab_size: usize,
}

impl GgufTokenizer {
    /// The tokenizer described by `metadata`, or why there is none.
    pub(crate) fn from_metadata(metadata: Metadata<'_>) -> Result<Self, String> {
        let model = metadata.string("tokenizer.ggml.model").unwrap_or("");
        let tokens = metadata.strings("tokenizer.ggml.tokens")?;
        let token_types = metadata
            .i32s("tokenizer.ggml.token_type")
            .filter(|types| types.len() == tokens.len());
        let mut vocab = Vocab::default();
        for (id, token) in tokens.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| "the vocabulary is too large".to_owned())?;
            vocab.entry((*token).to_owned()).or_insert(id);
        }
        let (mut tokenizer, default_add_bos) = match model {
            "gpt2" => (byte_level_bpe(metadata, vocab)?, false),
            "llama" => (
                sentencepiece_bpe(metadata, &tokens, token_types.as_deref(), vocab)?,
                true,
            ),
            _ => {
                return Err(format!(
                    "its tokenizer is `{model}`; the local model engine builds byte-level BPE \
                     (`gpt2`: SmolLM2, Llama 3) and SentencePiece BPE (`llama`: TinyLlama, \
                     Llama 2, Mistral) tokenizers"
                ));
            }
        };

        let bos = metadata.u32("tokenizer.ggml.bos_token_id");
        let eos = metadata.u32("tokenizer.ggml.eos_token_id");
        let is_control = |id: usize| {
            token_types
                .as_ref()
                .is_some_and(|types| types.get(id) == Some(&TOKEN_TYPE_CONTROL))
        };
        let mut added = Vec::new();
        for (id, token) in tokens.iter().enumerate() {
            let declared = [bos, eos].contains(&u32::try_from(id).ok());
            match token_types
                .as_ref()
                .and_then(|types| types.get(id))
                .copied()
            {
                Some(TOKEN_TYPE_CONTROL) => added.push(AddedToken::from(*token, true)),
                Some(TOKEN_TYPE_USER_DEFINED) => added.push(AddedToken::from(*token, false)),
                _ if declared => added.push(AddedToken::from(*token, true)),
                _ => {}
            }
        }
        tokenizer
            .add_special_tokens(added)
            .map_err(|e| format!("cannot add its special tokens: {e}"))?;

        let mut end_of_turn: Vec<u32> = eos.into_iter().collect();
        if let Some(eot) = metadata.u32("tokenizer.ggml.eot_token_id") {
            end_of_turn.push(eot);
        }
        for token in END_OF_TURN_TOKENS {
            if let Some(id) = tokenizer.token_to_id(token)
                && usize::try_from(id).is_ok_and(|id| token_types.is_none() || is_control(id))
            {
                end_of_turn.push(id);
            }
        }
        end_of_turn.sort_unstable();
        end_of_turn.dedup();

        Ok(Self {
            tokenizer,
            bos,
            add_bos: metadata
                .bool("tokenizer.ggml.add_bos_token")
                .unwrap_or(default_add_bos),
            end_of_turn,
            vocab_size: tokens.len(),
        })
    }

    /// The tokens of `text`, control tokens spelled out in it included, with the
    /// beginning-of-sequence token first when the model wants one.
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        if self.add_bos
            && let Some(bos) = self.bos
        {
            ids.push(bos);
        }
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// The text of `ids`, without special tokens.
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))
    }

    /// How token `id` is spelled in the vocabulary (`<|im_end|>`), empty for an unknown id.
    pub(crate) fn spelling(&self, id: u32) -> String {
        self.tokenizer.id_to_token(id).unwrap_or_default()
    }

    /// Whether generation ends at `id` (end of sequence or of the assistant's turn).
    pub(crate) fn ends_turn(&self, id: u32) -> bool {
        self.end_of_turn.binary_search(&id).is_ok()
    }

    /// The number of tokens in the vocabulary.
    pub(crate) fn vocab_size(&self) -> usize {
        self.vocab_size
    }
}

/// A byte-level BPE tokenizer (`gpt2`) from the vocabulary and `tokenizer.ggml.merges`.
fn byte_level_bpe(metadata: Metadata<'_>, vocab: Vocab) -> Result<Tokenizer, String> {
    let merges = metadata
        .strings("tokenizer.ggml.merges")?
        .iter()
        .map(|merge| {
            merge
                .split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| format!("the merge `{merge}` is not two tokens"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("cannot build its BPE tokenizer: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer(metadata.string("tokenizer.ggml.pre"))?));
    tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));
    Ok(tokenizer)
}

/// A SentencePiece BPE tokenizer (`llama`), as Hugging Face converts one: the merges are every
/// split of a piece into two pieces, the highest-scoring merged piece first (SentencePiece merges
/// the pair whose result scores highest); spaces become `▁`, with one before the text and after
/// each special token (as llama.cpp does); characters outside the vocabulary fall back to
/// `<0xNN>` byte tokens.
fn sentencepiece_bpe(
    metadata: Metadata<'_>,
    tokens: &[&str],
    token_types: Option<&[i32]>,
    vocab: Vocab,
) -> Result<Tokenizer, String> {
    let scores = metadata
        .f32s("tokenizer.ggml.scores")
        .filter(|scores| scores.len() == tokens.len());
    let mut candidates: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        let normal = token_types
            .and_then(|types| types.get(id))
            .is_none_or(|&t| t == TOKEN_TYPE_NORMAL);
        if !normal {
            continue;
        }
        // Without scores, earlier pieces rank higher, as in SentencePiece's own vocabularies.
        #[allow(clippy::cast_precision_loss)]
        let score = scores
            .as_ref()
            .and_then(|scores| scores.get(id).copied())
            .unwrap_or(-(id as f32));
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if vocab.contains_key(left) && vocab.contains_key(right) {
                candidates.push((score, id, left, right));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let merges = candidates
        .into_iter()
        .map(|(_, _, left, right)| (left.to_owned(), right.to_owned()))
        .collect();
    let unk = metadata
        .u32("tokenizer.ggml.unknown_token_id")
        .and_then(|id| tokens.get(usize::try_from(id).ok()?))
        .map_or_else(|| "<unk>".to_owned(), |unk| (*unk).to_owned());
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .unk_token(unk)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| format!("cannot build its SentencePiece tokenizer: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let prepend = if metadata.bool("tokenizer.ggml.add_space_prefix") == Some(false) {
        PrependScheme::Never
    } else {
        PrependScheme::Always
    };
    tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::Metaspace(Metaspace::new(
        SPACE, prepend, false,
    ))));
    let space = Replace::new(SPACE.to_string(), " ")
        .map_err(|e| format!("cannot build its decoder: {e}"))?;
    let mut decoders = vec![
        DecoderWrapper::Replace(space),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ];
    if prepend == PrependScheme::Always {
        decoders.push(DecoderWrapper::Strip(Strip::new(' ', 1, 0)));
    }
    tokenizer.with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(
        decoders,
    ))));
    Ok(tokenizer)
}

/// The pre-tokenizer `tokenizer.ggml.pre` names (llama.cpp's names): the GPT-2 split for unknown
/// names, which is close for most byte-level BPE models.
fn pre_tokenizer(pre: Option<&str>) -> Result<PreTokenizerWrapper, String> {
    let byte_level =
        |use_regex| PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, use_regex));
    Ok(match pre {
        // SmolLM: every digit on its own, then the GPT-2 split.
        Some("smollm") => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            byte_level(true),
        ])),
        Some("llama-bpe" | "llama3") => {
            let split = Split::new(
                SplitPattern::Regex(LLAMA3_SPLIT.to_owned()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("cannot build the Llama 3 pre-tokenizer: {e}"))?;
            PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Split(split),
                byte_level(false),
            ]))
        }
        _ => byte_level(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Value {
        Value::Array(
            values
                .iter()
                .map(|v| Value::String((*v).to_owned()))
                .collect(),
        )
    }

    fn metadata(entries: Vec<(&str, Value)>) -> HashMap<String, Value> {
        entries
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect()
    }

    fn build(entries: Vec<(&str, Value)>) -> GgufTokenizer {
        let metadata = metadata(entries);
        GgufTokenizer::from_metadata(Metadata(&metadata)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A small SentencePiece vocabulary, in the shape of TinyLlama's.
    fn sentencepiece() -> GgufTokenizer {
        let tokens = [
            "<unk>",
            "<s>",
            "</s>",
            "<0x0A>",
            "<0x21>",
            "\u{2581}",
            "H",
            "e",
            "l",
            "o",
            "w",
            "r",
            "d",
            "ll",
            "\u{2581}H",
            "\u{2581}He",
            "llo",
            "\u{2581}Hello",
            "\u{2581}w",
            "or",
            "\u{2581}wor",
            "ld",
            "\u{2581}world",
        ];
        let types = tokens
            .iter()
            .enumerate()
            .map(|(id, _)| {
                Value::I32(match id {
                    0 => 2,
                    1 | 2 => 3,
                    3 | 4 => 6,
                    _ => 1,
                })
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let scores = (0..tokens.len())
            .map(|id| Value::F32(-(id as f32)))
            .collect();
        build(vec![
            ("tokenizer.ggml.model", Value::String("llama".to_owned())),
            ("tokenizer.ggml.tokens", strings(&tokens)),
            ("tokenizer.ggml.token_type", Value::Array(types)),
            ("tokenizer.ggml.scores", Value::Array(scores)),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
            ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
        ])
    }

    #[test]
    fn sentencepiece_tokenizes_like_llama() {
        let tokenizer = sentencepiece();
        // BOS first, a space before the text, whole words where the vocabulary has them.
        assert_eq!(tokenizer.encode("Hello world").ok(), Some(vec![1, 17, 22]));
        // Unknown characters fall back to bytes; `</s>` is one special token, with a space
        // after it as llama.cpp puts one.
        assert_eq!(
            tokenizer.encode("Hello\n!</s>world").ok(),
            Some(vec![1, 17, 3, 4, 2, 22])
        );
        assert_eq!(
            tokenizer.decode(&[17, 22, 3, 4, 2]).ok().as_deref(),
            Some("Hello world\n!")
        );
        assert!(tokenizer.ends_turn(2));
        assert!(!tokenizer.ends_turn(1));
        assert_eq!(tokenizer.vocab_size(), 23);
    }

    #[test]
    fn byte_level_bpe_with_special_tokens_and_digits() {
        let tokens = [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "H",
            "i",
            "\u{120}",
            "t",
            "\u{120}t",
            "h",
            "e",
            "re",
            "r",
            "\u{120}th",
            "\u{120}there",
            "ere",
            "1",
            "2",
            "Hi",
            "\u{10a}",
        ];
        let types = tokens
            .iter()
            .enumerate()
            .map(|(id, _)| Value::I32(if id < 3 { 3 } else { 1 }))
            .collect();
        let tokenizer = build(vec![
            ("tokenizer.ggml.model", Value::String("gpt2".to_owned())),
            ("tokenizer.ggml.pre", Value::String("smollm".to_owned())),
            ("tokenizer.ggml.tokens", strings(&tokens)),
            ("tokenizer.ggml.token_type", Value::Array(types)),
            (
                "tokenizer.ggml.merges",
                strings(&[
                    "H i",
                    "\u{120} t",
                    "\u{120}t h",
                    "r e",
                    "e re",
                    "\u{120}th ere",
                ]),
            ),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ]);
        assert_eq!(
            tokenizer.encode("<|im_start|>Hi there<|im_end|>\n12").ok(),
            Some(vec![1, 17, 13, 2, 18, 15, 16])
        );
        assert_eq!(
            tokenizer
                .decode(&[1, 17, 13, 2, 18, 15, 16])
                .ok()
                .as_deref(),
            Some("Hi there\n12")
        );
        // `<|im_end|>` and `<|endoftext|>` end a turn.
        assert!(tokenizer.ends_turn(0) && tokenizer.ends_turn(2));
        assert!(!tokenizer.ends_turn(1));
    }

    #[test]
    fn other_tokenizers_are_unsupported() {
        let metadata = metadata(vec![
            ("tokenizer.ggml.model", Value::String("bert".to_owned())),
            ("tokenizer.ggml.tokens", strings(&["a"])),
        ]);
        let error = GgufTokenizer::from_metadata(Metadata(&metadata)).err();
        assert!(error.is_some_and(|e| e.contains("`bert`")));
    }
}
