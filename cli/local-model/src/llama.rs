//! The llama forward pass, on candle's tensor operations and quantized matrix products, with an
//! attention cache this crate controls.
//!
//! Written here rather than taken from `candle_transformers::models::quantized_llama` for three
//! things that one keeps to itself:
//!
//! - **Prefix reuse that never changes an answer.** [`Llama`] remembers which tokens its
//!   key/value cache holds; a prompt that starts like the previous request's (the same system
//!   prompt, the same document) only runs the tokens after the common prefix through the model,
//!   with results bit for bit those of processing the whole prompt (see below).
//! - **The int8 VNNI kernels.** candle 0.11 multiplies Q8_0 matrices with AVX512-VNNI (or
//!   AVX-VNNI) kernels, several times faster than its generic ones, but only when their inner
//!   dimension is a multiple of 256. SmolLM2-135M's is 576: on a CPU with those instructions
//!   ([`MatmulKernels::detect`]) the Q8_0 matrices over the hidden dimension get zero blocks
//!   appended to every row (576 -> 768 columns) and the activations zero columns, which changes
//!   no product and lets the fast kernels run (prefill ~3.5x, decoding ~1.25x faster).
//! - **An append-only cache.** Keys and values are written in place into buffers that grow by
//!   doubling, instead of concatenating the whole cache again for every token.
//! - **Fewer, larger matrix products.** The query, key and value projections are one matrix, as
//!   are the gate and up projections of the feed-forward block: one quantization of the
//!   activations and one parallel region instead of three or two. Grouped-query attention runs
//!   each key/value head against its group of query heads without copying keys and values.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};

use super::tokenizer::Metadata;

/// The first capacity of the key/value buffers, in tokens; they double as needed.
const INITIAL_CACHE_TOKENS: usize = 512;

/// Prompts are run through the model in blocks of this many tokens at positions that are
/// multiples of it (the last block of a prompt may be shorter), and only whole blocks of the
/// cache are reused.
///
/// Why: a matrix product's rows can differ in their last bits with the number of rows computed
/// together (candle's f32 matrix products for attention, and the VNNI kernels' activation
/// quantization, pick their code by shape), and a last-bit difference can change which token
/// greedy decoding picks. A block of the same tokens at the same positions after the same cache
/// is computed by exactly the same operations on exactly the same shapes, so a cache made of whole
/// blocks holds what processing the whole prompt again would compute, bit for bit; reusing only
/// those keeps every answer the same as without the cache, on every kernel path. 64 tokens: small
/// enough that a shared document is nearly all reused (at most 63 of its tokens are processed
/// again), large enough that the matrix kernels run at full speed (cold prefill is no slower than
/// in blocks of 512), and it bounds the attention scores' memory on long prompts.
pub const PREFILL_BLOCK_TOKENS: usize = 64;

/// The matrix kernels candle runs the model's quantized matrix products with, on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatmulKernels {
    /// candle's int8 kernels on AVX512-VNNI: Q8_0 matrices padded to a multiple of 256 columns.
    Avx512Vnni,
    /// candle's int8 kernels on AVX-VNNI (256-bit): Q8_0 matrices padded likewise.
    AvxVnni,
    /// candle's generic kernels (AVX2 or NEON dot products); nothing padded.
    Generic,
}

impl MatmulKernels {
    /// What candle 0.11 picks on this CPU for Q8_0 matrices of a multiple of 256 columns (its
    /// `repack_x86::level`, which reads the same features and `MISTRALRS_FORCE_*` variables).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let forced = |name: &str| std::env::var(name).as_deref() == Ok("1");
            let (force_avx2, force_vnni) = (
                forced("MISTRALRS_FORCE_AVX2"),
                forced("MISTRALRS_FORCE_AVXVNNI"),
            );
            if !force_avx2
                && !force_vnni
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vnni")
            {
                return Self::Avx512Vnni;
            }
            if !force_avx2
                && (force_vnni || is_x86_feature_detected!("avxvnni"))
                && is_x86_feature_detected!("avx2")
            {
                return Self::AvxVnni;
            }
        }
        Self::Generic
    }

    /// The multiple of columns Q8_0 matrices are padded to for these kernels, if any.
    fn column_multiple(self) -> Option<usize> {
        match self {
            Self::Avx512Vnni | Self::AvxVnni => Some(VNNI_COLUMN_MULTIPLE),
            Self::Generic => None,
        }
    }
}

