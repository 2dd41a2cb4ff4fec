//! `codi generate`: text from a model (default: the embedded SmolLM2), streamed as it comes.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use codi_model::{
    DEFAULT_MODEL, DeviceKind, GenerateOptions, LoadOptions, Message, Model, Quantize, Sampling, generate,
};

/// Loading a model: shared by generate and the model benchmarks.
#[derive(Debug, ClapArgs)]
pub(crate) struct ModelArgs {
    /// A GGUF file, a Hugging Face model directory, or a hub id in the local HF cache.
    #[arg(long, env = "CODI_MODEL", default_value = DEFAULT_MODEL)]
    pub(crate) model: String,
    /// A PEFT LoRA adapter directory to apply (unmerged), verified against the model first.
    #[arg(long)]
    pub(crate) adapter: Option<PathBuf>,
    /// Quantize floating-point weights to NF4 on load.
    #[arg(long)]
    pub(crate) nf4: bool,
    /// Where tensors live: cpu, wgpu or cuda (the GPU ones in builds with that feature).
    #[arg(long, default_value = "cpu")]
    pub(crate) device: DeviceKind,
}

impl ModelArgs {
    pub(crate) fn load(&self) -> Result<Model> {
        self.load_on(self.device.device()?)
    }

    /// Loads onto `device` (a training device, for one), printing the adapter's warnings.
    pub(crate) fn load_on(&self, device: codi_model::Device) -> Result<Model> {
        let options = LoadOptions {
            model: self.model.clone(),
            adapter: self.adapter.clone(),
            quantize: if self.nf4 { Quantize::Nf4 } else { Quantize::AsStored },
            device,
        };
        let loaded = codi_model::load(&options).with_context(|| match &self.adapter {
            Some(adapter) => format!("loading {} with the adapter {}", self.model, adapter.display()),
            None if self.model == DEFAULT_MODEL => "loading the default model (fetch it with `make model`)".to_owned(),
            None => format!("loading {}", self.model),
        })?;
        for warning in loaded.adapter.iter().flat_map(|a| &a.warnings) {
            anstream::eprintln!("warning: {warning}");
        }
        Ok(loaded.model)
    }
}

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Raw text to continue (no chat template).
    #[arg(long, conflicts_with = "chat", required_unless_present = "chat")]
    prompt: Option<String>,
    /// A user message, rendered with the model's chat template.
    #[arg(long)]
    chat: Option<String>,
    /// A system message for --chat (otherwise the template's default, if any).
    #[arg(long, requires = "chat")]
    system: Option<String>,
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when the output contains this (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Keep going past the end-of-sequence token.
    #[arg(long)]
    ignore_eos: bool,
    /// Print one JSON object at the end instead of streaming text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.top_p) || args.temperature < 0.0 {
        bail!("--top-p must be in [0, 1] and --temperature ≥ 0");
    }
    let model = args.model.load()?;
    let text = match (&args.prompt, &args.chat) {
        (Some(prompt), _) => prompt.clone(),
        (None, Some(user)) => {
            let mut messages = Vec::new();
            if let Some(system) = &args.system {
                messages.push(Message::new("system", system));
            }
            messages.push(Message::new("user", user));
            model.tokenizer.apply_chat_template(&messages, true)?
        }
        (None, None) => unreachable!("clap requires --prompt or --chat"),
    };
    let prompt = model.tokenizer.encode(&text)?;
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        sampling: Sampling { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p, seed: args.seed },
        stop: args.stop.clone(),
        stop_at_eos: !args.ignore_eos,
        ..GenerateOptions::default()
    };
    let started = Instant::now();
    let mut stdout = std::io::stdout().lock();
    let generation = generate(&model.transformer, &model.tokenizer, &prompt, &options, |piece| {
        if !args.json {
            let _ = write!(stdout, "{piece}");
            let _ = stdout.flush();
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let report = serde_json::json!({
            "model": model.source,
            "prompt_tokens": prompt.len(),
            "completion_tokens": generation.ids.len(),
            "ids": generation.ids,
            "text": generation.text,
            "finish": format!("{:?}", generation.finish).to_lowercase(),
            "seconds": seconds,
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(stdout)?;
        anstream::eprintln!(
            "[{} prompt tokens, {} generated in {seconds:.2} s, finish: {:?}]",
            prompt.len(),
            generation.ids.len(),
            generation.finish
        );
    }
    Ok(ExitCode::SUCCESS)
}
