//! The tract backend through wasmtime-wasi-nn's traits, on real models with reference data:
//! the ONNX model zoo's MNIST (from PyPI's qonnx 1.0.0) and ONNX's own node tests (PyPI's onnx
//! 1.22.0), which `scripts/install-toolchains.sh` installs (missing data fails these tests).

use std::path::{Path, PathBuf};

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use wasmtime_wasi_nn::backend::NamedTensor;
use wasmtime_wasi_nn::wit::{ExecutionTarget, TensorType};

use super::model::{Model, ModelError};
use super::{Diagnostics, tensor, tract};

/// Where the install script puts the test data.
fn nn_data() -> PathBuf {
    let tools = std::env::var_os("QYV_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share/qyv/tools")
        });
    let dir = tools.join("nn-data");
    assert!(
        dir.join("qonnx").is_dir() && dir.join("onnx/backend/test/data/node").is_dir(),
        "{} lacks the wasi-nn test data: run scripts/install-toolchains.sh",
        dir.display()
    );
    dir
}

fn mnist_dir() -> PathBuf {
    nn_data().join("qonnx/data/onnx/mnist-conv")
}

/// A `.pb` TensorProto: its name and its value.
fn read_pb(path: &Path) -> (String, Tensor) {
    let bytes = std::fs::read(path).unwrap();
    let proto = pb::TensorProto::decode(&bytes[..]).unwrap();
    let provider = tract_onnx::data_resolver::FopenDataResolver;
    let t = tract_onnx::tensor::load_tensor(&provider, &proto, None).unwrap();
    (proto.name, t)
}

/// Loads `model` through the backend, as a guest's `load` would, and computes `inputs` (an
/// input without a name is the model's input at its position).
fn infer(model: &[u8], inputs: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>, String> {
    let declared = super::describe("model", model)
        .map_err(|e| e.to_string())?
        .inputs;
    let inputs: Vec<(String, Tensor)> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, (name, t))| match name.is_empty() {
            true => (declared[i].name.clone(), t),
            false => (name, t),
        })
        .collect();
    let diagnostics = Diagnostics::default();
    let mut backend = tract::backend(&diagnostics);
    let shown = |e: &dyn std::fmt::Display| format!("{e}: {}", diagnostics.take().join("; "));
    let graph = backend
        .load(&[model], ExecutionTarget::Cpu)
        .map_err(|e| shown(&e))?;
    let mut context = graph.init_execution_context().map_err(|e| shown(&e))?;
    let named = inputs
        .into_iter()
        .map(|(name, t)| NamedTensor {
            tensor: tensor::from_tract(&name, &t).unwrap(),
            name,
        })
        .collect();
    let outputs = context.compute_with_io(named).map_err(|e| shown(&e))?;
    Ok(outputs
        .into_iter()
        .map(|o| {
            let dt = match o.tensor.ty {
                TensorType::Fp32 => DatumType::F32,
                TensorType::Fp64 => DatumType::F64,
                TensorType::I64 => DatumType::I64,
                TensorType::I32 => DatumType::I32,
                TensorType::U8 => DatumType::U8,
                TensorType::Fp16 => DatumType::F16,
                TensorType::Bf16 => unreachable!("never produced"),
            };
            let shape: Vec<usize> = o.tensor.dimensions.iter().map(|d| *d as usize).collect();
            let mut t = Tensor::zero_dt(dt, &shape).unwrap();
            t.as_bytes_mut().copy_from_slice(&o.tensor.data);
            (o.name, t)
        })
        .collect())
}

/// Whether `got` equals `want` within ONNX's backend-test tolerance (rtol 1e-3, atol 1e-7)
/// for floats, exactly otherwise.
fn close(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    if want.datum_type().is_float() {
        let g = got.cast_to::<f64>().map_err(|e| e.to_string())?;
        let w = want.cast_to::<f64>().map_err(|e| e.to_string())?;
        let g = g.to_plain_array_view::<f64>().map_err(|e| e.to_string())?;
        let w = w.to_plain_array_view::<f64>().map_err(|e| e.to_string())?;
        for (i, (g, w)) in g.iter().zip(w.iter()).enumerate() {
            if (g - w).abs() > atol + rtol * w.abs() {
                return Err(format!("element {i}: {g}, expected {w}"));
            }
        }
        Ok(())
    } else if got == want {
        Ok(())
    } else {
        Err(format!("{got:?}, expected {want:?}"))
    }
}

#[test]
fn mnist_logits_equal_the_reference_within_1e_4_relative() {
    let dir = mnist_dir();
    let model = std::fs::read(dir.join("model.onnx")).unwrap();
    let (_, input) = read_pb(&dir.join("test_data_set_0/input_0.pb"));
    let (_, want) = read_pb(&dir.join("test_data_set_0/output_0.pb"));
    let outputs = infer(&model, vec![("Input3".into(), input)]).unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].0, "Plus214_Output_0");
    // Within 1e-4 relative: the logits reach 6574, where one f32 step is 4.9e-4, so an
    // absolute 1e-4 would ask for the reference's exact summation order.
    close(&outputs[0].1, &want, 1e-4, 1e-4).unwrap();
    // The reference is a handwritten 2.
    let logits: Vec<f32> = outputs[0]
        .1
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let best = (0..10)
        .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
        .unwrap();
    assert_eq!(best, 2, "{logits:?}");
}