impl std::fmt::Display for MatmulKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Avx512Vnni => "int8 AVX512-VNNI (Q8_0 padded to 256-column multiples)",
            Self::AvxVnni => "int8 AVX-VNNI (Q8_0 padded to 256-column multiples)",
            Self::Generic => "generic quantized dot products",
        })
    }
}

/// candle's VNNI kernels run on matrices whose inner dimension is a multiple of this (a Q8_K
/// block; and whose rows are a multiple of 16).
const VNNI_COLUMN_MULTIPLE: usize = 256;

/// What a llama model is shaped like, from its GGUF metadata.
#[derive(Debug, Clone, Copy)]
struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    hidden: usize,
    layers: usize,
    rms_norm_eps: f32,
    rope_base: f32,
    rope_dim: usize,
}

impl Shape {
    fn from_metadata(metadata: Metadata<'_>) -> Result<Self> {
        let get = |key: &str| {
            metadata
                .u64(key)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| candle_core::Error::Msg(format!("no `{key}` in the metadata")))
        };
        let heads = get("llama.attention.head_count")?;
        let hidden = get("llama.embedding_length")?;
        let kv_heads = get("llama.attention.head_count_kv").unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || hidden % heads != 0 || heads % kv_heads != 0 {
            candle_core::bail!(
                "unusable attention shape: {heads} heads, {kv_heads} key/value heads, \
                 {hidden} dimensions"
            );
        }
        let head_dim = hidden / heads;
        Ok(Self {
            heads,
            kv_heads,
            head_dim,
            hidden,
            layers: get("llama.block_count")?,
            rms_norm_eps: metadata
                .f32("llama.attention.layer_norm_rms_epsilon")
                .unwrap_or(1e-5),
            rope_base: metadata.f32("llama.rope.freq_base").unwrap_or(10_000.0),
            rope_dim: get("llama.rope.dimension_count").unwrap_or(head_dim),
        })
    }
}

/// One transformer block.
struct Layer {
    attention_norm: Tensor,
    /// Queries, keys and values in one matrix: `heads * head_dim + 2 * kv_heads * head_dim` rows.
    qkv: QMatMul,
    output: QMatMul,
    ffn_norm: Tensor,
    /// Gate and up projections in one matrix: `2 * ffn` rows.
    gate_up: QMatMul,
    down: QMatMul,
    ffn: usize,
    /// `(kv_heads, capacity, head_dim)`, valid up to the model's cached length.
    keys: Tensor,
    values: Tensor,
}

/// A llama model with its key/value cache and the tokens the cache holds.
pub(crate) struct Llama {
    shape: Shape,
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    /// `(context, rope_dim / 2)` rotary tables.
    cos: Tensor,
    sin: Tensor,
    context_length: usize,
    /// The width activations over the hidden dimension are padded to with zeros before the
    /// matrices padded for the VNNI kernels (`hidden` when nothing is padded).
    padded_hidden: usize,
    kernels: MatmulKernels,
    /// The tokens whose keys and values are in the cache, in order.
    cached: Vec<u32>,
    /// How many of them were computed in whole, aligned blocks of [`PREFILL_BLOCK_TOKENS`]
    /// prompt tokens: the ones that may be reused.
    reusable_blocks_end: usize,
}

