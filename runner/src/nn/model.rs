//! An ONNX model made runnable by tract, and what can be told about one without running it:
//! its inputs and outputs, and the operators tract does not have.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::tract_data::internal::DimLike;

/// The tract the backend is built on (the version pinned in runner's Cargo.toml), named in
/// messages about what it cannot run.
pub const TRACT_VERSION: &str = "0.23.9";

/// Why a model cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Operators tract does not implement: (operator, node) pairs.
    #[error(
        "model {model} cannot run: ONNX operator(s) not supported by tract {TRACT_VERSION}: {}",
        listed(.ops)
    )]
    Unsupported {
        model: String,
        ops: Vec<(String, String)>,
    },
    #[error("model {model} is not an ONNX model tract can read: {reason}")]
    Invalid { model: String, reason: String },
    #[error("model {model} cannot run with tract {TRACT_VERSION}: {reason}")]
    Untranslatable { model: String, reason: String },
}

fn listed(ops: &[(String, String)]) -> String {
    ops.iter()
        .map(|(op, node)| format!("{op} (node {node:?})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A tensor a model takes or gives: its name, element type and shape as the model declares
/// them (a named dimension is shown by its name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorInfo {
    pub name: String,
    /// `f32`, `i64`, ...
    #[serde(rename = "type")]
    pub ty: String,
    pub shape: Vec<String>,
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.ty, self.shape.join(","))
    }
}

/// What a model offers, and whether tract can run it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelInfo {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// `None` when tract can run it, else why not.
    pub cannot_run: Option<String>,
}

/// Describes the ONNX model `bytes`, named `name` in messages. Its inputs and outputs are read
/// from the file; whether it runs is found by loading it as a run would.
pub fn describe(name: &str, bytes: &[u8]) -> Result<ModelInfo, ModelError> {
    let proto = parse(name, bytes)?;
    let graph = proto.graph.as_ref().ok_or_else(|| ModelError::Invalid {
        model: name.into(),
        reason: "it holds no graph".into(),
    })?;
    let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|i| !initialized.contains(&i.name.as_str()))
        .map(declared)
        .collect();
    let outputs = graph.output.iter().map(declared).collect();
    let cannot_run = Model::from_proto(name, &proto).err().map(|e| e.to_string());
    Ok(ModelInfo {
        inputs,
        outputs,
        cannot_run,
    })
}

/// A tensor as the ONNX file declares it.
fn declared(v: &pb::ValueInfoProto) -> TensorInfo {
    let tensor = v.r#type.as_ref().and_then(|t| t.value.as_ref()).map(|t| {
        let pb::type_proto::Value::TensorType(t) = t;
        t
    });
    let ty = tensor
        .and_then(|t| pb::tensor_proto::DataType::try_from(t.elem_type).ok())
        .and_then(|t| DatumType::try_from(t).ok())
        .map(type_name)
        .unwrap_or_else(|| "?".into());
    let shape = tensor
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => v.to_string(),
                    Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) => p.clone(),
                    None => "?".into(),
                })
                .collect()
        })
        .unwrap_or_default();
    TensorInfo {
        name: v.name.clone(),
        ty,
        shape,
    }
}

/// `f32` for tract's `F32`.
pub(crate) fn type_name(dt: DatumType) -> String {
    format!("{dt:?}").to_ascii_lowercase()
}

/// A model tract has optimized for running, with what a caller must know to feed it.
pub(crate) struct Model {
    pub plan: Arc<TypedRunnableModel>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<String>,
}

/// One input of a [`Model`] and what it accepts.
pub(crate) struct Input {
    pub name: String,
    pub datum_type: DatumType,
    /// `None` for a dimension the model leaves open.
    pub dims: Vec<Option<usize>>,
    /// The declaration, for messages.
    pub shown: TensorInfo,
}

impl Model {
    /// Reads, checks and optimizes the ONNX model `bytes`, named `name` in errors.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Model, ModelError> {
        Model::from_proto(name, &parse(name, bytes)?)
    }

    fn from_proto(name: &str, proto: &pb::ModelProto) -> Result<Model, ModelError> {
        let onnx = onnx_reader();
        let mut missing = Vec::new();
        if let Some(graph) = &proto.graph {
            unsupported(&onnx, graph, &mut missing);
        }
        if !missing.is_empty() {
            return Err(ModelError::Unsupported {
                model: name.into(),
                ops: missing,
            });
        }
        let untranslatable = |e: TractError| ModelError::Untranslatable {
            model: name.into(),
            reason: format!("{e:#}"),
        };
        let model = onnx
            .model_for_proto_model(proto)
            .and_then(|m| m.into_optimized())
            .map_err(untranslatable)?;
        let inputs = model
            .input_outlets()
            .map_err(untranslatable)?
            .iter()
            .map(|o| {
                let fact = model.outlet_fact(*o)?;
                let name = model.node(o.node).name.clone();
                let shown = TensorInfo {
                    name: name.clone(),
                    ty: type_name(fact.datum_type),
                    shape: fact.shape.dims().iter().map(|d| d.to_string()).collect(),
                };
                Ok(Input {
                    name,
                    datum_type: fact.datum_type,
                    dims: fact
                        .shape
                        .dims()
                        .iter()
                        .map(|d| d.to_usize().ok())
                        .collect(),
                    shown,
                })
            })
            .collect::<TractResult<Vec<_>>>()
            .map_err(untranslatable)?;
        let outputs = model
            .output_outlets()
            .map_err(untranslatable)?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| model.node(o.node).name.clone())
            })
            .collect();
        let plan = model.into_runnable().map_err(untranslatable)?;
        Ok(Model {
            plan,
            inputs,
            outputs,
        })
    }
}

fn parse(name: &str, bytes: &[u8]) -> Result<pb::ModelProto, ModelError> {
    onnx_reader()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| ModelError::Invalid {
            model: name.into(),
            reason: format!("{e:#}"),
        })
}

/// tract's ONNX reader, refusing external data: a model's tensors stored in other files
/// would be read from paths the model names, outside what the app was given.
fn onnx_reader() -> tract_onnx::Onnx {
    tract_onnx::Onnx {
        provider: Arc::new(NoExternalData),
        ..tract_onnx::onnx()
    }
}

struct NoExternalData;

impl tract_onnx::data_resolver::ModelDataResolver for NoExternalData {
    fn read_bytes_from_path(
        &self,
        _buf: &mut Vec<u8>,
        p: &Path,
        _offset: usize,
        _length: Option<usize>,
    ) -> TractResult<()> {
        Err(anyhow::anyhow!(
            "the model keeps tensors in another file ({}); only models in one file are run",
            p.display()
        ))
    }
}

/// The operators of `graph` (and the graphs inside its nodes) that tract has no
/// translation for, as (operator, node) pairs.
fn unsupported(onnx: &tract_onnx::Onnx, graph: &pb::GraphProto, out: &mut Vec<(String, String)>) {
    for node in &graph.node {
        if !onnx.op_register.0.contains_key(&node.op_type) {
            let shown = if node.name.is_empty() {
                node.output.first().cloned().unwrap_or_default()
            } else {
                node.name.clone()
            };
            out.push((node.op_type.clone(), shown));
        }
        for attribute in &node.attribute {
            for inner in attribute.g.iter().chain(&attribute.graphs) {
                unsupported(onnx, inner, out);
            }
        }
    }
}
