//! Loading the weights, converting the quantizations candle has no SIMD kernel for.
//!
//! candle 0.11 runs Q4_0, Q8_0 and the k-quants with AVX2 (or NEON), but Q4_1, Q5_0 and Q5_1 with
//! scalar code: the default model, SmolLM2-135M-Instruct in Q4_1, would spend 90% of its time
//! there. Such tensors are converted to Q8_0 on load, which represents their 4- and 5-bit values
//! almost exactly and runs several times faster; the others load as they are.

use std::collections::HashMap;
use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Result};

/// Quantizations converted to [`FAST_DTYPE`] on load.
const SLOW_DTYPES: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];
/// What they are converted to.
const FAST_DTYPE: GgmlDType = GgmlDType::Q8_0;

/// Every tensor of `content` (read from `reader`) by name, on the CPU, those of a slow
/// quantization converted to [`FAST_DTYPE`].
pub(crate) fn load<R: Read + Seek>(
    content: &Content,
    reader: &mut R,
) -> Result<HashMap<String, QTensor>> {
    let device = Device::Cpu;
    // Reading is sequential; converting runs on every core.
    let mut names: Vec<String> = content.tensor_infos.keys().cloned().collect();
    names.sort();
    let tensors = names
        .iter()
        .map(|name| content.tensor(reader, name, &device))
        .collect::<Result<Vec<_>>>()?;
    let tensors = convert_all(tensors)?;
    Ok(names.into_iter().zip(tensors).collect())
}

/// `tensors`, those of a slow quantization converted to [`FAST_DTYPE`], in parallel.
fn convert_all(tensors: Vec<QTensor>) -> Result<Vec<QTensor>> {
    let device = Device::Cpu;
    let convert = |tensor: QTensor| {
        if converted(tensor.dtype(), tensor.shape().dims()) {
            QTensor::quantize(&tensor.dequantize(&device)?, FAST_DTYPE)
        } else {
            Ok(tensor)
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut slots: Vec<Vec<(usize, QTensor)>> = (0..threads).map(|_| Vec::new()).collect();
    for (index, tensor) in tensors.into_iter().enumerate() {
        slots[index % threads].push((index, tensor));
    }
    let mut converted: Vec<(usize, QTensor)> = std::thread::scope(|scope| {
        let workers: Vec<_> = slots
            .into_iter()
            .map(|slot| {
                scope.spawn(move || {
                    slot.into_iter()
                        .map(|(index, tensor)| Ok((index, convert(tensor)?)))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    converted.sort_by_key(|(index, _)| *index);
    Ok(converted.into_iter().map(|(_, tensor)| tensor).collect())
}

/// Whether a tensor of `dtype` and `dims` is converted to [`FAST_DTYPE`]: its rows must be whole
/// blocks of it.
fn converted(dtype: GgmlDType, dims: &[usize]) -> bool {
    SLOW_DTYPES.contains(&dtype)
        && dims
            .last()
            .is_some_and(|&d| d % FAST_DTYPE.block_size() == 0)
}
