//! Static sites: plain HTML (no package.json to build), and where its index.html is.

use super::Facts;
use crate::analysis::Stack;
use crate::project::Project;

impl Facts {
    pub(super) fn detect_static_site(&mut self, project: &Project) {
        if self.stack != Some(Stack::Static) || project.has_file("package.json") {
            return;
        }
        self.features.insert("static:plain".into());
        let index =
            project.files.paths.iter().filter(|p| p.ends_with("index.html")).min_by_key(|p| p.matches('/').count());
        if let Some(index) = index {
            let dir = index.rsplit_once('/').map_or(".", |(dir, _)| dir);
            self.set("site_dir", dir, "the location of index.html");
        }
    }
}