impl Llama {
    /// The model of `content`'s metadata with `tensors` (by GGUF name), for a context of
    /// `context_length` tokens.
    pub(crate) fn new(
        content: &Content,
        mut tensors: HashMap<String, QTensor>,
        context_length: usize,
    ) -> Result<Self> {
        let shape = Shape::from_metadata(Metadata(&content.metadata))?;
        let device = Device::Cpu;
        let kernels = MatmulKernels::detect();
        let padded_hidden = padded_width(shape.hidden, kernels);
        let pad = |tensor: QTensor| pad_columns(tensor, shape.hidden, padded_hidden);
        let mut take = |name: &str| {
            tensors
                .remove(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("no tensor `{name}`")))
        };
        let embeddings_q = take("token_embd.weight")?;
        let embeddings = embeddings_q.dequantize(&device)?;
        let output = pad(match take("output.weight") {
            Ok(output) => output,
            Err(_) => embeddings_q,
        })?;
        let norm = take("output_norm.weight")?.dequantize(&device)?;
        let mut layers = Vec::with_capacity(shape.layers);
        for index in 0..shape.layers {
            let mut take_layer = |name: &str| take(&format!("blk.{index}.{name}.weight"));
            let qkv = pad(concat_rows(&[
                take_layer("attn_q")?,
                take_layer("attn_k")?,
                take_layer("attn_v")?,
            ])?)?;
            let gate = take_layer("ffn_gate")?;
            let ffn = gate.shape().dims2()?.0;
            let gate_up = pad(concat_rows(&[gate, take_layer("ffn_up")?])?)?;
            let empty_cache = Tensor::zeros(
                (shape.kv_heads, INITIAL_CACHE_TOKENS, shape.head_dim),
                DType::F32,
                &device,
            )?;
            layers.push(Layer {
                attention_norm: take_layer("attn_norm")?.dequantize(&device)?,
                qkv: QMatMul::from_qtensor(qkv)?,
                output: QMatMul::from_qtensor(pad(take_layer("attn_output")?)?)?,
                ffn_norm: take_layer("ffn_norm")?.dequantize(&device)?,
                gate_up: QMatMul::from_qtensor(gate_up)?,
                down: QMatMul::from_qtensor(take_layer("ffn_down")?)?,
                ffn,
                keys: empty_cache.clone(),
                values: empty_cache.copy()?,
            });
        }
        let (cos, sin) = rotary_tables(shape.rope_dim, shape.rope_base, context_length)?;
        Ok(Self {
            shape,
            embeddings,
            layers,
            norm,
            output: QMatMul::from_qtensor(output)?,
            cos,
            sin,
            context_length,
            padded_hidden,
            kernels,
            cached: Vec::new(),
            reusable_blocks_end: 0,
        })
    }

    /// The kernels the quantized matrix products run on.
    pub(crate) fn kernels(&self) -> MatmulKernels {
        self.kernels
    }

    /// Forgets the cache.
    pub(crate) fn clear_cache(&mut self) {
        self.cached.clear();
        self.reusable_blocks_end = 0;
    }

    /// How many leading tokens of `prompt` [`prefill`](Self::prefill) takes from the cache: the
    /// whole [`PREFILL_BLOCK_TOKENS`] blocks of prompt tokens it has in common with the cached
    /// ones, leaving at least the last prompt token to compute (it gives the logits). Those are
    /// bit for bit what processing `prompt` from scratch computes (see [`PREFILL_BLOCK_TOKENS`]).
    pub(crate) fn reusable(&self, prompt: &[u32]) -> usize {
        let common = common_prefix(&self.cached, prompt)
            .min(self.reusable_blocks_end)
            .min(prompt.len().saturating_sub(1));
        common - common % PREFILL_BLOCK_TOKENS
    }

    /// Runs `prompt` through the model, reusing the cache for what [`reusable`](Self::reusable)
    /// says, in blocks of [`PREFILL_BLOCK_TOKENS`] at positions that are multiples of it. The
    /// logits for the token after `prompt`, and how many prompt tokens came from the cache.
    pub(crate) fn prefill(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize)> {
        let reused = self.reusable(prompt);
        self.cached.truncate(reused);
        self.reusable_blocks_end = reused;
        let mut logits = None;
        for tokens in prompt[reused..].chunks(PREFILL_BLOCK_TOKENS) {
            logits = Some(self.feed(tokens)?);
            if tokens.len() == PREFILL_BLOCK_TOKENS {
                self.reusable_blocks_end = self.cached.len();
            }
        }
        logits
            .map(|logits| (logits, reused))
            .ok_or_else(|| candle_core::Error::Msg("empty prompt".to_owned()))
    }

    /// Runs `tokens` through the model after the cached ones: the logits for the token after
    /// them.
    pub(crate) fn feed(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let position = self.cached.len();
        if tokens.is_empty() || position + tokens.len() > self.context_length {
            candle_core::bail!(
                "{} tokens after {position} do not fit into the context of {}",
                tokens.len(),
                self.context_length
            );
        }
        // Until the forward pass succeeds the cache holds nothing reliable past `position`.
        match self.forward(tokens, position) {
            Ok(logits) => {
                self.cached.extend_from_slice(tokens);
                Ok(logits)
            }
            Err(error) => {
                self.cached.truncate(position);
                self.reusable_blocks_end = self.reusable_blocks_end.min(position);
                Err(error)
            }
        }
    }

    fn forward(&mut self, tokens: &[u32], position: usize) -> Result<Vec<f32>> {
        let device = Device::Cpu;
        let Shape {
            heads,
            kv_heads,
            head_dim,
            hidden,
            rms_norm_eps,
            ..
        } = self.shape;
        let seq = tokens.len();
        let total = position + seq;
        let groups = heads / kv_heads;
        let q_width = heads * head_dim;
        let kv_width = kv_heads * head_dim;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let padding = self.padded_hidden - hidden;
        let pad = |x: Tensor| -> Result<Tensor> {
            if padding == 0 {
                Ok(x)
            } else {
                x.pad_with_zeros(1, 0, padding)
            }
        };
        let cos = self.cos.narrow(0, position, seq)?;
        let sin = self.sin.narrow(0, position, seq)?;
        let mask = (seq > 1)
            .then(|| causal_mask(seq, position, &device))
            .transpose()?;

        let ids = Tensor::new(tokens, &device)?;
        let mut x = self.embeddings.index_select(&ids, 0)?;
        for layer in &mut self.layers {
            let h = candle_nn::ops::rms_norm(&x, &layer.attention_norm, rms_norm_eps)?;
            let qkv = layer.qkv.forward(&pad(h)?)?;
            // (seq, heads, head_dim) -> (1, heads, seq, head_dim), as rope wants it.
            let split = |start: usize, width: usize, count: usize| -> Result<Tensor> {
                qkv.narrow(1, start, width)?
                    .reshape((seq, count, head_dim))?
                    .transpose(0, 1)?
                    .contiguous()?
                    .unsqueeze(0)
            };
            let q = candle_nn::rotary_emb::rope_i(&split(0, q_width, heads)?, &cos, &sin)?;
            let k =
                candle_nn::rotary_emb::rope_i(&split(q_width, kv_width, kv_heads)?, &cos, &sin)?;
            let v = split(q_width + kv_width, kv_width, kv_heads)?;

            layer.reserve(total, self.context_length)?;
            layer.keys.slice_set(&k.squeeze(0)?, 1, position)?;
            layer.values.slice_set(&v.squeeze(0)?, 1, position)?;
            let keys = layer.keys.narrow(1, 0, total)?;
            let values = layer.values.narrow(1, 0, total)?;

            // The query heads of one key/value head are consecutive: (kv_heads, groups * seq, d).
            let q = q.reshape((kv_heads, groups * seq, head_dim))?;
            let scores = (q.matmul(&keys.t()?)? * scale)?;
            let scores = match &mask {
                Some(mask) => scores
                    .reshape((kv_heads, groups, seq, total))?
                    .broadcast_add(mask)?
                    .reshape((kv_heads, groups * seq, total))?,
                None => scores,
            };
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let attended = weights
                .matmul(&values)?
                .reshape((heads, seq, head_dim))?
                .transpose(0, 1)?
                .reshape((seq, hidden))?;
            x = (x + layer.output.forward(&pad(attended)?)?)?;

            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, rms_norm_eps)?;
            let gate_up = layer.gate_up.forward(&pad(h)?)?;
            let gate = gate_up.narrow(1, 0, layer.ffn)?;
            let up = gate_up.narrow(1, layer.ffn, layer.ffn)?;
            let activated = (candle_nn::ops::silu(&gate)? * up)?;
            x = (x + layer.down.forward(&activated)?)?;
        }
        let last = x.narrow(0, seq - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, rms_norm_eps)?;
        self.output
            .forward(&pad(last)?)?
            .squeeze(0)?
            .to_dtype(DType::F32)?
            .to_vec1()
    }
}

