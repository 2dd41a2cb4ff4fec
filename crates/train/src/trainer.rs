//! The training loop: frozen (packed) base, LoRA on the target layers, loss on completion tokens,
//! gradient accumulation over a token-weighted window, global-norm clipping, AdamW with warmup
//! and decay, validation loss. Everything random is a function of the seed and the position in
//! the run, so a resumed run continues exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, FloatDType, Int, Tensor, TensorData};
use codi_model::adapter::peft_key;
use codi_model::{KvCache, Lora, Model, Tokenizer, Transformer, linear_layers_mut};
use serde::{Deserialize, Serialize};

use crate::config::{ComputeDtype, TrainConfig};
use crate::data::{Batch, DataStats, Dataset, Encoding};
use crate::optim::{AdamW, Schedule, clip_factor};

/// Where a run stands; with the seed, this is all the state besides weights and moments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps done.
    pub step: usize,
    pub epoch: usize,
    /// The next batch of `epoch`'s order.
    pub batch_in_epoch: usize,
    /// Micro-batches run; each seeds its dropout masks from the run seed and this count.
    pub micro_steps: u64,
    pub tokens: u64,
    /// Seconds spent in optimizer steps (evaluation and checkpoints excluded).
    pub seconds: f64,
    /// (step, mean training loss) of every step: the curve survives resuming.
    pub losses: Vec<(usize, f64)>,
    /// (step, validation loss) of every evaluation, one per step.
    pub val_losses: Vec<(usize, f64)>,
    /// The lowest validation loss of a saved checkpoint.
    pub best: Option<(usize, f64)>,
}

impl TrainState {
    /// The latest validation loss and the step it was measured at.
    pub fn val_loss(&self) -> Option<(usize, f64)> {
        self.val_losses.last().copied()
    }

    /// Mean training loss over the last `n` steps.
    pub fn train_loss(&self, n: usize) -> Option<f64> {
        let tail = &self.losses[self.losses.len().saturating_sub(n)..];
        (!tail.is_empty()).then(|| tail.iter().map(|(_, loss)| loss).sum::<f64>() / tail.len() as f64)
    }

    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepReport {
    pub step: usize,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// Mean loss per completion token over the accumulation window.
    pub loss: f64,
    pub lr: f64,
    /// Before clipping.
    pub grad_norm: f64,
    pub tokens: usize,
    pub label_tokens: usize,
    pub seconds: f64,
}

#[derive(Debug)]
pub struct Trainer {
    /// On the training device (autodiff; gradient checkpointing when configured).
    pub(crate) model: Transformer,
    tokenizer: Tokenizer,
    /// The base model's GGUF file or directory, and its Hugging Face repo when known.
    pub(crate) source: PathBuf,
    pub(crate) repo: Option<String>,
    pub(crate) config: TrainConfig,
    pub(crate) train: Dataset,
    val: Dataset,
    pub(crate) schedule: Schedule,
    pub(crate) optimizer: AdamW,
    pub(crate) state: TrainState,
    /// HF module paths of the adapted layers, in parameter order.
    modules: Vec<String>,
    epoch_order: Option<(usize, Vec<Vec<usize>>)>,
}

/// What a run will do, known before it starts (what `--dry-run` prints).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub train: DataStats,
    pub val: DataStats,
    pub memory: MemoryEstimate,
    pub adapted_layers: usize,
    /// LoRA A and B values, all f32.
    pub trainable_parameters: usize,
    pub compute_dtype: FloatDType,
    pub total_steps: usize,
    pub steps_per_epoch: usize,
}

