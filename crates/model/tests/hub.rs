//! Hub ids: downloaded from a hub (here a local mock server speaking the hub's file protocol:
//! range requests, etag and commit headers) into the cache, then found there offline.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use codi_model::{Hub, ModelLocation, Quantize, cpu, from_hf_dir, resolve_with};
use support::{DIMS, Encoding, reference_logits, tiny, write_hf_dir};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves `files` as `/tiny-org/tiny-qwen/resolve/main/{name}`; records requests.
fn serve(files: Vec<(String, Vec<u8>)>) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicUsize::new(0));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (requests.clone(), paths.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let mut range = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("header");
                if line.trim().is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    let (start, end) = value.trim().split_once('-').expect("range");
                    range = Some((start.parse::<usize>().expect("start"), end.parse::<usize>().ok()));
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
            seen.lock().expect("lock").push(path.clone());
            let name = path.strip_prefix("/tiny-org/tiny-qwen/resolve/main/").unwrap_or_default();
            let response = match files.iter().find(|(n, _)| n == name) {
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                Some((_, body)) => {
                    let (start, end) = range
                        .map_or((0, body.len() - 1), |(s, e)| (s, e.unwrap_or(body.len() - 1).min(body.len() - 1)));
                    let part = &body[start..=end];
                    let etag = format!("{:x}", body.len() * 7919 + body.iter().map(|&b| usize::from(b)).sum::<usize>());
                    let mut r = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\nETag: \"{etag}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
                        part.len(),
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(part);
                    r
                }
            };
            let _ = stream.write_all(&response);
        }
    });
    (address, requests, paths)
}

#[test]
fn a_hub_id_is_downloaded_once_then_found_offline() {
    let tiny = tiny(true, 21);
    let source = tempfile::tempdir().expect("tempdir");
    write_hf_dir(source.path(), &tiny, 2, Encoding::BF16);
    std::fs::write(source.path().join("tokenizer.json"), "{}").expect("tokenizer stand-in");
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(source.path())
        .expect("read dir")
        .map(|e| {
            let path = e.expect("entry").path();
            (path.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&path).expect("read"))
        })
        .collect();
    let (endpoint, requests, paths) = serve(files);
    let cache = tempfile::tempdir().expect("cache");
    let hub = Hub { cache: cache.path().to_owned(), endpoint };

    let ModelLocation::HfDir(dir) = resolve_with("tiny-org/tiny-qwen", &hub).expect("downloaded") else {
        panic!("a model directory")
    };
    assert!(
        dir.starts_with(cache.path().join("models--tiny-org--tiny-qwen/snapshots").join(COMMIT)),
        "{}",
        dir.display()
    );
    let fetched = paths.lock().expect("lock").clone();
    for file in [
        "config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer.json",
    ] {
        assert!(
            fetched.iter().any(|p| p == &format!("/tiny-org/tiny-qwen/resolve/main/{file}")),
            "{file} not fetched: {fetched:?}"
        );
    }
    let model = from_hf_dir(&dir, Quantize::AsStored, &cpu()).expect("load the downloaded model");
    assert_eq!(model.config.vocab_size, DIMS.vocab);
    let mut rounded = tiny.clone();
    rounded.tensors.values_mut().for_each(|(_, v)| v.iter_mut().for_each(|x| *x = half::bf16::from_f32(*x).to_f32()));
    let hidden = model.forward(&[vec![1, 2, 3]], None, &mut codi_model::KvCache::default());
    let logits = model.logits(hidden).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
    let expected = reference_logits(&rounded.config, &rounded.tensors, &[1, 2, 3]);
    let delta =
        logits.iter().zip(expected.iter().flatten()).map(|(&a, b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
    assert!(delta < 1e-4, "max |Δ| {delta}");

    // Now offline: no request reaches the hub.
    let before = requests.load(Ordering::SeqCst);
    assert_eq!(resolve_with("tiny-org/tiny-qwen", &hub).expect("cached"), ModelLocation::HfDir(dir));
    assert_eq!(requests.load(Ordering::SeqCst), before);

    // An id the hub does not have: a clear error naming the cache and the hub.
    let error = resolve_with("tiny-org/missing", &hub).expect_err("404").to_string();
    assert!(error.contains("not in the local Hugging Face cache") && error.contains("config.json"), "{error}");
    let offline = Hub { cache: cache.path().to_owned(), endpoint: "http://127.0.0.1:9".into() };
    let error = resolve_with("tiny-org/other", &offline).expect_err("unreachable").to_string();
    assert!(error.contains("fetching config.json from http://127.0.0.1:9 failed"), "{error}");
}