impl Layer {
    /// Grows the key/value buffers to hold `tokens` (at most `context_length`), keeping what they
    /// hold.
    fn reserve(&mut self, tokens: usize, context_length: usize) -> Result<()> {
        let (kv_heads, capacity, head_dim) = self.keys.dims3()?;
        if tokens <= capacity {
            return Ok(());
        }
        let grown = tokens.max(capacity * 2).min(context_length.max(tokens));
        for buffer in [&mut self.keys, &mut self.values] {
            let larger = Tensor::zeros((kv_heads, grown, head_dim), DType::F32, &Device::Cpu)?;
            larger.slice_set(buffer, 1, 0)?;
            *buffer = larger;
        }
        Ok(())
    }
}

/// The width activations of `hidden` columns are padded to for `kernels`.
fn padded_width(hidden: usize, kernels: MatmulKernels) -> usize {
    kernels
        .column_multiple()
        .map_or(hidden, |multiple| hidden.next_multiple_of(multiple))
}

/// `tensor` (`rows x columns`) with `padded - columns` zero columns appended to each row, so
/// that it takes the padded activations: whole blocks of zero bytes, which every GGML type
/// decodes as zeros (a zero scale; 0.0 for the float types). The values are unchanged, and a
/// Q8_0 matrix of a multiple of 16 rows runs on the VNNI kernels. An error for a matrix of
/// another width, or whose blocks do not divide the padding.
fn pad_columns(tensor: QTensor, columns: usize, padded: usize) -> Result<QTensor> {
    if padded == columns {
        return Ok(tensor);
    }
    let (rows, k) = tensor.shape().dims2()?;
    let dtype = tensor.dtype();
    let block = dtype.block_size();
    if k != columns || rows == 0 || !columns.is_multiple_of(block) || !padded.is_multiple_of(block)
    {
        candle_core::bail!("cannot pad a {dtype:?} matrix of {rows}x{k} to {padded} columns");
    }
    let data = tensor.data()?;
    let row_bytes = data.len() / rows;
    let zeros = vec![0u8; (padded - columns) / block * dtype.type_size()];
    let mut padded_data = Vec::with_capacity(rows * (row_bytes + zeros.len()));
    for row in data.chunks_exact(row_bytes) {
        padded_data.extend_from_slice(row);
        padded_data.extend_from_slice(&zeros);
    }
    candle_core::quantized::ggml_file::qtensor_from_ggml(
        dtype,
        &padded_data,
        vec![rows, padded],
        &Device::Cpu,
    )
}

