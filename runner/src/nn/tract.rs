//! The tract backend behind wasmtime-wasi-nn's traits: loading a guest's model bytes, and
//! graphs whose execution contexts check their inputs and run tract's plan.

use std::sync::Arc;

use tract_onnx::prelude::*;
use wasmtime_wasi_nn::backend::{
    BackendError, BackendExecutionContext, BackendFromDir, BackendGraph, BackendInner, Id,
    NamedTensor,
};
use wasmtime_wasi_nn::wit::{ExecutionTarget, GraphEncoding};
use wasmtime_wasi_nn::{Backend, ExecutionContext, Graph};

use super::model::Model;
use super::{Diagnostics, MAX_GUEST_MODEL, tensor};

/// The backend for ONNX, the one encoding served: the others find no backend and the guest
/// gets `invalid-encoding`.
pub(crate) fn backend(diagnostics: &Diagnostics) -> Backend {
    Backend::from(TractBackend {
        diagnostics: diagnostics.clone(),
    })
}

/// A graph over a loaded model.
pub(crate) fn graph(model: Arc<Model>, name: &str, diagnostics: &Diagnostics) -> Graph {
    let graph: Box<dyn BackendGraph> = Box::new(TractGraph {
        model,
        name: name.into(),
        diagnostics: diagnostics.clone(),
    });
    Graph::from(graph)
}

struct TractBackend {
    diagnostics: Diagnostics,
}

/// A failure the guest sees as `runtime-error`; `message` goes to the diagnostics.
fn failed(diagnostics: &Diagnostics, message: String) -> BackendError {
    diagnostics.push(message.clone());
    BackendError::BackendAccess(wasmtime::Error::msg(message))
}

impl BackendInner for TractBackend {
    fn encoding(&self) -> GraphEncoding {
        GraphEncoding::Onnx
    }

    fn load(&mut self, builders: &[&[u8]], target: ExecutionTarget) -> Result<Graph, BackendError> {
        let d = &self.diagnostics;
        let [bytes] = builders else {
            return Err(failed(
                d,
                format!(
                    "wasi-nn load: an ONNX model is one builder, the guest passed {}",
                    builders.len()
                ),
            ));
        };
        if bytes.len() > MAX_GUEST_MODEL {
            return Err(failed(
                d,
                format!(
                    "wasi-nn load: the guest's model is {} bytes, over the {} bytes a guest may load",
                    bytes.len(),
                    MAX_GUEST_MODEL
                ),
            ));
        }
        note_target(d, target);
        let name = "(loaded by the guest)";
        let model = Model::from_bytes(name, bytes).map_err(|e| failed(d, e.to_string()))?;
        Ok(graph(Arc::new(model), name, d))
    }

    fn as_dir_loadable(&mut self) -> Option<&mut dyn BackendFromDir> {
        None
    }
}

/// tract runs on the CPU only: a guest asking for a GPU or TPU is told where it runs.
fn note_target(d: &Diagnostics, target: ExecutionTarget) {
    let asked = match target {
        ExecutionTarget::Cpu => return,
        ExecutionTarget::Gpu => "GPU",
        ExecutionTarget::Tpu => "TPU",
    };
    d.push(format!(
        "wasi-nn: the guest asked for the {asked}; models run on the CPU (tract)"
    ));
}

struct TractGraph {
    model: Arc<Model>,
    name: String,
    diagnostics: Diagnostics,
}

impl BackendGraph for TractGraph {
    fn init_execution_context(&self) -> Result<ExecutionContext, BackendError> {
        let context: Box<dyn BackendExecutionContext> = Box::new(TractContext {
            model: self.model.clone(),
            name: self.name.clone(),
            diagnostics: self.diagnostics.clone(),
            inputs: vec![None; self.model.inputs.len()],
            outputs: Vec::new(),
        });
        Ok(ExecutionContext::from(context))
    }
}

struct TractContext {
    model: Arc<Model>,
    name: String,
    diagnostics: Diagnostics,
    /// Inputs set so far (the witx calls set them one by one).
    inputs: Vec<Option<TValue>>,
    /// The last computation's outputs.
    outputs: Vec<TValue>,
}

