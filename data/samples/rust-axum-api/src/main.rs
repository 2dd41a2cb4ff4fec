use axum::{extract::Path, routing::get, Router};

async fn greet(Path(name): Path<String>) -> String {
    format!("Hello, {name}!")
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/greet/:name", get(greet));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await.expect("bind 0.0.0.0:3000");
    axum::serve(listener, app).await.expect("serve");
}
