//! Function bodies, in one pass: each is validated (in parallel, as wasm-tools does) while the
//! proposals its locals and operators use are noted, so no operator is decoded twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use wasmparser::{
    BinaryReaderError, Encoding, FrameStack, FuncToValidate, FuncValidatorAllocations,
    FunctionBody, OperatorsReader, Parser, Payload, ValidPayload, Validator, ValidatorResources,
    VisitOperator, VisitSimdOperator,
};

use super::Validation;
use super::core::{note_valtypes, proposal_names, proposal_of};

/// Proposals used by code, per module: keyed by the byte offset where the module starts in
/// the file (0 for a top-level module); names as reports show them.
pub type CodeProposals = BTreeMap<usize, Vec<String>>;

type Found = HashMap<usize, BTreeSet<&'static str>>;

/// Validates the whole file and gathers the proposals its function bodies use.
pub fn check(bytes: &[u8]) -> (Validation, CodeProposals) {
    let mut validator = Validator::new_with_features(super::validation_features());
    let mut functions = Vec::new();
    let mut module_start = 0;
    let mut first_error = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                first_error = Some(e);
                break;
            }
        };
        if let Payload::Version {
            encoding: Encoding::Module,
            range,
            ..
        } = &payload
        {
            module_start = range.start;
        }
        // After its first error the validator is not fed again (wasmparser's validator is
        // not meant to go on, and panicked on a later section): the rest is only read, so
        // that the bodies still show their proposals.
        if first_error.is_some() {
            if let Payload::CodeSectionEntry(body) = payload {
                functions.push((module_start, None, body));
            }
            continue;
        }
        match validator.payload(&payload) {
            Ok(ValidPayload::Func(func, body)) => functions.push((module_start, Some(func), body)),
            Ok(_) => {}
            Err(e) => {
                first_error = Some(e);
                if let Payload::CodeSectionEntry(body) = payload {
                    functions.push((module_start, None, body));
                }
            }
        }
    }
    let (body_error, proposals) = check_bodies(functions);
    let error = match (first_error, body_error) {
        (Some(a), Some(b)) => Some(if a.offset() <= b.offset() { a } else { b }),
        (a, b) => a.or(b),
    };
    let validation = match error {
        Some(e) => Validation {
            valid: false,
            error: Some(e.message().to_string()),
            offset: Some(e.offset()),
        },
        None => Validation {
            valid: true,
            error: None,
            offset: None,
        },
    };
    let proposals = proposals
        .into_iter()
        .map(|(module, found)| (module, proposal_names(found)))
        .collect();
    (validation, proposals)
}

type Function<'a> = (
    usize,
    Option<FuncToValidate<ValidatorResources>>,
    FunctionBody<'a>,
);

/// Splits the bodies over the cores; returns the first error (by offset) and the proposals.
fn check_bodies(functions: Vec<Function<'_>>) -> (Option<BinaryReaderError>, Found) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = functions.len().div_ceil(threads).max(1);
    let mut chunks: Vec<Vec<_>> = Vec::new();
    let mut functions = functions.into_iter().peekable();
    while functions.peek().is_some() {
        chunks.push(functions.by_ref().take(chunk).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || check_chunk(chunk)))
            .collect();
        let mut first: Option<BinaryReaderError> = None;
        let mut proposals = Found::new();
        for handle in handles {
            let Ok((error, found)) = handle.join() else {
                continue;
            };
            if let Some(e) = error
                && first.as_ref().is_none_or(|f| e.offset() < f.offset())
            {
                first = Some(e);
            }
            for (module, set) in found {
                proposals.entry(module).or_default().extend(set);
            }
        }
        (first, proposals)
    })
}

