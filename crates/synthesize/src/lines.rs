//! A Dockerfile as lines, for edits that keep everything they do not touch byte for byte:
//! the variants are the seed's text with a few instructions changed, added or removed.

/// The lines of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lines(pub Vec<String>);

/// An instruction: the line it starts on, its keyword (upper case) and whether it continues
/// onto the next lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub continued: bool,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Self {
        Self(text.lines().map(str::to_owned).collect())
    }

    pub(crate) fn text(&self) -> String {
        let mut text = self.0.join("\n");
        text.push('\n');
        text
    }

    pub(crate) fn instructions(&self) -> Vec<Instruction> {
        let mut out = Vec::new();
        let mut continuing = false;
        for (line, text) in self.0.iter().enumerate() {
            let trimmed = text.trim();
            let starts = !continuing && !trimmed.is_empty() && !trimmed.starts_with('#');
            continuing = (continuing || starts) && trimmed.ends_with('\\');
            if starts {
                let keyword = trimmed.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                out.push(Instruction { line, keyword, continued: continuing });
            }
        }
        out
    }

    /// The one-line instructions with `keyword`.
    pub(crate) fn single(&self, keyword: &str) -> Vec<usize> {
        self.instructions().into_iter().filter(|i| i.keyword == keyword && !i.continued).map(|i| i.line).collect()
    }

    /// What follows the keyword on `line`.
    pub(crate) fn arguments(&self, line: usize) -> &str {
        let text = self.0[line].trim_start();
        text.split_once(char::is_whitespace).map_or("", |(_, rest)| rest.trim())
    }

    /// Each stage as (its FROM line, the line after its last).
    pub(crate) fn stages(&self) -> Vec<(usize, usize)> {
        let froms: Vec<usize> =
            self.instructions().into_iter().filter(|i| i.keyword == "FROM" && !i.continued).map(|i| i.line).collect();
        froms.iter().enumerate().map(|(i, &from)| (from, froms.get(i + 1).copied().unwrap_or(self.0.len()))).collect()
    }
}

/// A FROM instruction's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct From {
    /// `--platform=…` and other flags, as written.
    pub flags: Vec<String>,
    /// The image without its tag (`node`, `mcr.microsoft.com/dotnet/sdk`).
    pub image: String,
    pub tag: Option<String>,
    /// `AS name`, as written.
    pub alias: Option<String>,
}

impl From {
    /// The arguments of a FROM line; `None` for a digest-pinned or variable base, which a
    /// variant keeps as it is.
    pub(crate) fn parse(arguments: &str) -> Option<Self> {
        let mut words = arguments.split_whitespace().peekable();
        let mut flags = Vec::new();
        while let Some(flag) = words.next_if(|w| w.starts_with("--")) {
            flags.push(flag.to_owned());
        }
        let reference = words.next()?;
        if reference.contains(['@', '$']) {
            return None;
        }
        let alias = match (words.next(), words.next()) {
            (Some(keyword), Some(name)) if keyword.eq_ignore_ascii_case("as") => Some(format!("{keyword} {name}")),
            (None, _) => None,
            _ => return None,
        };
        // A colon after the last slash starts the tag (one before it is a registry's port).
        let (image, tag) = match reference.rsplit_once(':') {
            Some((image, tag)) if !tag.contains('/') => (image.to_owned(), Some(tag.to_owned())),
            _ => (reference.to_owned(), None),
        };
        Some(Self { flags, image, tag, alias })
    }

    /// The image's short name: `node`, `sdk` of `mcr.microsoft.com/dotnet/sdk`.
    pub(crate) fn name(&self) -> &str {
        self.image.rsplit('/').next().unwrap_or(&self.image)
    }

    pub(crate) fn render(&self, keyword: &str) -> String {
        let mut words: Vec<String> = vec![keyword.to_owned()];
        words.extend(self.flags.iter().cloned());
        words.push(match &self.tag {
            Some(tag) => format!("{}:{tag}", self.image),
            None => self.image.clone(),
        });
        words.extend(self.alias.iter().cloned());
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_skip_comments_and_continuations() {
        let lines = Lines::new("# c\nFROM node:20 AS deps\nRUN a \\\n  && b\nfrom alpine\nCMD x\n");
        let found: Vec<(usize, String, bool)> =
            lines.instructions().into_iter().map(|i| (i.line, i.keyword, i.continued)).collect();
        let expected = [(1, "FROM", false), (2, "RUN", true), (4, "FROM", false), (5, "CMD", false)];
        assert_eq!(found, expected.map(|(l, k, c)| (l, k.to_owned(), c)));
        assert_eq!(lines.stages(), [(1, 4), (4, 6)]);
        assert_eq!(lines.arguments(1), "node:20 AS deps");
        assert_eq!(lines.text(), "# c\nFROM node:20 AS deps\nRUN a \\\n  && b\nfrom alpine\nCMD x\n");
    }

    #[test]
    fn from_lines_round_trip() {
        for line in [
            "--platform=linux/amd64 node:20-slim AS build",
            "localhost:5000/app",
            "nginx",
            "mcr.microsoft.com/dotnet/sdk:8.0",
        ] {
            let from = From::parse(line).expect(line);
            assert_eq!(from.render("FROM"), format!("FROM {line}"));
        }
        let from = From::parse("localhost:5000/team/app:1.2 as final").expect("parses");
        assert_eq!(
            (from.image.as_str(), from.tag.as_deref(), from.name()),
            ("localhost:5000/team/app", Some("1.2"), "app")
        );
        assert_eq!(From::parse("node@sha256:abc"), None);
        assert_eq!(From::parse("${BASE}"), None);
    }
}