/// The length of the common prefix of `a` and `b`.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// `tensors` (quantized matrices with the same number of columns) stacked into one: their raw
/// rows concatenated when they share a quantization, else converted to Q8_0 (or F32 when the
/// rows are not whole Q8_0 blocks).
fn concat_rows(tensors: &[QTensor]) -> Result<QTensor> {
    let device = Device::Cpu;
    let mut rows = 0;
    let mut columns = None;
    for tensor in tensors {
        let (n, k) = tensor.shape().dims2()?;
        if columns.is_some_and(|columns| columns != k) {
            candle_core::bail!("cannot stack matrices of {k} and {columns:?} columns");
        }
        columns = Some(k);
        rows += n;
    }
    let columns = columns.ok_or_else(|| candle_core::Error::Msg("nothing to stack".to_owned()))?;
    let dtype = tensors[0].dtype();
    if tensors.iter().all(|tensor| tensor.dtype() == dtype) {
        let mut data = Vec::new();
        for tensor in tensors {
            data.extend_from_slice(&tensor.data()?);
        }
        return candle_core::quantized::ggml_file::qtensor_from_ggml(
            dtype,
            &data,
            vec![rows, columns],
            &device,
        );
    }
    let dense = Tensor::cat(
        &tensors
            .iter()
            .map(|tensor| tensor.dequantize(&device))
            .collect::<Result<Vec<_>>>()?,
        0,
    )?;
    let target = if columns % GgmlDType::Q8_0.block_size() == 0 {
        GgmlDType::Q8_0
    } else {
        GgmlDType::F32
    };
    QTensor::quantize(&dense, target)
}