/// ONNX node tests, one operator each, run through the backend.
const NODE_TESTS: &[&str] = &[
    "test_abs",
    "test_add",
    "test_add_bcast",
    "test_relu",
    "test_leakyrelu",
    "test_sigmoid",
    "test_tanh",
    "test_exp",
    "test_sqrt",
    "test_neg",
    "test_mul",
    "test_sub",
    "test_div",
    "test_conv_with_strides_padding",
    "test_conv_with_strides_no_padding",
    "test_matmul_2d",
    "test_matmul_3d",
    "test_matmul_4d",
    "test_gemm_default_no_bias",
    "test_gemm_all_attributes",
    "test_softmax_example",
    "test_softmax_axis_1",
    "test_maxpool_2d_default",
    "test_maxpool_2d_pads",
    "test_averagepool_2d_default",
    "test_globalaveragepool",
    "test_flatten_axis0",
    "test_flatten_axis1",
    "test_transpose_default",
    "test_concat_2d_axis_0",
];

#[test]
fn onnx_node_tests_pass_through_the_backend() {
    let node = nn_data().join("onnx/backend/test/data/node");
    let mut failures = Vec::new();
    for test in NODE_TESTS {
        let dir = node.join(test);
        let model = std::fs::read(dir.join("model.onnx")).unwrap();
        let data = dir.join("test_data_set_0");
        let mut inputs = Vec::new();
        let mut wanted = Vec::new();
        for i in 0.. {
            let p = data.join(format!("input_{i}.pb"));
            if !p.exists() {
                break;
            }
            inputs.push(read_pb(&p));
        }
        for i in 0.. {
            let p = data.join(format!("output_{i}.pb"));
            if !p.exists() {
                break;
            }
            wanted.push(read_pb(&p));
        }
        let outcome = infer(&model, inputs).and_then(|got| {
            if got.len() != wanted.len() {
                return Err(format!("{} outputs, expected {}", got.len(), wanted.len()));
            }
            for ((_, g), (name, w)) in got.iter().zip(&wanted) {
                close(g, w, 1e-3, 1e-7).map_err(|e| format!("output {name}: {e}"))?;
            }
            Ok(())
        });
        if let Err(e) = outcome {
            failures.push(format!("{test}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(NODE_TESTS.len() >= 20);
}

#[test]
fn a_wrong_input_shape_says_what_the_model_expects() {
    let model = std::fs::read(mnist_dir().join("model.onnx")).unwrap();
    let flat = Tensor::zero::<f32>(&[1, 784]).unwrap();
    let e = infer(&model, vec![("Input3".into(), flat)]).unwrap_err();
    assert!(
        e.contains(r#"input "Input3" expects f32 [1,1,28,28], got f32 [1,784]"#),
        "{e}"
    );
    let ints = Tensor::zero::<i64>(&[1, 1, 28, 28]).unwrap();
    let e = infer(&model, vec![("Input3".into(), ints)]).unwrap_err();
    assert!(
        e.contains(r#"input "Input3" expects f32 [1,1,28,28], got i64 [1,1,28,28]"#),
        "{e}"
    );
}

/// A one-node model of `op` (in `domain`) from `x` to `y`, f32 [1,4].
pub(crate) fn one_node_model(op: &str, domain: &str) -> Vec<u8> {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as Dim};
    let fact = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: [1, 4]
                        .iter()
                        .map(|d| Dimension {
                            value: Some(Dim::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "g".into(),
            node: vec![pb::NodeProto {
                name: op.into(),
                op_type: op.into(),
                domain: domain.into(),
                input: vec!["x".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            input: vec![fact("x")],
            output: vec![fact("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

#[test]
fn an_unsupported_operator_is_named_with_its_node() {
    let bytes = one_node_model("ZipMap", "ai.onnx.ml");
    let Err(e) = Model::from_bytes("iris.onnx", &bytes) else {
        panic!("ZipMap loaded");
    };
    assert!(matches!(e, ModelError::Unsupported { .. }));
    assert_eq!(
        e.to_string(),
        r#"model iris.onnx cannot run: ONNX operator(s) not supported by tract 0.23.9: ZipMap (node "ZipMap")"#
    );
    assert!(Model::from_bytes("relu.onnx", &one_node_model("Relu", "")).is_ok());
}

#[test]
fn the_pinned_tract_is_the_one_named_in_messages() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let entry = format!(
        "name = \"tract-onnx\"\nversion = \"{}\"",
        super::TRACT_VERSION
    );
    assert!(lock.contains(&entry), "Cargo.lock has another tract-onnx");
}

#[test]
fn other_encodings_and_models_that_are_not_onnx_are_refused() {
    let d = Diagnostics::default();
    let mut backend = tract::backend(&d);
    assert!(
        backend
            .load(&[b"not a model"], ExecutionTarget::Cpu)
            .is_err()
    );
    assert!(d.take().iter().any(|m| m.contains("is not an ONNX model")));
    assert!(backend.load(&[b"a", b"b"], ExecutionTarget::Cpu).is_err());
    // A GPU is asked for: the model runs, on the CPU, and the user is told.
    let relu = one_node_model("Relu", "");
    assert!(backend.load(&[&relu], ExecutionTarget::Gpu).is_ok());
    assert!(d.take().iter().any(|m| m.contains("run on the CPU")));
}