fn check_chunk(chunk: Vec<Function<'_>>) -> (Option<BinaryReaderError>, Found) {
    let mut allocs = FuncValidatorAllocations::default();
    let mut first_error = None;
    let mut proposals = Found::new();
    for (module, func, body) in chunk {
        let found = proposals.entry(module).or_default();
        // After the first error, bodies are only read for their proposals.
        let func = if first_error.is_none() { func } else { None };
        let mut validator = func.map(|f| f.into_validator(std::mem::take(&mut allocs)));
        let result = check_body(&body, validator.as_mut(), found);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
        if let Some(v) = validator {
            allocs = v.into_allocations();
        }
    }
    (first_error, proposals)
}

/// Reads one body: validates each local and operator when a validator is given, and notes
/// the proposal of each.
fn check_body(
    body: &FunctionBody<'_>,
    mut validator: Option<&mut wasmparser::FuncValidator<ValidatorResources>>,
    found: &mut BTreeSet<&'static str>,
) -> Result<(), BinaryReaderError> {
    let mut reader = body.get_binary_reader();
    reader.set_features(super::validation_features());
    for _ in 0..reader.read_var_u32()? {
        let offset = reader.original_position();
        let count = reader.read()?;
        let ty = reader.read()?;
        note_valtypes(std::iter::once(&ty), found);
        if let Some(v) = validator.as_deref_mut() {
            v.define_locals(offset, count, ty)?;
        }
    }
    match validator {
        Some(v) => {
            while !reader.eof() {
                let offset = reader.original_position();
                let mut visitor = Noting {
                    inner: v.visitor(offset),
                    found: &mut *found,
                };
                reader.visit_operator(&mut visitor)??;
            }
            reader.finish_expression(&v.visitor(reader.original_position()))
        }
        // Only the proposals: decode each operator.
        None => {
            let mut ops = OperatorsReader::new(reader);
            while !ops.eof() {
                let proposal = proposal_of(&ops.read()?);
                if proposal != "mvp" {
                    found.insert(proposal);
                }
            }
            ops.finish()
        }
    }
}

/// A validator's operator visitor that also notes each operator's proposal: validation and
/// the proposal list in one decode.
struct Noting<'f, V> {
    inner: V,
    found: &'f mut BTreeSet<&'static str>,
}

impl<V> Noting<'_, V> {
    #[inline(always)]
    fn note(&mut self, proposal: &'static str, mvp: bool) {
        if !mvp {
            self.found.insert(proposal);
        }
    }
}

/// Whether a proposal name from wasmparser's operator table is the MVP (folds at compile time).
const fn is_mvp(name: &str) -> bool {
    let name = name.as_bytes();
    name.len() == 3 && name[0] == b'm' && name[1] == b'v' && name[2] == b'p'
}

macro_rules! define_noting {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        $(
            fn $visit(&mut self $($(,$arg: $argty)*)?) -> Self::Output {
                const MVP: bool = is_mvp(stringify!($proposal));
                self.note(stringify!($proposal), MVP);
                self.inner.$visit($($($arg),*)?)
            }
        )*
    };
}

macro_rules! define_noting_simd {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        $(
            fn $visit(&mut self $($(,$arg: $argty)*)?) -> Self::Output {
                self.note(stringify!($proposal), false);
                match self.inner.simd_visitor() {
                    Some(simd) => simd.$visit($($($arg),*)?),
                    // `simd_visitor` below hands out this visitor only when the inner one has
                    // SIMD support.
                    None => unreachable!("SIMD operator without a SIMD visitor"),
                }
            }
        )*
    };
}

impl<'a, V: VisitOperator<'a>> VisitOperator<'a> for Noting<'_, V> {
    type Output = V::Output;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        if self.inner.simd_visitor().is_some() {
            Some(self)
        } else {
            None
        }
    }

    wasmparser::for_each_visit_operator!(define_noting);
}

impl<'a, V: VisitOperator<'a>> VisitSimdOperator<'a> for Noting<'_, V> {
    wasmparser::for_each_visit_simd_operator!(define_noting_simd);
}

impl<V: FrameStack> FrameStack for Noting<'_, V> {
    fn current_frame(&self) -> Option<wasmparser::FrameKind> {
        self.inner.current_frame()
    }
}
