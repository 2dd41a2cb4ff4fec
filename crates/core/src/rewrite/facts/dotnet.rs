//! .NET: the project file, the assembly name, the target framework's version.

use super::{Facts, xml_value};
use crate::project::Project;

impl Facts {
    pub(super) fn detect_dotnet(&mut self, project: &Project) {
        if let Some((path, text)) =
            project.files.manifests.iter().find(|(p, _)| p.ends_with(".csproj") || p.ends_with(".fsproj"))
        {
            self.set("project_file", path.clone(), "the project file");
            let assembly = xml_value(text, "AssemblyName").unwrap_or_else(|| {
                path.rsplit('/')
                    .next()
                    .unwrap_or(path)
                    .trim_end_matches(".csproj")
                    .trim_end_matches(".fsproj")
                    .to_owned()
            });
            self.set("assembly_name", assembly, "the project file");
            let framework = xml_value(text, "TargetFramework").and_then(|t| t.strip_prefix("net").map(str::to_owned));
            self.set_if_absent("dotnet_version", framework, "TargetFramework");
        }
    }
}
