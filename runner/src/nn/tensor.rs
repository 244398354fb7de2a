//! Tensors between wasi-nn and tract: the guest's bytes checked against what the model
//! declares (type, shape, length) with a message that says which input and what it expects.

use tract_onnx::prelude::*;
use wasmtime_wasi_nn::wit::TensorType;

use super::model::{Input, type_name};

/// tract's element type for a wasi-nn tensor type, if tract has it.
fn datum_type(ty: TensorType) -> Option<DatumType> {
    Some(match ty {
        TensorType::Fp16 => DatumType::F16,
        TensorType::Fp32 => DatumType::F32,
        TensorType::Fp64 => DatumType::F64,
        TensorType::U8 => DatumType::U8,
        TensorType::I32 => DatumType::I32,
        TensorType::I64 => DatumType::I64,
        TensorType::Bf16 => return None,
    })
}

/// The wasi-nn type of a tract element type, if wasi-nn has it.
fn tensor_type(dt: DatumType) -> Option<TensorType> {
    Some(match dt {
        DatumType::F16 => TensorType::Fp16,
        DatumType::F32 => TensorType::Fp32,
        DatumType::F64 => TensorType::Fp64,
        DatumType::U8 => TensorType::U8,
        DatumType::I32 => TensorType::I32,
        DatumType::I64 => TensorType::I64,
        _ => return None,
    })
}

fn shown_type(ty: TensorType) -> String {
    datum_type(ty)
        .map(type_name)
        .unwrap_or_else(|| "bf16".into())
}

fn shown_dims(dims: &[u32]) -> String {
    let dims: Vec<String> = dims.iter().map(u32::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// The guest's tensor for `input` as tract's, or what is wrong with it.
pub(crate) fn to_tract(input: &Input, t: &wasmtime_wasi_nn::Tensor) -> Result<Tensor, String> {
    let got = || format!("{} {}", shown_type(t.ty), shown_dims(&t.dimensions));
    let mismatch = || {
        format!(
            "input {:?} expects {}, got {}",
            input.name,
            input.shown,
            got()
        )
    };
    let dt = datum_type(t.ty).ok_or_else(mismatch)?;
    let shape_fits = t.dimensions.len() == input.dims.len()
        && t.dimensions
            .iter()
            .zip(&input.dims)
            .all(|(got, want)| want.is_none_or(|w| w == *got as usize));
    if dt != input.datum_type || !shape_fits {
        return Err(mismatch());
    }
    let shape: Vec<usize> = t.dimensions.iter().map(|d| *d as usize).collect();
    let expected = shape
        .iter()
        .try_fold(dt.size_of(), |n, d| n.checked_mul(*d))
        .ok_or_else(|| format!("input {:?}: the shape {} is too large", input.name, got()))?;
    if t.data.len() != expected {
        return Err(format!(
            "input {:?}: {} bytes of data for {} ({expected} expected)",
            input.name,
            t.data.len(),
            got()
        ));
    }
    let mut tensor = Tensor::zero_dt(dt, &shape).map_err(|e| format!("{e:#}"))?;
    // Both sides are little-endian plain numbers: wasm by definition, tract in memory on
    // the hosts qyv runs on.
    tensor.as_bytes_mut().copy_from_slice(&t.data);
    Ok(tensor)
}

/// tract's output as the guest's tensor; `name` is the output's name, for the message.
pub(crate) fn from_tract(name: &str, t: &Tensor) -> Result<wasmtime_wasi_nn::Tensor, String> {
    let ty = tensor_type(t.datum_type()).ok_or_else(|| {
        format!(
            "output {name:?} is {}, which wasi-nn has no tensor type for",
            type_name(t.datum_type())
        )
    })?;
    let dimensions = t
        .shape()
        .iter()
        .map(|d| u32::try_from(*d).map_err(|_| format!("output {name:?} is too large")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(wasmtime_wasi_nn::Tensor::new(
        dimensions,
        ty,
        t.as_bytes().to_vec(),
    ))
}
