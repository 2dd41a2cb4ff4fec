//! Training on a tiny model the test writes: what the loss covers, that accumulation is a
//! token-weighted large batch, that only the adapters train, that the loss falls, that bf16
//! compute trains like f32, and that an interrupt stops a run with a checkpoint.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{DType, FloatDType, Tensor};
use codi_model::{Tokenizer, cpu};
use codi_train::{ComputeDtype, Dataset, Encoding, Event, ResumeFrom, Stop, Style, Trainer};

/// Every step's loss, and the validation loss before the first step and after the last.
fn train_to_the_end(trainer: &mut Trainer) -> (Vec<f64>, f64, f64) {
    let first_val = trainer.evaluate().expect("val loss");
    let mut losses = Vec::new();
    while !trainer.is_done() {
        losses.push(trainer.step().loss);
    }
    (losses, first_val, trainer.evaluate().expect("val loss"))
}

#[test]
fn the_loss_covers_the_assistant_turn_and_its_eos_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = support::write_tiny_model(dir.path(), 1);
    let tokenizer = Tokenizer::from_dir(&model).expect("tokenizer");
    let rows = support::pairs(3, 5);
    let tasks = ["rewrite".to_owned(), "explain".to_owned()];
    let encoding = Encoding { tokenizer: &tokenizer, style: Style::Chat, tasks: &tasks, max_seq_length: 4096 };
    let data = Dataset::from_rows(&rows, &encoding);
    let batch = data.collate(&[0, 1, 2], tokenizer.pad_id());
    let seq = batch.ids[0].len();
    for (row, example) in data.examples.iter().enumerate() {
        let answer = rows[row].output.clone();
        let mut expected = tokenizer.encode(&answer).expect("encode");
        expected.push(tokenizer.eos_ids()[0]);
        assert_eq!(example.ids[example.completion_start..], expected, "row {row}: the completion is the answer + EOS");
        let targets: Vec<u32> = batch
            .positions
            .iter()
            .zip(&batch.targets)
            .filter(|(p, _)| usize::try_from(**p).expect("position") / seq == row)
            .map(|(_, &t)| u32::try_from(t).expect("token id"))
            .collect();
        assert_eq!(targets, expected, "row {row}: scored tokens");
        let padding = batch.valid[row].iter().filter(|v| !**v).count();
        assert_eq!(padding, seq - example.ids.len());
    }
}

#[test]
fn rows_are_kept_filtered_truncated_or_rejected_and_the_counts_reconcile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokenizer = Tokenizer::from_dir(&support::write_tiny_model(dir.path(), 1)).expect("tokenizer");
    let mut rows = support::pairs(8, 3);
    rows[0].chat = "not json".into();
    rows[1].chat = r#"[{"role":"user","content":"hi"}]"#.into();
    let tasks = ["rewrite".to_owned()];
    let length = |max_seq_length| {
        let encoding = Encoding { tokenizer: &tokenizer, style: Style::Chat, tasks: &tasks, max_seq_length };
        Dataset::from_rows(&rows, &encoding).stats
    };
    let stats = length(4096);
    let reasons: Vec<&str> = stats.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["invalid-chat-json", "no-assistant-turn"]);
    assert_eq!(stats.filtered_by_task, 2, "rows 3 and 7 are `explain`");
    assert_eq!(stats.rows, stats.kept + stats.filtered_by_task + stats.rejected.len());
    assert_eq!(stats.truncated, 0);
    // Prompts are 79–83 tokens and whole examples at least 109: at 100 every completion is cut,
    // at 30 no prompt fits.
    assert_eq!(length(100).truncated, stats.kept);
    let short = length(30);
    assert_eq!(short.kept, 0);
    assert!(short.rejected.iter().skip(2).all(|r| r.reason == "prompt-exceeds-max-seq-length"));
}

#[test]
fn accumulating_two_batches_is_one_batch_of_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::setup(dir.path());
    config.lora.dropout = 0.0;
    config.training.max_steps = 1;
    let (mut accumulated, mut large) = (config.clone(), config);
    (accumulated.training.batch_size, accumulated.training.gradient_accumulation) = (1, 2);
    (large.training.batch_size, large.training.gradient_accumulation) = (2, 1);
    let mut a = Trainer::from_config(accumulated, cpu()).expect("trainer");
    let mut b = Trainer::from_config(large, cpu()).expect("trainer");
    let (ra, rb) = (a.step(), b.step());
    assert_eq!(ra.label_tokens, rb.label_tokens);
    assert!((ra.loss - rb.loss).abs() < 1e-5, "{} vs {}", ra.loss, rb.loss);
    assert!((ra.grad_norm - rb.grad_norm).abs() < 1e-5 * rb.grad_norm.max(1.0));
    for (pa, pb) in a.parameters().into_iter().zip(b.parameters()) {
        let difference = (pa - pb).abs().max().into_scalar::<f32>();
        assert!(difference < 1e-6, "parameters differ by {difference}");
    }
}