impl Trainer {
    /// Attaches fresh adapters (PEFT's initialization, seeded, f32) to `model`, which must live
    /// on an autodiff device, and sets its compute dtype as configured for that device.
    pub fn new(model: Model, mut config: TrainConfig, train: Dataset, val: Dataset) -> crate::Result<Self> {
        let Model { transformer: mut model, tokenizer, source, repo } = model;
        let device = model.device();
        assert!(device.is_autodiff(), "the trainer needs an autodiff device");
        model.compute_dtype = config.quantization.compute_dtype.resolve(&device)?;
        // The configuration records what runs (metadata, model card, fingerprint), not `auto`.
        config.quantization.compute_dtype =
            if model.compute_dtype == FloatDType::BF16 { ComputeDtype::Bf16 } else { ComputeDtype::F32 };
        let lora = &config.lora;
        let mut rng = codi_model::SplitMix64(config.training.seed);
        let (mut modules, mut parameters) = (Vec::new(), Vec::new());
        for (module, linear) in linear_layers_mut(&mut model) {
            if lora.target_modules.iter().any(|t| module.ends_with(&format!(".{t}"))) {
                let [out_features, in_features] = linear.shape();
                let adapter =
                    Lora::init(in_features, out_features, lora.r, lora.alpha, lora.dropout, &mut rng, &device);
                parameters.extend([adapter.a.val().inner(), adapter.b.val().inner()]);
                linear.lora = Some(adapter);
                modules.push(module);
            }
        }
        let total = config.total_steps(train.batches_per_epoch(config.training.batch_size));
        let t = &config.training;
        let schedule = Schedule::new(t.lr_scheduler, t.learning_rate, t.warmup_ratio, total);
        Ok(Self {
            model,
            tokenizer,
            source,
            repo,
            optimizer: AdamW::new(t.weight_decay, &parameters),
            config,
            train,
            val,
            schedule,
            state: TrainState::default(),
            modules,
            epoch_order: None,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// The base model's GGUF file or directory.
    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn total_steps(&self) -> usize {
        self.schedule.total
    }

    pub fn is_done(&self) -> bool {
        self.state.step >= self.schedule.total
    }

    pub fn plan(&mut self) -> Plan {
        let steps_per_epoch =
            self.config.steps_per_epoch(self.train.batches_per_epoch(self.config.training.batch_size));
        Plan {
            train: self.train.stats.clone(),
            val: self.val.stats.clone(),
            memory: self.memory_estimate(),
            adapted_layers: self.modules.len(),
            trainable_parameters: self.parameters().iter().map(|p| p.dims().iter().product::<usize>()).sum(),
            compute_dtype: self.model.compute_dtype,
            total_steps: self.total_steps(),
            steps_per_epoch,
        }
    }

    /// The adapters' A and B of every adapted layer, in order (inner, gradient-free tensors).
    pub fn parameters(&mut self) -> Vec<Tensor<2>> {
        self.loras().into_iter().flat_map(|lora| [lora.a.val().inner(), lora.b.val().inner()]).collect()
    }

    /// PEFT names of [`Self::parameters`].
    pub(crate) fn parameter_names(&self) -> Vec<String> {
        self.modules.iter().flat_map(|m| ["lora_A", "lora_B"].map(|part| peft_key(m, part))).collect()
    }

    /// Replaces the adapters' weights (in [`Self::parameters`] order).
    pub(crate) fn set_parameters(&mut self, values: Vec<Tensor<2>>) {
        // New graph leaves must share the device's checkpointing strategy with the rest.
        let strategy = self.model.device().gradient_checkpointing_strategy();
        let mut values = values.into_iter();
        for lora in self.loras() {
            for param in [&mut lora.a, &mut lora.b] {
                let value = Tensor::from_inner(values.next().expect("one value per parameter"));
                let value = match strategy {
                    Some(strategy) => value.with_gradient_checkpointing_strategy(strategy),
                    None => value,
                };
                *param = Param::from_tensor(value);
            }
        }
    }

    /// The adapters, in [`Self::modules`] order (only adapted layers carry one).
    fn loras(&mut self) -> Vec<&mut Lora> {
        linear_layers_mut(&mut self.model).into_iter().filter_map(|(_, linear)| linear.lora.as_mut()).collect()
    }

    /// The next accumulation window: up to `gradient_accumulation` batches, never crossing
    /// the end of an epoch (the last window of an epoch may be shorter).
    fn next_window(&mut self) -> Vec<Vec<usize>> {
        let t = &self.config.training;
        let epoch = self.state.epoch;
        if self.epoch_order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.epoch_order = Some((epoch, self.train.epoch_batches(t.batch_size, t.seed, epoch)));
        }
        let batches = &self.epoch_order.as_ref().expect("order of this epoch").1;
        let start = self.state.batch_in_epoch;
        let end = (start + t.gradient_accumulation).min(batches.len());
        let window = batches[start..end].to_vec();
        if end == batches.len() {
            self.state.epoch += 1;
            self.state.batch_in_epoch = 0;
        } else {
            self.state.batch_in_epoch = end;
        }
        window
    }

    /// One optimizer step.
    pub fn step(&mut self) -> StepReport {
        let started = Instant::now();
        let device = self.model.device();
        let pad = self.tokenizer.pad_id();
        let window: Vec<Batch> = self.next_window().iter().map(|indices| self.train.collate(indices, pad)).collect();
        let label_tokens: usize = window.iter().map(|b| b.targets.len()).sum();
        let tokens: usize = window.iter().map(|b| b.tokens).sum();
        let mut accumulated: Option<Vec<Tensor<2>>> = None;
        let mut nll_total = 0.0;
        for batch in &window {
            device.seed(dropout_seed(self.config.training.seed, self.state.micro_steps));
            self.state.micro_steps += 1;
            let nll = nll_sum(&self.model, batch);
            nll_total += nll.clone().inner().into_scalar::<f64>();
            let gradients = nll.div_scalar(label_tokens.max(1) as f64).backward();
            let grads: Vec<Tensor<2>> = self
                .loras()
                .into_iter()
                .flat_map(|lora| [&lora.a, &lora.b].map(|p| p.val().grad(&gradients).expect("a LoRA gradient")))
                .collect();
            accumulated = Some(match accumulated {
                None => grads,
                Some(sum) => sum.into_iter().zip(grads).map(|(s, g)| s + g).collect(),
            });
        }
        let gradients = accumulated.expect("a window has at least one batch");
        let (grad_norm, factor) = clip_factor(&gradients, self.config.training.max_grad_norm);
        let gradients =
            if factor < 1.0 { gradients.into_iter().map(|g| g.mul_scalar(factor)).collect() } else { gradients };
        let lr = self.schedule.lr(self.state.step + 1);
        let parameters = self.parameters();
        let updated = self.optimizer.step(lr, parameters, gradients);
        self.set_parameters(updated);
        self.state.step += 1;
        self.state.tokens += tokens as u64;
        let loss = nll_total / label_tokens.max(1) as f64;
        let seconds = started.elapsed().as_secs_f64();
        self.state.seconds += seconds;
        self.state.losses.push((self.state.step, loss));
        let batches_per_epoch = self.train.batches_per_epoch(self.config.training.batch_size).max(1);
        StepReport {
            step: self.state.step,
            epoch: self.state.epoch as f64 + self.state.batch_in_epoch as f64 / batches_per_epoch as f64,
            loss,
            lr,
            grad_norm,
            tokens,
            label_tokens,
            seconds,
        }
    }

    /// The model as trained so far, for inference: no gradient graph, no dropout.
    pub fn inference_model(&self) -> Transformer {
        self.model.valid()
    }

    /// Mean loss per completion token over the validation split (no dropout, no graph).
    pub fn evaluate(&mut self) -> Option<f64> {
        if self.val.examples.is_empty() {
            return None;
        }
        let model = self.inference_model();
        let pad = self.tokenizer.pad_id();
        let (mut nll, mut count) = (0.0, 0);
        for indices in self.val.eval_batches(self.config.training.batch_size) {
            let batch = self.val.collate(&indices, pad);
            nll += nll_sum(&model, &batch).into_scalar::<f64>();
            count += batch.targets.len();
        }
        let loss = nll / count.max(1) as f64;
        let step = self.state.step;
        self.state.val_losses.retain(|&(at, _)| at != step);
        self.state.val_losses.push((step, loss));
        Some(loss)
    }
}

/// The seed of micro-batch `index`'s dropout masks. Dropout draws from the backend's generator,
/// which is process-wide on the CPU: runs that must match draw-for-draw do not share a process.
fn dropout_seed(seed: u64, index: u64) -> u64 {
    let mut rng = codi_model::SplitMix64(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    rng.next_u64()
}

/// Summed negative log-likelihood of `batch`'s targets; the LM head runs only on the scored
/// positions (completion tokens), not on the prompt.
pub fn nll_sum(model: &Transformer, batch: &Batch) -> Tensor<1> {
    let device = model.device();
    let hidden = model.forward(&batch.ids, Some(&batch.valid), &mut KvCache::default());
    let [rows, seq, width] = hidden.dims();
    let n = batch.positions.len();
    let positions = Tensor::<1, Int>::from_data(TensorData::new(batch.positions.clone(), [n]), &device);
    let scored = hidden.reshape([rows * seq, width]).select(0, positions);
    let logits: Tensor<2> = model.logits(scored.unsqueeze::<3>()).reshape([n, model.config.vocab_size]);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(batch.targets.clone(), [n, 1]), &device);
    log_softmax(logits, 1).gather(1, targets).sum().neg()
}

/// The device a run trains on: autodiff over `device`, with gradient checkpointing if asked.
pub fn training_device(device: Device, gradient_checkpointing: bool) -> Device {
    let device = device.autodiff();
    if gradient_checkpointing { device.gradient_checkpointing() } else { device }
}

impl Trainer {
    /// Loads the base model (quantized as configured) onto the training device over `device`,
    /// reads both splits through its tokenizer, and attaches fresh adapters.
    pub fn from_config(config: TrainConfig, device: Device) -> crate::Result<Self> {
        let device = training_device(device, config.training.gradient_checkpointing);
        let model = Model::load(&config.model.base, config.quantization.mode, &device)?;
        let encoding = Encoding {
            tokenizer: &model.tokenizer,
            style: config.data.style,
            tasks: &config.data.tasks,
            max_seq_length: config.training.max_seq_length,
        };
        let train = Dataset::load(&config.data.train, &encoding)?;
        if train.examples.is_empty() {
            return Err(crate::Error::Data {
                path: config.data.train.clone(),
                message: format!("no usable rows ({} read, {} rejected)", train.stats.rows, train.stats.rejected.len()),
            });
        }
        let val = Dataset::load(&config.data.val, &encoding)?;
        Self::new(model, config, train, val)
    }
}

/// Where a run's memory goes, estimated from the shapes and the compute dtype before training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryEstimate {
    /// The frozen base as held (packed blocks or dense).
    pub base: usize,
    /// Each packed matrix decoded (in the compute dtype) for its matmul, kept by the graph for
    /// the backward pass.
    pub decoded_weights: usize,
    /// Adapters, their gradients and accumulated gradients, and AdamW's two moments.
    pub adapters: usize,
    /// Activations the backward pass needs, for the longest batch.
    pub activations: usize,
    /// Logits, log-probabilities and their gradient, at most one row per token.
    pub logits: usize,
}

impl MemoryEstimate {
    pub fn total(&self) -> usize {
        self.base + self.decoded_weights + self.adapters + self.activations + self.logits
    }
}

impl Trainer {
    fn memory_estimate(&mut self) -> MemoryEstimate {
        const F32: usize = 4;
        let compute = DType::from(self.model.compute_dtype).size();
        let c = self.model.config.clone();
        let t = self.config.training.clone();
        let (mut base, mut decoded) = (0, 0);
        for (_, linear) in linear_layers_mut(&mut self.model) {
            let [out, inp] = linear.shape();
            match linear.packed_weight() {
                Some(packed) => {
                    base += packed.bytes();
                    decoded += out * inp * compute;
                }
                None => base += out * inp * F32,
            }
        }
        let embed = self
            .model
            .embed_tokens
            .packed_weight()
            .map_or(c.vocab_size * c.hidden_size * F32, codi_model::PackedWeight::bytes);
        base += embed;
        decoded += c.vocab_size * c.hidden_size * compute;
        let adapter_values: usize = self.parameters().iter().map(|p| p.dims().iter().product::<usize>()).sum();
        let longest = self.train.stats.max_length.min(t.max_seq_length);
        let tokens = t.batch_size * longest;
        // Per token and layer: about a dozen hidden-width tensors (norms, q/k/v/o, residuals,
        // LoRA inputs), five MLP-width ones (gate, up, their activation and product, the down
        // input) in the compute dtype, and the attention scores and probabilities of every head
        // in f32 (softmax runs in f32) over the keys of the query's block: on average half the
        // sequence and half a block.
        let keys = (longest + codi_model::TENSOR_QUERY_BLOCK.min(longest)).div_ceil(2);
        let per_token_layer = (12 * c.hidden_size + 5 * c.intermediate_size) * compute + 2 * c.num_heads * keys * F32;
        let activations = tokens * c.num_layers * per_token_layer;
        MemoryEstimate {
            base,
            decoded_weights: decoded,
            adapters: 5 * adapter_values * F32,
            activations,
            logits: 3 * tokens * c.vocab_size * F32,
        }
    }
}
