//! The analyzer: stack detection, the stage graph with variable scoping, and what the container
//! runs.

mod support;

use codi_core::analysis::{Base, Form, Framework, PackageManager, ProjectFiles, Stack, analyze, analyze_project};
use codi_core::syntax::parse;

fn detect(text: &str) -> (Option<Stack>, Option<Framework>, Option<PackageManager>) {
    let s = analyze(&parse(text)).stack;
    (s.stack, s.framework, s.package_manager)
}

#[test]
fn stacks_frameworks_and_package_managers() {
    use Framework::*;
    use PackageManager::*;
    type Expected = (Option<Stack>, Option<Framework>, Option<PackageManager>);
    let cases: &[(&str, Expected)] = &[
        (
            "FROM node:20-alpine\nCOPY package.json yarn.lock ./\nRUN yarn install --frozen-lockfile\nCMD [\"node\", \"index.js\"]",
            (Some(Stack::Node), None, Some(Yarn)),
        ),
        (
            "FROM node:20\nRUN corepack enable && pnpm install\nRUN pnpm next build\nCMD [\"pnpm\", \"next\", \"start\"]",
            (Some(Stack::Node), Some(NextJs), Some(Pnpm)),
        ),
        (
            "FROM python:3.12-slim\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCMD [\"uvicorn\", \"app.main:app\"]",
            (Some(Stack::Python), Some(FastApi), Some(Pip)),
        ),
        (
            "FROM python:3.12\nRUN pip install poetry && poetry install\nCMD [\"gunicorn\", \"mysite.wsgi:application\"]",
            (Some(Stack::Python), Some(Django), Some(Poetry)),
        ),
        (
            "FROM python:3.12\nENV FLASK_APP=app.py\nRUN pip install uv && uv sync\nCMD [\"flask\", \"run\"]",
            (Some(Stack::Python), Some(Flask), Some(Uv)),
        ),
        (
            "FROM maven:3.9-eclipse-temurin-21 AS build\nCOPY pom.xml .\nRUN mvn -B package\nFROM eclipse-temurin:21-jre\nCOPY --from=build /app/target/app.jar /app.jar\nENTRYPOINT [\"java\", \"-cp\", \"app:app/lib/*\", \"org.springframework.boot.loader.launch.JarLauncher\"]",
            (Some(Stack::Java), Some(SpringBoot), Some(Maven)),
        ),
        (
            "FROM gradle:8-jdk21 AS build\nRUN gradle build\nFROM registry.access.redhat.com/ubi9/openjdk-21-runtime\nCOPY --from=build /app/build/quarkus-app/ /deployments/\nCMD [\"java\", \"-jar\", \"/deployments/quarkus-run.jar\"]",
            (Some(Stack::Java), Some(Quarkus), Some(Gradle)),
        ),
        (
            "FROM golang:1.22 AS build\nCOPY go.mod go.sum ./\nRUN go mod download\nRUN go build -o /app\nFROM gcr.io/distroless/static-debian12\nCOPY --from=build /app /app",
            (Some(Stack::Go), None, Some(GoModules)),
        ),
        (
            "FROM rust:1.79 AS build\nCOPY Cargo.toml Cargo.lock ./\nRUN cargo build --release\nFROM debian:12-slim\nCOPY --from=build /target/release/app /app",
            (Some(Stack::Rust), None, Some(Cargo)),
        ),
        (
            "FROM ruby:3.3\nCOPY Gemfile Gemfile.lock ./\nRUN bundle install\nCMD [\"bundle\", \"exec\", \"puma\"]",
            (Some(Stack::Ruby), None, Some(Bundler)),
        ),
        (
            "FROM php:8.3-fpm\nCOPY --from=composer:2 /usr/bin/composer /usr/bin/composer\nRUN composer install --no-dev\nCMD [\"php-fpm\"]",
            (Some(Stack::Php), None, Some(Composer)),
        ),
        (
            "FROM mcr.microsoft.com/dotnet/sdk:8.0 AS build\nCOPY *.csproj .\nRUN dotnet restore\nRUN dotnet publish -c Release -o /app\nFROM mcr.microsoft.com/dotnet/aspnet:8.0\nCOPY --from=build /app .\nENTRYPOINT [\"dotnet\", \"App.dll\"]",
            (Some(Stack::Dotnet), None, Some(Nuget)),
        ),
        (
            "FROM node:20 AS build\nCOPY package.json package-lock.json ./\nRUN npm ci && npm run build\nFROM nginx:1.27-alpine\nCOPY --from=build /app/dist /usr/share/nginx/html",
            (Some(Stack::Static), None, None),
        ),
        ("FROM debian:12\nRUN apt-get update", (None, None, None)),
    ];
    for (text, expected) in cases {
        assert_eq!(&detect(text), expected, "{text}");
    }
}

#[test]
fn confidence_reflects_agreement_of_the_evidence() {
    let clear = analyze(&parse(
        "FROM python:3.12\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCMD [\"python\", \"app.py\"]",
    ))
    .stack;
    let mixed = analyze(&parse("FROM python:3.12\nRUN npm install -g pm2\nCMD [\"python\", \"app.py\"]")).stack;
    assert!(clear.confidence > 0.9, "{}", clear.confidence);
    assert!(mixed.confidence < clear.confidence);
    assert!(clear.evidence.iter().any(|e| e.line == Some(1) && e.signal.contains("python:3.12")));
}

#[test]
fn project_files_decide_the_framework() {
    let file =
        parse("FROM python:3.12-slim\nCOPY . .\nRUN pip install -r requirements.txt\nCMD [\"python\", \"main.py\"]");
    let mut project =
        ProjectFiles { paths: vec!["requirements.txt".into(), "main.py".into()], ..ProjectFiles::default() };
    project.manifests.insert("requirements.txt".into(), "fastapi==0.111.0\nuvicorn[standard]==0.30.1\n".into());
    let stack = analyze_project(&file, &project).stack;
    assert_eq!((stack.stack, stack.framework), (Some(Stack::Python), Some(Framework::FastApi)));
}