/// The rotary embedding's cos and sin tables, `(positions, dim / 2)`.
fn rotary_tables(dim: usize, base: f32, positions: usize) -> Result<(Tensor, Tensor)> {
    let device = Device::Cpu;
    let half = dim / 2;
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for position in 0..positions {
        for i in 0..half {
            #[allow(clippy::cast_precision_loss)]
            let (position, exponent) = (position as f32, (2 * i) as f32 / dim as f32);
            let angle = position / base.powf(exponent);
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (positions, half), &device)?,
        Tensor::from_vec(sin, (positions, half), &device)?,
    ))
}

/// The additive causal mask of `seq` new tokens after `position` cached ones: `(seq, position +
/// seq)`, 0 where a token may attend, minus infinity after it.
fn causal_mask(seq: usize, position: usize, device: &Device) -> Result<Tensor> {
    let total = position + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|row| {
            (0..total).map(move |column| {
                if column <= position + row {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (seq, total), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_equal_leading_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4, 5]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
    }

    #[test]
    fn causal_mask_lets_tokens_see_the_cache_and_their_past() {
        let mask: Vec<Vec<f32>> = causal_mask(2, 1, &Device::Cpu).unwrap().to_vec2().unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(mask, [[0.0, 0.0, inf], [0.0, 0.0, 0.0]]);
    }

    #[test]
    fn rows_of_one_quantization_are_stacked_as_they_are() {
        let device = Device::Cpu;
        let a = Tensor::arange(0f32, 64.0, &device)
            .unwrap()
            .reshape((2, 32))
            .unwrap();
        let b = (Tensor::ones((1, 32), DType::F32, &device).unwrap() * 3.0).unwrap();
        let qa = QTensor::quantize(&a, GgmlDType::Q8_0).unwrap();
        let qb = QTensor::quantize(&b, GgmlDType::Q8_0).unwrap();
        let stacked = concat_rows(&[qa, qb]).unwrap();
        assert_eq!(stacked.shape().dims2().unwrap(), (3, 32));
        let rows: Vec<Vec<f32>> = stacked.dequantize(&device).unwrap().to_vec2().unwrap();
        assert!((rows[2][5] - 3.0).abs() < 1e-2, "{rows:?}");
        assert!((rows[1][0] - 32.0).abs() < 0.5, "{rows:?}");
    }

    #[test]
    fn padded_columns_are_zeros_and_the_rest_is_unchanged() {
        let device = Device::Cpu;
        let dense = Tensor::arange(0f32, 16.0 * 64.0, &device)
            .unwrap()
            .reshape((16, 64))
            .unwrap();
        let original = QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap();
        let expected: Vec<Vec<f32>> = original.dequantize(&device).unwrap().to_vec2().unwrap();
        let padded = pad_columns(original, 64, 256).unwrap();
        assert_eq!(padded.shape().dims2().unwrap(), (16, 256));
        assert_eq!(padded.dtype(), GgmlDType::Q8_0);
        let rows: Vec<Vec<f32>> = padded.dequantize(&device).unwrap().to_vec2().unwrap();
        for (row, expected) in rows.iter().zip(&expected) {
            assert_eq!(&row[..64], expected.as_slice());
            assert!(row[64..].iter().all(|&value| value == 0.0), "{row:?}");
        }
        // Products with padded activations are those without padding.
        let activations = Tensor::ones((2, 64), DType::F32, &device).unwrap();
        let plain = QMatMul::from_qtensor(QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap())
            .unwrap()
            .forward(&activations)
            .unwrap();
        let wide = QMatMul::from_qtensor(padded)
            .unwrap()
            .forward(&activations.pad_with_zeros(1, 0, 192).unwrap())
            .unwrap();
        let largest = plain
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let difference = (plain - wide)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        // Only the activations' quantization differs (blocks of 256 instead of 32).
        assert!(difference < largest * 1e-3, "{difference} of {largest}");
        assert!(pad_columns(QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap(), 32, 256).is_err());
    }

    #[test]
    fn nothing_is_padded_for_the_generic_kernels() {
        assert_eq!(padded_width(576, MatmulKernels::Generic), 576);
        assert_eq!(padded_width(576, MatmulKernels::Avx512Vnni), 768);
        assert_eq!(padded_width(2048, MatmulKernels::AvxVnni), 2048);
    }
}
