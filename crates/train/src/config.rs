//! The training configuration (`configs/train/*.yaml`): every field has the default a user of
//! PEFT and the Hugging Face trainer expects, unknown keys are errors, and `--set key=value`
//! overrides are read by the same validating reader as the file.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, FloatDType};
use codi_model::Quantize;
use codi_yaml::{self as yaml, Node, Reader, Value, section};
use serde::Serialize;

use crate::error::{Error, Result};

/// The modules PEFT targets for Llama and Qwen2: every projection of attention and MLP.
pub const ALL_TARGETS: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    pub model: ModelSection,
    pub quantization: QuantizationSection,
    pub lora: LoraSection,
    pub training: TrainingSection,
    pub data: DataSection,
    pub output: OutputSection,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSection {
    /// A GGUF file, a Hugging Face model directory, or a hub id.
    pub base: String,
    pub adapter_name: String,
    pub adapter_version: String,
}

/// The dtype activations are computed in; the adapters' master weights, their gradients and
/// AdamW's moments stay f32 whatever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDtype {
    /// bf16 on a GPU whose backend computes in it, f32 elsewhere (the CPU backend runs bf16
    /// through f32 conversions, slower than f32 itself).
    Auto,
    F32,
    Bf16,
}

impl ComputeDtype {
    /// The dtype for `device`; an explicit `bf16` the device cannot compute in is an error
    /// (Vulkan, for one, only stores and converts it).
    pub fn resolve(self, device: &Device) -> Result<FloatDType> {
        let bf16 = device.supports_dtype(FloatDType::BF16);
        match self {
            Self::F32 => Ok(FloatDType::F32),
            Self::Bf16 if bf16 => Ok(FloatDType::BF16),
            Self::Bf16 => Err(Error::Invalid(format!(
                "quantization.compute_dtype: bf16 has no arithmetic on {:?}; use auto or f32",
                device.clone().inner()
            ))),
            Self::Auto => {
                let cpu = device.clone().inner() == Device::flex();
                Ok(if bf16 && !cpu { FloatDType::BF16 } else { FloatDType::F32 })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantizationSection {
    /// `nf4`: dense weights are quantized to NF4 on load; 4-bit GGUF blocks stay as stored.
    /// `none`: dense weights stay dense (plain LoRA).
    pub mode: Quantize,
    pub double_quant: bool,
    pub compute_dtype: ComputeDtype,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoraSection {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: Vec<String>,
    pub bias: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Cosine,
    Linear,
    Constant,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingSection {
    pub epochs: usize,
    /// Optimizer steps; −1 derives them from `epochs`.
    pub max_steps: i64,
    pub batch_size: usize,
    pub gradient_accumulation: usize,
    pub learning_rate: f64,
    pub lr_scheduler: Scheduler,
    pub warmup_ratio: f64,
    pub optimizer: String,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    pub max_seq_length: usize,
    /// Recompute memory-bound activations in the backward pass instead of keeping them.
    pub gradient_checkpointing: bool,
    pub eval_steps: usize,
    pub save_steps: usize,
    /// Checkpoints kept besides the best one by validation loss.
    pub save_total_limit: usize,
    pub logging_steps: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// The pair's messages through the base model's chat template; loss on the assistant turn.
    Chat,
    /// `<INPUT>…</INPUT><OUTPUT>…</OUTPUT>`; loss on what follows `<OUTPUT>`.
    Instruct,
    /// Pretraining text; loss on every token.
    Raw,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSection {
    pub train: PathBuf,
    pub val: PathBuf,
    /// Tasks to train on (`rewrite`, `rank`, `explain`).
    pub tasks: Vec<String>,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSection {
    /// The adapter is written to `<adapters>/<adapter_name>/`.
    pub adapters: PathBuf,
    /// Checkpoints and logs go to `<runs>/<adapter_name>/`.
    pub runs: PathBuf,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ModelSection {
                base: codi_model::DEFAULT_MODEL.into(),
                adapter_name: "codi-adapter".into(),
                adapter_version: "0.1.0".into(),
            },
            quantization: QuantizationSection {
                mode: Quantize::Nf4,
                double_quant: true,
                compute_dtype: ComputeDtype::Auto,
            },
            lora: LoraSection {
                r: 16,
                alpha: 32.0,
                dropout: 0.05,
                target_modules: ALL_TARGETS.map(str::to_owned).to_vec(),
                bias: "none".into(),
            },
            training: TrainingSection {
                epochs: 3,
                max_steps: -1,
                batch_size: 1,
                gradient_accumulation: 16,
                learning_rate: 2e-4,
                lr_scheduler: Scheduler::Cosine,
                warmup_ratio: 0.05,
                optimizer: "adamw".into(),
                weight_decay: 0.01,
                max_grad_norm: 1.0,
                max_seq_length: 4096,
                gradient_checkpointing: false,
                eval_steps: 50,
                save_steps: 100,
                save_total_limit: 3,
                logging_steps: 10,
                seed: 42,
            },
            data: DataSection {
                train: "data/splits/train.parquet".into(),
                val: "data/splits/val.parquet".into(),
                tasks: ["rewrite", "rank", "explain"].map(str::to_owned).to_vec(),
                style: Style::Chat,
            },
            output: OutputSection { adapters: "models/adapters".into(), runs: "runs/train".into() },
        }
    }
}

impl TrainConfig {
    /// Reads `path`, then applies `overrides` (`section.key=value`, the value in YAML syntax).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path, overrides)
    }

    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self> {
        let fail = |problems| Error::Config { path: path.to_owned(), problems };
        let mut root = yaml::parse(text).map_err(|p| fail(vec![p]))?;
        if root.value == Value::Null {
            root.value = Value::Mapping(Vec::new());
        }
        let mut problems = Vec::new();
        for item in overrides {
            if let Err(problem) = apply_override(&mut root, item) {
                problems.push(problem);
            }
        }
        let mut reader = Reader { problems };
        let config = read(&mut reader, &root);
        if reader.problems.is_empty() { Ok(config) } else { Err(fail(reader.problems)) }
    }

    /// Optimizer steps in a run over `batches_per_epoch` batches.
    pub fn total_steps(&self, batches_per_epoch: usize) -> usize {
        match usize::try_from(self.training.max_steps) {
            Ok(steps) if steps > 0 => steps,
            _ => self.training.epochs * self.steps_per_epoch(batches_per_epoch),
        }
    }

    pub fn steps_per_epoch(&self, batches_per_epoch: usize) -> usize {
        batches_per_epoch.div_ceil(self.training.gradient_accumulation).max(1)
    }

    /// Where this run's checkpoints and logs go.
    pub fn run_dir(&self) -> PathBuf {
        self.output.runs.join(&self.model.adapter_name)
    }

    pub fn adapter_dir(&self) -> PathBuf {
        self.output.adapters.join(&self.model.adapter_name)
    }
}

/// Sets `section.key` to the YAML value after `=`. Override nodes sit on line 0, which problems
/// report as the command line.
fn apply_override(root: &mut Node, item: &str) -> Result<(), yaml::Problem> {
    let problem = |path: &str, message: String| yaml::Problem { path: path.into(), line: 0, column: 0, message };
    let Some((key, text)) = item.split_once('=') else {
        return Err(problem(item, "expected `section.key=value`".into()));
    };
    let mut value = yaml::parse(text).map_err(|p| problem(key, p.message))?;
    at_line_zero(&mut value);
    let mut node = root;
    for part in key.split('.') {
        let Value::Mapping(entries) = &mut node.value else {
            return Err(problem(key, format!("`{part}` is not inside a mapping")));
        };
        let found = entries.iter().position(|(k, _)| matches!(&k.value, Value::Scalar(n, _) if n == part));
        let index = found.unwrap_or_else(|| {
            let scalar = |v: Value| Node { value: v, line: 0, column: 0 };
            entries.push((scalar(Value::Scalar(part.into(), false)), scalar(Value::Mapping(Vec::new()))));
            entries.len() - 1
        });
        node = &mut entries[index].1;
    }
    *node = value;
    Ok(())
}

fn at_line_zero(node: &mut Node) {
    (node.line, node.column) = (0, 0);
    match &mut node.value {
        Value::Sequence(items) => items.iter_mut().for_each(at_line_zero),
        Value::Mapping(entries) => entries.iter_mut().for_each(|(k, v)| {
            at_line_zero(k);
            at_line_zero(v);
        }),
        Value::Null | Value::Scalar(..) => {}
    }
}

fn read(reader: &mut Reader, root: &Node) -> TrainConfig {
    let d = TrainConfig::default();
    let sections = ["model", "quantization", "lora", "training", "data", "output"];
    let root = reader.mapping("", root, &sections, &[]);
    let root = root.as_ref();

    let mut s = section(reader, root, "model", &["base", "adapter_name", "adapter_version"]);
    let model = ModelSection {
        base: s.string("base", &d.model.base),
        adapter_name: s.string("adapter_name", &d.model.adapter_name),
        adapter_version: s.string("adapter_version", &d.model.adapter_version),
    };

    let mut s = section(reader, root, "quantization", &["mode", "double_quant", "compute_dtype"]);
    let quantization = QuantizationSection {
        mode: s.choice("mode", d.quantization.mode, &[("nf4", Quantize::Nf4), ("none", Quantize::AsStored)]),
        double_quant: s.boolean("double_quant", true),
        compute_dtype: s.choice(
            "compute_dtype",
            d.quantization.compute_dtype,
            &[("auto", ComputeDtype::Auto), ("f32", ComputeDtype::F32), ("bf16", ComputeDtype::Bf16)],
        ),
    };
    if !quantization.double_quant
        && let Some((path, node)) = s.node("double_quant")
    {
        s.reader.problem(&path, node, "NF4 scales are always double-quantized (8-bit, per 256 blocks); use true");
    }

    let mut s = section(reader, root, "lora", &["r", "alpha", "dropout", "target_modules", "bias"]);
    let lora = LoraSection {
        r: s.count("r", d.lora.r, 1),
        alpha: s.number("alpha", d.lora.alpha, |n| n > 0.0, "positive"),
        dropout: s.number("dropout", d.lora.dropout, |n| (0.0..1.0).contains(&n), "in [0, 1)"),
        target_modules: s.strings("target_modules", &d.lora.target_modules, &ALL_TARGETS),
        bias: s.choice("bias", "none", &[("none", "none")]).into(),
    };

    let t = &d.training;
    let keys = [
        "epochs",
        "max_steps",
        "batch_size",
        "gradient_accumulation",
        "learning_rate",
        "lr_scheduler",
        "warmup_ratio",
        "optimizer",
        "weight_decay",
        "max_grad_norm",
        "max_seq_length",
        "gradient_checkpointing",
        "eval_steps",
        "save_steps",
        "save_total_limit",
        "logging_steps",
        "seed",
    ];
    let mut s = section(reader, root, "training", &keys);
    let schedulers = [("cosine", Scheduler::Cosine), ("linear", Scheduler::Linear), ("constant", Scheduler::Constant)];
    let training = TrainingSection {
        epochs: s.count("epochs", t.epochs, 1),
        max_steps: s.number(
            "max_steps",
            t.max_steps as f64,
            |n| n.fract() == 0.0 && (n >= 1.0 || (-1.5..-0.5).contains(&n)),
            "−1 or ≥ 1",
        ) as i64,
        batch_size: s.count("batch_size", t.batch_size, 1),
        gradient_accumulation: s.count("gradient_accumulation", t.gradient_accumulation, 1),
        learning_rate: s.number("learning_rate", t.learning_rate, |n| n > 0.0 && n < 1.0, "in (0, 1)"),
        lr_scheduler: s.choice("lr_scheduler", t.lr_scheduler, &schedulers),
        warmup_ratio: s.number("warmup_ratio", t.warmup_ratio, |n| (0.0..1.0).contains(&n), "in [0, 1)"),
        optimizer: s.choice("optimizer", "adamw", &[("adamw", "adamw")]).into(),
        weight_decay: s.number("weight_decay", t.weight_decay, |n| n >= 0.0, "≥ 0"),
        max_grad_norm: s.number("max_grad_norm", t.max_grad_norm, |n| n >= 0.0, "≥ 0 (0 turns clipping off)"),
        max_seq_length: s.count("max_seq_length", t.max_seq_length, 2),
        gradient_checkpointing: s.boolean("gradient_checkpointing", t.gradient_checkpointing),
        eval_steps: s.count("eval_steps", t.eval_steps, 1),
        save_steps: s.count("save_steps", t.save_steps, 1),
        save_total_limit: s.count("save_total_limit", t.save_total_limit, 1),
        logging_steps: s.count("logging_steps", t.logging_steps, 1),
        seed: s.count("seed", t.seed as usize, 0) as u64,
    };

    let mut s = section(reader, root, "data", &["train", "val", "tasks", "style"]);
    let styles = [("chat", Style::Chat), ("instruct", Style::Instruct), ("raw", Style::Raw)];
    let data = DataSection {
        train: s.string("train", &d.data.train.to_string_lossy()).into(),
        val: s.string("val", &d.data.val.to_string_lossy()).into(),
        tasks: s.strings("tasks", &d.data.tasks, &["rewrite", "rank", "explain"]),
        style: s.choice("style", d.data.style, &styles),
    };

    let mut s = section(reader, root, "output", &["adapters", "runs"]);
    let output = OutputSection {
        adapters: s.string("adapters", &d.output.adapters.to_string_lossy()).into(),
        runs: s.string("runs", &d.output.runs.to_string_lossy()).into(),
    };
    TrainConfig { model, quantization, lora, training, data, output }
}
