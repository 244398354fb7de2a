//! The names a guest's `load-by-name` finds: each model's path under `/models`
//! (`digits/mnist.onnx`) and its stem (`mnist`) when no other model has it.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime_wasi_nn::{Graph, GraphRegistry};

use super::Diagnostics;
use super::model::Model;
use super::tract;

/// The app's loaded models by every name they answer to.
pub(crate) struct Names {
    /// (name, model path) pairs; a model path appears under its stem too.
    by_name: BTreeMap<String, (String, Arc<Model>)>,
}

/// The names each model path answers to, path first: the stem is added when unique.
pub fn names_for(paths: &[String]) -> Vec<(String, String)> {
    let stem = |p: &str| -> String {
        let file = p.rsplit('/').next().unwrap_or(p);
        match file.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_string(),
            _ => file.to_string(),
        }
    };
    let mut names: Vec<(String, String)> = paths.iter().map(|p| (p.clone(), p.clone())).collect();
    for p in paths {
        let s = stem(p);
        let shared = paths.iter().filter(|q| stem(q) == s).count() > 1;
        if !shared && !paths.contains(&s) {
            names.push((s, p.clone()));
        }
    }
    names
}

impl Names {
    pub fn new(models: Vec<(String, Model)>) -> Names {
        let paths: Vec<String> = models.iter().map(|(p, _)| p.clone()).collect();
        let loaded: BTreeMap<String, Arc<Model>> =
            models.into_iter().map(|(p, m)| (p, Arc::new(m))).collect();
        let by_name = names_for(&paths)
            .into_iter()
            .map(|(name, path)| {
                let model = loaded[&path].clone();
                (name, (path, model))
            })
            .collect();
        Names { by_name }
    }

    /// A registry for one run, reporting to `diagnostics`.
    pub fn registry(&self, diagnostics: &Diagnostics) -> Registry {
        Registry {
            graphs: self
                .by_name
                .iter()
                .map(|(name, (path, model))| {
                    (name.clone(), tract::graph(model.clone(), path, diagnostics))
                })
                .collect(),
            diagnostics: diagnostics.clone(),
        }
    }
}

/// wasmtime-wasi-nn's registry over [`Names`]: a name that is not there is reported with
/// the names that are.
pub(crate) struct Registry {
    graphs: BTreeMap<String, Graph>,
    diagnostics: Diagnostics,
}

impl Registry {
    fn missing(&self, name: &str) {
        let known: Vec<&str> = self.graphs.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "the app has no ONNX models (models: in its manifest)".to_string()
        } else {
            format!("the models are: {}", known.join(", "))
        };
        self.diagnostics.push(format!(
            "wasi-nn load-by-name: no model named {name:?}; {known}"
        ));
    }
}

impl GraphRegistry for Registry {
    fn get(&self, name: &str) -> Option<&Graph> {
        let found = self.graphs.get(name);
        if found.is_none() {
            self.missing(name);
        }
        found
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Graph> {
        if !self.graphs.contains_key(name) {
            self.missing(name);
        }
        self.graphs.get_mut(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_answers_to_its_path_and_its_unique_stem() {
        let paths = vec![
            "mnist.onnx".to_string(),
            "a/net.onnx".to_string(),
            "b/net.onnx".to_string(),
        ];
        let names = names_for(&paths);
        let of = |n: &str| names.iter().find(|(k, _)| k == n).map(|(_, p)| p.as_str());
        assert_eq!(of("mnist.onnx"), Some("mnist.onnx"));
        assert_eq!(of("mnist"), Some("mnist.onnx"));
        assert_eq!(of("a/net.onnx"), Some("a/net.onnx"));
        // Two models share the stem `net`: neither gets it.
        assert_eq!(of("net"), None);
    }
}