#[test]
fn the_loss_falls_and_only_the_adapters_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::setup(dir.path());
    let mut trainer = Trainer::from_config(config, cpu()).expect("trainer");
    let base_weight = |t: &Trainer| t.inference_model().layers[0].self_attn.q_proj.weight(&cpu()).into_data();
    let base_before = base_weight(&trainer);
    let (losses, first_val, last_val) = train_to_the_end(&mut trainer);
    eprintln!("train losses {losses:.3?}\nval {first_val:.4} → {last_val:.4}");
    assert!(last_val < first_val * 0.8, "val loss {first_val} → {last_val}");
    assert_eq!(base_before, base_weight(&trainer), "the frozen base changed");
    assert_eq!(trainer.parameters().len(), 2 * 7 * support::LAYERS);
}

#[test]
fn gradient_checkpointing_changes_memory_not_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::setup(dir.path());
    config.training.max_steps = 3;
    // Dropout draws from the process-wide generator, which other tests in this binary share.
    config.lora.dropout = 0.0;
    let losses = |checkpointing: bool| {
        let mut config = config.clone();
        config.training.gradient_checkpointing = checkpointing;
        let mut trainer = Trainer::from_config(config, cpu()).expect("trainer");
        (0..3).map(|_| trainer.step().loss).collect::<Vec<_>>()
    };
    let (plain, checkpointed) = (losses(false), losses(true));
    for (a, b) in plain.iter().zip(&checkpointed) {
        assert!((a - b).abs() < 1e-5, "{plain:?} vs {checkpointed:?}");
    }
}

#[test]
fn bf16_compute_trains_like_f32_and_keeps_f32_masters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::setup(dir.path());
    config.lora.dropout = 0.0;
    let run = |dtype: ComputeDtype| {
        let mut config = config.clone();
        config.quantization.compute_dtype = dtype;
        let mut trainer = Trainer::from_config(config, cpu()).expect("trainer");
        let (losses, first_val, last_val) = train_to_the_end(&mut trainer);
        let dtypes: Vec<DType> = trainer.parameters().iter().map(Tensor::dtype).collect();
        (losses, first_val, last_val, dtypes, trainer.plan().compute_dtype)
    };
    let (f32_losses, f32_first, f32_last, _, f32_dtype) = run(ComputeDtype::F32);
    let (bf16_losses, bf16_first, bf16_last, bf16_masters, bf16_dtype) = run(ComputeDtype::Bf16);
    eprintln!("f32  {f32_losses:.3?} val {f32_first:.4} → {f32_last:.4}");
    eprintln!("bf16 {bf16_losses:.3?} val {bf16_first:.4} → {bf16_last:.4}");
    assert_eq!((f32_dtype, bf16_dtype), (FloatDType::F32, FloatDType::BF16));
    assert!(bf16_masters.iter().all(|&d| d == DType::F32), "adapter masters must stay f32: {bf16_masters:?}");
    // Same start up to bf16 rounding, a different path after it, the same destination.
    let first = (bf16_losses[0] - f32_losses[0]).abs() / f32_losses[0];
    assert!(first > 1e-6 && first < 2e-2, "step-1 loss: bf16 {} vs f32 {}", bf16_losses[0], f32_losses[0]);
    assert!(bf16_last < bf16_first * 0.8, "bf16 val loss {bf16_first} → {bf16_last}");
    assert!((bf16_last - f32_last).abs() < 0.1 * f32_last, "final val loss: bf16 {bf16_last} vs f32 {f32_last}");
}

#[test]
fn an_interrupt_finishes_the_step_checkpoints_and_the_run_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::setup(dir.path());
    config.lora.dropout = 0.0;
    let interrupt = AtomicBool::new(false);
    let mut trainer = Trainer::from_config(config.clone(), cpu()).expect("trainer");
    // Set as step 2 ends, as the signal handler would while it runs.
    let report = trainer
        .run(None, &interrupt, &mut |event| {
            if let Event::Step(step) = event
                && step.step == 2
            {
                interrupt.store(true, Ordering::SeqCst);
            }
        })
        .expect("run");
    assert_eq!((report.stop, report.steps.len(), trainer.state().step), (Stop::Interrupted, 2, 2));
    let checkpoint = report.checkpoint.expect("a checkpoint of step 2");
    assert!(checkpoint.ends_with("checkpoint-000002"), "{}", checkpoint.display());
    assert!(trainer.state().val_losses.iter().all(|&(step, _)| step != 2), "no evaluation delays the stop");

    let mut resumed = Trainer::from_config(config, cpu()).expect("trainer");
    assert_eq!(resumed.resume(&ResumeFrom::Latest).expect("resume"), checkpoint);
    let rest = resumed.run(None, &AtomicBool::new(false), &mut |_| {}).expect("run");
    assert_eq!((rest.stop, rest.steps.first().map(|s| s.step)), (Stop::Done, Some(3)));
    assert_eq!(resumed.state().step, resumed.total_steps());
}