#[test]
fn stage_graph_with_scoped_variables_and_inherited_config() {
    let text = r#"ARG GO_VERSION=1.22
ARG RUNTIME=gcr.io/distroless/static-debian12
FROM golang:${GO_VERSION} AS build
ARG GO_VERSION
ENV CGO_ENABLED=0 OUT=/out
WORKDIR /src
RUN go build -o ${OUT}/app
FROM build AS test
RUN go test ./...
FROM ${RUNTIME}:nonroot
COPY --from=build /out/app /app
COPY --from=nginx:1.27 /etc/nginx/mime.types /etc/mime.types
USER 65532
WORKDIR app
ENTRYPOINT ["/app"]
"#;
    let analysis = analyze(&parse(text));
    let [build, test, last] = analysis.stages.as_slice() else { panic!("three stages") };
    assert_eq!((build.name.as_deref(), build.image.as_str()), (Some("build"), "golang:1.22"));
    assert_eq!(build.env.get("OUT").map(String::as_str), Some("/out"));
    assert_eq!(test.base, Base::Stage { index: 0 });
    assert_eq!(test.workdir.as_deref(), Some("/src"), "inherited from build");
    assert_eq!(test.env.get("CGO_ENABLED").map(String::as_str), Some("0"));
    assert_eq!(last.image, "gcr.io/distroless/static-debian12:nonroot");
    assert!(matches!(&last.base, Base::Image { reference } if reference.registry.as_deref() == Some("gcr.io")));
    assert_eq!(last.copies_from.len(), 2);
    assert_eq!(last.copies_from[0], Base::Stage { index: 0 });
    assert!(matches!(&last.copies_from[1], Base::Image { reference } if reference.path == "nginx"));
    assert_eq!(last.user.as_deref(), Some("65532"));
    assert_eq!(last.workdir.as_deref(), Some("app"), "relative to no earlier WORKDIR");
    assert!(analysis.is_multi_stage());
}

#[test]
fn command_analysis() {
    let analysis = analyze(&parse(
        "FROM python:3.12\nENTRYPOINT [\"tini\", \"--\"]\nCMD [\"sh\", \"-c\", \"pip install -r req.txt && python manage.py migrate && ./start.sh & exec gunicorn app.wsgi\"]",
    ));
    let command = analysis.command.expect("a command");
    assert_eq!((command.keyword, command.form), ("ENTRYPOINT", Form::Exec));
    assert_eq!(command.argv[..3], ["tini", "--", "sh"]);
    assert!(command.shell_wrapper, "looked through tini");
    assert_eq!(command.program.as_deref(), Some("gunicorn"), "tini runs sh, which execs gunicorn");
    let analysis = analyze(&parse(
        "FROM python:3.12\nCMD [\"sh\", \"-c\", \"pip install -r req.txt && python manage.py migrate && ./start.sh & exec gunicorn app.wsgi\"]",
    ));
    let command = analysis.command.expect("a command");
    assert!(command.shell_wrapper && command.uses_exec && command.inline_chain);
    assert_eq!(command.program.as_deref(), Some("gunicorn"));
    assert_eq!(command.runtime_installs, ["pip install -r req.txt"]);
    assert_eq!(command.migrations, ["python manage.py migrate"]);
    assert_eq!(command.scripts, ["./start.sh"]);
    assert_eq!(command.background, ["a command ends in `&`"]);
    // ENTRYPOINT in a later stage resets the CMD it inherits.
    let analysis =
        analyze(&parse("FROM alpine:3.20 AS base\nCMD [\"sh\"]\nFROM base\nENTRYPOINT [\"/docker-entrypoint.sh\"]"));
    let command = analysis.command.expect("a command");
    assert_eq!(command.argv, ["/docker-entrypoint.sh"]);
    assert_eq!(command.scripts, ["/docker-entrypoint.sh"]);
}

#[test]
fn corpus_stacks_are_plausible() {
    let Some(dir) = support::corpus_dir() else { return };
    let mut detected = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(dir.join("dockerfiles")).expect("corpus") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("text");
        let stack = analyze(&parse(&text)).stack.stack.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        *detected.entry(stack).or_default() += 1;
    }
    eprintln!("{detected:?}");
    // The corpus README counts python 84, dotnet 63, node 50, java 47 by final base image alone
    // (debian/alpine bases hide more): each known stack is found at least that often, roughly.
    for (stack, at_least) in [("python", 70), ("dotnet", 55), ("node", 40), ("java", 40), ("go", 20), ("rust", 6)] {
        assert!(detected.get(stack).copied().unwrap_or(0) >= at_least, "{stack}: {detected:?}");
    }
}

#[test]
fn a_heredoc_handed_to_the_shell_is_the_script_with_or_without_a_blank_after_the_marker() {
    for text in
        ["FROM alpine:3.20\nRUN <<EOF\napk add curl\nEOF\n", "FROM alpine:3.20\nRUN << EOF sh\napk add curl\nEOF\n"]
    {
        let file = parse(text);
        let script = codi_core::analysis::run_script(&file.instructions[1]).expect("a RUN");
        let names: Vec<&str> = script.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["apk"], "{text}");
    }
    let data = parse("FROM alpine:3.20\nRUN << EOF cat > /etc/motd\napk add curl\nEOF\n");
    let script = codi_core::analysis::run_script(&data.instructions[1]).expect("a RUN");
    assert_eq!(script.commands[0].name, "cat", "the body is data for cat");
}
