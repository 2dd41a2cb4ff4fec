//! codi's rules on what the container runs when it starts, and as whom.

use std::borrow::Cow;

use super::line_span;
use crate::lint::rules::{Check, Sink};
use crate::lint::{Context, Item, declare_rule};

declare_rule! {
    /// ## What it does
    /// Flags a final-stage CMD or ENTRYPOINT whose process is a shell running several commands
    /// (`sh -c "migrate && serve"`, or the same in shell form) without handing over to the
    /// last one with `exec`.
    ///
    /// ## Why it matters
    /// The shell stays PID 1: it does not forward SIGTERM, so `docker stop` waits out its
    /// timeout and kills the application without a graceful shutdown, and zombie processes are
    /// never reaped.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD ["sh", "-c", "python manage.py migrate && gunicorn app.wsgi"]
    /// # after
    /// CMD ["sh", "-c", "python manage.py migrate && exec gunicorn app.wsgi"]
    /// ```
    pub(crate) struct ShellAsPid1 {
        code: "CD002",
        name: "shell-as-pid1",
        hadolint: false,
        severity: Warning,
        category: Correctness,
        message: "The container's main process is a shell running several commands: end the chain with `exec` so the application receives signals",
    }
}

impl Check for ShellAsPid1 {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        if let Some(command) = &cx.analysis().command
            && (command.shell_wrapper || command.form == crate::analysis::Form::Shell)
            && command.inline_chain
            && !command.uses_exec
        {
            sink.report(line_span(cx, command.line));
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a final-stage CMD or ENTRYPOINT that installs packages when the container starts
    /// (`apt-get install`, `pip install`, `npm install` …).
    ///
    /// ## Why it matters
    /// Every start downloads from the network: slow starts, failures when a mirror is down, a
    /// different set of packages in every container, and a package manager (and often root)
    /// needed at run time. Install in the build instead.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// CMD pip install -r requirements.txt && python app.py
    /// # after
    /// RUN pip install --no-cache-dir -r requirements.txt
    /// CMD ["python", "app.py"]
    /// ```
    pub(crate) struct InstallAtStartup {
        code: "CD003",
        name: "install-at-startup",
        hadolint: false,
        severity: Warning,
        category: Reproducibility,
        message: "Packages are installed each time the container starts: install them in a RUN step",
    }
}

impl Check for InstallAtStartup {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        if let Some(command) = &cx.analysis().command
            && let Some(install) = command.runtime_installs.first()
        {
            let message = format!("{} (`{install}`)", Self::META.message);
            sink.report_with(line_span(cx, command.line), Cow::Owned(message));
        }
    }
}

declare_rule! {
    /// ## What it does
    /// Flags a final stage that never sets `USER` (directly or through the stage it builds on),
    /// so the container runs as root. Base images that default to an unprivileged user
    /// (`…:nonroot` distroless tags, Chainguard, Bitnami, `*-unprivileged`) and Windows images
    /// are exempt.
    ///
    /// ## Why it matters
    /// A process running as root in a container is one kernel or runtime bug away from root on
    /// the host, and can rewrite everything in its own image.
    ///
    /// ## Example fix
    /// ```dockerfile
    /// # before
    /// FROM python:3.12-slim
    /// COPY --chown=10001:10001 app/ /app/
    /// CMD ["python", "/app/main.py"]
    /// # after
    /// FROM python:3.12-slim
    /// RUN useradd --uid 10001 --no-create-home app
    /// COPY --chown=10001:10001 app/ /app/
    /// USER 10001
    /// CMD ["python", "/app/main.py"]
    /// ```
    pub(crate) struct MissingUser {
        code: "CD006",
        name: "missing-user",
        hadolint: false,
        severity: Warning,
        category: Security,
        message: "The final stage never sets USER, so the container runs as root",
    }
}

impl Check for MissingUser {
    fn check(&self, cx: &Context<'_>, _: &[Item<'_>], sink: &mut Sink<'_>) {
        let analysis = cx.analysis();
        let (Some(stage), Some(base)) = (analysis.final_stage(), &analysis.base_image) else { return };
        if stage.user.is_none() && !base.runs_unprivileged_by_default() {
            sink.report(line_span(cx, stage.line));
        }
    }
}