impl TractContext {
    fn fail(&self, message: String) -> BackendError {
        failed(&self.diagnostics, format!("model {}: {message}", self.name))
    }

    /// The index of the input `id` names.
    fn input_index(&self, id: &Id) -> Result<usize, BackendError> {
        let found = match id {
            Id::Index(i) => Some(*i as usize).filter(|i| *i < self.model.inputs.len()),
            Id::Name(n) => self.model.inputs.iter().position(|i| &i.name == n),
        };
        found.ok_or_else(|| {
            let names: Vec<&str> = self.model.inputs.iter().map(|i| i.name.as_str()).collect();
            self.fail(format!(
                "no input {}; its inputs are {}",
                shown_id(id),
                names.join(", ")
            ))
        })
    }

    fn output_index(&self, id: &Id) -> Result<usize, BackendError> {
        let found = match id {
            Id::Index(i) => Some(*i as usize).filter(|i| *i < self.model.outputs.len()),
            Id::Name(n) => self.model.outputs.iter().position(|o| o == n),
        };
        found.ok_or_else(|| {
            self.fail(format!(
                "no output {}; its outputs are {}",
                shown_id(id),
                self.model.outputs.join(", ")
            ))
        })
    }

    fn set(&mut self, index: usize, t: &wasmtime_wasi_nn::Tensor) -> Result<(), BackendError> {
        let tensor = tensor::to_tract(&self.model.inputs[index], t).map_err(|m| self.fail(m))?;
        self.inputs[index] = Some(tensor.into_tvalue());
        Ok(())
    }

    fn run(&mut self) -> Result<(), BackendError> {
        let mut inputs = TVec::new();
        for (slot, input) in self.inputs.iter().zip(&self.model.inputs) {
            match slot {
                Some(v) => inputs.push(v.clone()),
                None => return Err(self.fail(format!("input {:?} was not set", input.name))),
            }
        }
        let plan = &self.model.plan;
        self.outputs = long_call(|| plan.run(inputs))
            .map_err(|e| self.fail(format!("inference failed: {e:#}")))?
            .into_vec();
        Ok(())
    }

    fn output(&self, index: usize) -> Result<wasmtime_wasi_nn::Tensor, BackendError> {
        let name = &self.model.outputs[index];
        let value = self
            .outputs
            .get(index)
            .ok_or_else(|| self.fail("an output was asked for before compute".into()))?;
        tensor::from_tract(name, value).map_err(|m| self.fail(m))
    }
}

fn shown_id(id: &Id) -> String {
    match id {
        Id::Index(i) => format!("#{i}"),
        Id::Name(n) => format!("{n:?}"),
    }
}

impl BackendExecutionContext for TractContext {
    fn set_input(&mut self, id: Id, tensor: &wasmtime_wasi_nn::Tensor) -> Result<(), BackendError> {
        let index = self.input_index(&id)?;
        self.set(index, tensor)
    }

    fn get_output(&mut self, id: Id) -> Result<wasmtime_wasi_nn::Tensor, BackendError> {
        let index = self.output_index(&id)?;
        self.output(index)
    }

    fn compute(
        &mut self,
        inputs: Option<Vec<NamedTensor>>,
    ) -> Result<Option<Vec<NamedTensor>>, BackendError> {
        let Some(named) = inputs else {
            self.run()?;
            return Ok(None);
        };
        // The WIT form: every input named in this call, every output returned by name.
        self.inputs.iter_mut().for_each(|i| *i = None);
        for NamedTensor { name, tensor } in &named {
            let index = self.input_index(&Id::Name(name.clone()))?;
            self.set(index, tensor)?;
        }
        self.run()?;
        let outputs = (0..self.model.outputs.len())
            .map(|i| {
                Ok(NamedTensor {
                    name: self.model.outputs[i].clone(),
                    tensor: self.output(i)?,
                })
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        Ok(Some(outputs))
    }
}

/// Runs `f`, an inference, which may take long. On a server's runtime (an HTTP app's request)
/// the thread first hands the requests queued on it to another thread, so an inference holds
/// up no other request; elsewhere (a command's own thread) it just runs.
fn long_call<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
