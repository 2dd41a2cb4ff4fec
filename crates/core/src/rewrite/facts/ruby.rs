//! Ruby: the Ruby version, gems built against system libraries, Rails' writable directories.

use super::{Facts, SYSTEM_LIBS, base_tag_version, leading_version, minor};
use crate::analysis::Analysis;
use crate::project::Project;

impl Facts {
    pub(super) fn detect_ruby(&mut self, project: &Project, analysis: &Analysis) {
        let ruby = project.manifest(".ruby-version").and_then(leading_version).or_else(|| {
            project
                .manifest("Gemfile")
                .and_then(|t| t.lines().find_map(|l| l.trim().strip_prefix("ruby ")).and_then(leading_version))
        });
        self.set_if_absent("ruby_version", ruby.map(|v| minor(&v)), ".ruby-version or Gemfile");
        self.set_if_absent(
            "ruby_version",
            base_tag_version(analysis, &["ruby"]).map(|v| minor(&v)),
            "the original base image",
        );
        let gems_needing_libs = ["pg", "mysql2", "rmagick", "mini_magick"];
        let gemfile = project.manifest("Gemfile").unwrap_or_default();
        if gemfile.lines().any(|l| {
            gems_needing_libs
                .iter()
                .any(|g| l.trim().starts_with(&format!("gem \"{g}\"")) || l.trim().starts_with(&format!("gem '{g}'")))
        }) {
            self.features.insert(SYSTEM_LIBS.into());
        }
        if project.has_file("config/application.rb") {
            self.set("writable_dirs", vec!["tmp", "log", "storage", "db"], "the framework's writable directories");
        }
    }
}
